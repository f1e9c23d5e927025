#include "sample/candidates.hpp"

#include "core/error.hpp"
#include "sample/exp.hpp"
#include "sample/row.hpp"

#include <algorithm>
#include <bit>
#include <cmath>
#include <limits>

namespace qwen {

namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();
constexpr size_t kBlock = 256;  // tokens per chunk of a pass: vectorizes, and stays in L1
constexpr size_t kHeapK[] = {64, 512};  // selections tried before bisecting for a mass

// a goes before b: the larger logit, then the lower id.
bool better(const Candidate& a, const Candidate& b) {
    return a.logit > b.logit || (a.logit == b.logit && a.id < b.id);
}

[[noreturn]] void fail_banned() {
    fail(QWEN_ERR_INVALID_ARGUMENT, "every token is banned: all logits are -infinity after the penalties and logit bias");
}

}  // namespace

Candidates::Candidates(uint32_t n_vocab) : n_(n_vocab) {
    copy_.reserve(n_vocab);
    cands_.reserve(n_vocab);
    sel_.reserve(n_vocab);
    keys_.reserve(n_vocab);
    weights_.reserve(n_vocab);
    block_sums_.reserve((n_vocab + kBlock - 1) / kBlock);
}

void Candidates::start(const float* logits) {
    check_logits(logits, n_);
    base_ = logits;
    scale_ = 1.0f;
    dense_ = true;
    sorted_ = false;
    cands_.clear();
}

float* Candidates::writable() {
    if (base_ != copy_.data() || scale_ != 1.0f) {
        copy_.resize(n_);
        for (size_t i = 0; i < n_; ++i) copy_[i] = base_[i] * scale_;
        base_ = copy_.data();
        scale_ = 1.0f;
    }
    return copy_.data();
}

void Candidates::scale(float s) {
    if (dense_) {
        scale_ *= s;
        return;
    }
    for (Candidate& c : cands_) c.logit *= s;
    sorted_ = false;  // rounding may make two logits equal, and then the ids decide
}

float Candidates::max_logit() const {
    float m = -kInf;
    if (dense_) {
        m = max_value(base_, n_) * scale_;  // s > 0 and rounding is monotonic: the largest product
    } else {                                // is the product of the largest
        for (const Candidate& c : cands_) m = std::max(m, c.logit);
    }
    if (m == -kInf) fail_banned();
    if (m == kInf)
        fail(QWEN_ERR_INVALID_ARGUMENT, "a logit overflowed to +infinity (from the temperature, penalties or bias)");
    return m;
}

double Candidates::dense_sum_exp(float ymax) {
    block_sums_.clear();
    double z = 0;
    for (size_t i = 0; i < n_; i += kBlock) {
        block_sums_.push_back(sum_exp(base_ + i, std::min<size_t>(kBlock, n_ - i), scale_, ymax));
        z += block_sums_.back();
    }
    return z;
}

double Candidates::sparse_weights(float ymax) {
    weights_.resize(cands_.size());
    double z = 0;
    for (size_t i = 0; i < cands_.size(); ++i) {
        weights_[i] = exp_nonpositive(cands_[i].logit - ymax);
        z += double(weights_[i]);
    }
    return z;
}

template <class Key>
void Candidates::select(size_t k, Key key) {
    const size_t n = size();
    k = std::min(k, n);
    sel_.clear();
    if (k == 0) return;
    // Otherwise a heap whose front is the worst of the k best so far. The keys of a chunk are computed
    // in one vectorized loop; once the heap is full, a chunk with no key reaching the front's
    // is skipped - nearly all of them, after the first few, for a small k.
    auto cmp = [](const Keyed& a, const Keyed& b) { return a.key > b.key || (a.key == b.key && a.id < b.id); };
    if (k > n / 8) {  // a heap of a large part of the set is slower than sorting all of it
        for (size_t i = 0; i < n; ++i)
            sel_.push_back({key(logit(i)), logit(i), dense_ ? int32_t(i) : cands_[i].id});
        std::sort(sel_.begin(), sel_.end(), cmp);
        sel_.resize(k);
        return;
    }
    float keys[kBlock];
    for (size_t i = 0; i < n; i += kBlock) {
        const size_t len = std::min(kBlock, n - i);
        if (dense_)
            for (size_t j = 0; j < len; ++j) keys[j] = key(base_[i + j] * scale_);
        else
            for (size_t j = 0; j < len; ++j) keys[j] = key(cands_[i + j].logit);
        if (sel_.size() == k) {
            const float worst = sel_.front().key;
            uint32_t any = 0;
            for (size_t j = 0; j < len; ++j) any |= uint32_t(keys[j] >= worst);
            if (!any) continue;
        }
        for (size_t j = 0; j < len; ++j) {
            const Keyed c{keys[j], logit(i + j), dense_ ? int32_t(i + j) : cands_[i + j].id};
            if (sel_.size() < k) {
                sel_.push_back(c);
                std::push_heap(sel_.begin(), sel_.end(), cmp);
            } else if (cmp(c, sel_.front())) {
                std::pop_heap(sel_.begin(), sel_.end(), cmp);
                sel_.back() = c;
                std::push_heap(sel_.begin(), sel_.end(), cmp);
            }
        }
    }
    std::sort_heap(sel_.begin(), sel_.end(), cmp);
}

void Candidates::take_selection(size_t k) {
    cands_.clear();
    for (size_t j = 0; j < k; ++j) cands_.push_back({sel_[j].id, sel_[j].logit});
    dense_ = false;
}

template <class Key>
float Candidates::mass_bound(Key key, float ymax, double target, double& above) {
    const size_t n = size();
    keys_.resize(n);
    weights_.resize(n);
    for (size_t i = 0; i < n; ++i) {
        keys_[i] = key(logit(i));
        weights_[i] = exp_nonpositive(logit(i) - ymax);
    }
    // Floats as unsigned integers in the same order, to bisect over every float in between.
    auto order = [](float f) {
        const uint32_t u = std::bit_cast<uint32_t>(f + 0.0f);  // -0 -> +0
        return u & 0x80000000u ? ~u : u | 0x80000000u;
    };
    auto unorder = [](uint32_t o) { return std::bit_cast<float>(o & 0x80000000u ? o & 0x7FFFFFFFu : ~o); };
    const auto [lowest, highest] = std::minmax_element(keys_.begin(), keys_.end());
    uint32_t lo = order(*lowest), hi = order(*highest);  // mass at *lowest: all of it
    const uint32_t top = hi;
    while (lo < hi) {
        const uint32_t mid = lo + (hi - lo + 1) / 2;
        if (mass_at_least(keys_.data(), weights_.data(), n, unorder(mid)) >= target)
            lo = mid;
        else
            hi = mid - 1;
    }
    above = lo == top ? 0.0 : mass_at_least(keys_.data(), weights_.data(), n, unorder(lo + 1));
    return unorder(lo);
}

void Candidates::top_k(size_t k) {
    if (k >= size()) return;
    if (dense_ || !sorted_) {
        select(k, [](float l) { return l; });
        take_selection(sel_.size());
        sorted_ = true;
    }
    cands_.resize(k);
    // Banned tokens among the k only take room; without them the set may be empty.
    while (!cands_.empty() && cands_.back().logit == -kInf) cands_.pop_back();
    if (cands_.empty()) fail_banned();
}

void Candidates::top_p(double p) {
    const float ymax = max_logit();
    // Keeps token j (in logit order) while the mass before it is below p: the smallest set
    // whose mass reaches p, never empty. Returns 0 if the mass is not reached within [0, n).
    auto cut = [&](auto&& logit_at, size_t n, double z) -> size_t {
        double cum = 0;
        for (size_t j = 0; j < n; ++j) {
            cum += double(exp_nonpositive(logit_at(j) - ymax));
            if (cum >= p * z) return j + 1;
        }
        return 0;
    };
    if (!dense_ && sorted_) {
        const size_t keep = cut([&](size_t j) { return cands_[j].logit; }, cands_.size(), sparse_weights(ymax));
        if (keep) cands_.resize(keep);
        return;
    }
    const double z = dense_ ? dense_sum_exp(ymax) : sparse_weights(ymax);
    auto identity = [](float l) { return l; };
    for (size_t k : kHeapK) {
        select(k, identity);
        const size_t keep = cut([&](size_t j) { return sel_[j].logit; }, sel_.size(), z);
        if (keep || sel_.size() == size()) {
            take_selection(keep ? keep : sel_.size());
            sorted_ = true;
            return;
        }
    }
    // Many tokens are needed (a flat distribution): every logit above the boundary one, and
    // of the logits equal to it, in the current order, those that come before the mass is reached.
    double cum = 0;
    const float bound = mass_bound(identity, ymax, p * z, cum);
    auto keep = [&](size_t i) {
        const float l = logit(i);
        if (l == bound && cum < p * z) {
            cum += double(weights_[i]);
            return true;
        }
        return l > bound;
    };
    if (dense_) {
        cands_.clear();
        for (size_t i = 0; i < n_; ++i)
            if (keep(i)) cands_.push_back({int32_t(i), logit(i)});
        dense_ = false;
    } else {
        size_t out = 0;
        for (size_t i = 0; i < cands_.size(); ++i)
            if (keep(i)) cands_[out++] = cands_[i];
        cands_.resize(out);
    }
    sorted_ = false;
}

void Candidates::min_p(float p) {
    // transformers drops probabilities below p * the largest; the normaliser cancels, so the
    // test is exp(logit - largest) >= p.
    const float ymax = max_logit();
    if (!dense_) {
        std::erase_if(cands_, [&](const Candidate& c) { return !(exp_nonpositive(c.logit - ymax) >= p); });
        return;
    }
    // Dense: a cheap comparison of logits against log(p), with a margin far wider than any
    // rounding of std::log, finds the few tokens that can pass; exp_nonpositive decides.
    const float y_low = float(std::log(double(p))) - 1e-3f;
    cands_.clear();
    for (size_t i = 0; i < n_; i += kBlock) {
        const size_t len = std::min(kBlock, n_ - i);
        uint32_t any = 0;
        for (size_t j = 0; j < len; ++j) any |= uint32_t(base_[i + j] * scale_ - ymax >= y_low);
        if (!any) continue;
        for (size_t j = i; j < i + len; ++j) {
            const float l = base_[j] * scale_;
            if (l - ymax >= y_low && exp_nonpositive(l - ymax) >= p) cands_.push_back({int32_t(j), l});
        }
    }
    dense_ = false;
    sorted_ = false;
}

void Candidates::typical(double mass) {
    // transformers' TypicalLogitsWarper: rank tokens by |-log p - H| (H the entropy), keep
    // them in that order until the mass is reached, plus every token tied with the last one.
    // With y = logit - largest and z = sum e^y: -log p = log z - y and H = log z - E[y], so
    // the rank key is |y - E[y]|, a function of the logit alone.
    const float ymax = max_logit();
    const size_t n = size();
    double z = 0, zy = 0;
    if (dense_) {
        exp_moments(base_, n_, scale_, ymax, z, zy);
    } else {
        for (const Candidate& c : cands_) {
            const float y = c.logit - ymax, e = exp_nonpositive(y);
            z += double(e);
            if (e > 0) zy += double(e) * double(y);
        }
    }
    const double mean = zy / z;
    auto key = [&](float l) { return -float(std::fabs(double(l - ymax) - mean)); };

    float bound = 0;
    bool found = false;
    for (size_t k : kHeapK) {
        select(k, key);
        double cum = 0;
        size_t j = 0;
        while (j < sel_.size() && (cum += double(exp_nonpositive(sel_[j].logit - ymax))) < mass * z) ++j;
        if (j < sel_.size() || sel_.size() == n) {
            bound = sel_[std::min(j, sel_.size() - 1)].key;
            found = true;
            break;
        }
    }
    double above;
    if (!found) bound = mass_bound(key, ymax, mass * z, above);
    // Every token with a key >= bound, in vocabulary (or current) order.
    if (dense_) {
        cands_.clear();
        for (size_t i = 0; i < n_; ++i)
            if (key(logit(i)) >= bound) cands_.push_back({int32_t(i), logit(i)});
        dense_ = false;
    } else {
        std::erase_if(cands_, [&](const Candidate& c) { return !(key(c.logit) >= bound); });
    }
    sorted_ = false;
}

int32_t Candidates::argmax() const {
    const float m = max_logit();
    if (dense_) {
        for (size_t i = 0; i < n_; i += kBlock) {
            const size_t len = std::min(kBlock, n_ - i);
            uint32_t any = 0;
            for (size_t j = i; j < i + len; ++j) any |= uint32_t(base_[j] * scale_ == m);
            if (any)
                for (size_t j = i; j < i + len; ++j)
                    if (base_[j] * scale_ == m) return int32_t(j);
        }
    }
    const Candidate* best = &cands_.front();
    for (const Candidate& c : cands_)
        if (better(c, *best)) best = &c;
    return best->id;
}

int32_t Candidates::draw(double u) {
    // Inverse CDF in the current order. When rounding leaves u * z just past the last partial
    // sum, the last token with a non-zero weight is the one the draw reached.
    const float ymax = max_logit();
    if (!dense_) {
        const double target = u * sparse_weights(ymax);
        double cum = 0;
        size_t last = 0;
        for (size_t i = 0; i < cands_.size(); ++i) {
            if (weights_[i] > 0) last = i;
            cum += double(weights_[i]);
            if (target < cum) return cands_[i].id;
        }
        return cands_[last].id;
    }
    const double target = u * dense_sum_exp(ymax);
    double cum = 0;
    size_t b = 0;
    while (b + 1 < block_sums_.size() && !(target < cum + block_sums_[b])) cum += block_sums_[b++];
    const size_t end = std::min<size_t>(n_, (b + 1) * kBlock);
    size_t last = b * kBlock;
    for (size_t i = b * kBlock; i < end; ++i) {
        const float e = exp_nonpositive(base_[i] * scale_ - ymax);
        if (e > 0) last = i;
        cum += double(e);
        if (target < cum) return int32_t(i);
    }
    return int32_t(last);
}

void Candidates::distribution(std::vector<std::pair<int32_t, float>>& out) {
    const float ymax = max_logit();
    out.clear();
    if (dense_) {
        const double z = dense_sum_exp(ymax);
        for (size_t i = 0; i < n_; ++i)
            if (const float e = exp_nonpositive(base_[i] * scale_ - ymax); e > 0) out.emplace_back(int32_t(i), float(double(e) / z));
    } else {
        const double z = sparse_weights(ymax);
        for (size_t i = 0; i < cands_.size(); ++i)
            if (weights_[i] > 0) out.emplace_back(cands_[i].id, float(double(weights_[i]) / z));
    }
    std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) {
        return a.second > b.second || (a.second == b.second && a.first < b.first);
    });
}

}  // namespace qwen
