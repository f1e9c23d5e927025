// The sampler on a full-size vocabulary (151,936 logits shaped like a model's) against a
// plain reference written from transformers' processors and warpers: doubles, full sorts,
// no selection tricks. It proves the paths that avoid sorting the vocabulary (heap
// selection, growing top-p/typical selections, the dense draw) keep exactly the same tokens.
#include "sample_test_util.hpp"

#include <algorithm>
#include <map>
#include <numeric>

using namespace sampletest;
using qwen::Sampler;
using qwen::SamplerConfig;

namespace {

constexpr size_t kVocab = 151936;
constexpr double kNegInf = -INFINITY;

void softmax(const std::vector<double>& s, std::vector<double>& p) {
    const double m = *std::max_element(s.begin(), s.end());
    double z = 0;
    p.resize(s.size());
    for (size_t i = 0; i < s.size(); ++i) z += p[i] = std::exp(s[i] - m);
    for (double& x : p) x /= z;
}

// Indices sorted by key ascending (stable: equal keys keep id order).
std::vector<size_t> argsort(const std::vector<double>& key) {
    std::vector<size_t> idx(key.size());
    std::iota(idx.begin(), idx.end(), 0);
    std::stable_sort(idx.begin(), idx.end(), [&](size_t a, size_t b) { return key[a] < key[b]; });
    return idx;
}

std::map<int32_t, double> reference(const std::vector<float>& logits, const SamplerConfig& c,
                                    const std::vector<int32_t>& history) {
    std::vector<double> s(logits.begin(), logits.end()), p;
    std::vector<qwen_sampler_stage> order = c.order;
    if (order.empty())
        order = {QWEN_STAGE_PENALTIES, QWEN_STAGE_LOGIT_BIAS, QWEN_STAGE_TEMPERATURE, QWEN_STAGE_TOP_K,
                 QWEN_STAGE_TOP_P,     QWEN_STAGE_MIN_P,      QWEN_STAGE_TYPICAL_P};
    for (auto stage : order) {
        if (stage == QWEN_STAGE_PENALTIES) {
            std::map<int32_t, int> count;
            const size_t from = c.penalty_last_n < 0 ? 0 : history.size() - std::min(history.size(), size_t(c.penalty_last_n));
            for (size_t i = from; i < history.size(); ++i) ++count[history[i]];
            for (auto [t, n] : count) {
                double& x = s[size_t(t)];
                const double r = c.repetition_penalty;
                x = x > 0 ? x / r : x * r;
                x -= n * double(c.frequency_penalty) + double(c.presence_penalty);
            }
        } else if (stage == QWEN_STAGE_LOGIT_BIAS) {
            for (auto b : c.logit_bias) s[size_t(b.token)] += double(b.bias);
        } else if (stage == QWEN_STAGE_TEMPERATURE) {
            for (double& x : s) x /= double(c.temperature);
        } else if (stage == QWEN_STAGE_TOP_K && c.top_k > 0) {  // TopKLogitsWarper
            std::vector<double> sorted = s;
            std::sort(sorted.rbegin(), sorted.rend());
            const double kth = sorted[size_t(c.top_k) - 1];
            for (double& x : s) if (x < kth) x = kNegInf;
        } else if (stage == QWEN_STAGE_TOP_P && c.top_p < 1) {  // TopPLogitsWarper
            softmax(s, p);
            const auto idx = argsort(s);
            double cum = 0;
            for (size_t j = 0; j + 1 < idx.size(); ++j) {  // the most likely one always stays
                cum += p[idx[j]];
                if (cum <= 1 - double(c.top_p)) s[idx[j]] = kNegInf;
            }
        } else if (stage == QWEN_STAGE_MIN_P && c.min_p > 0) {  // MinPLogitsWarper
            softmax(s, p);
            const double top = *std::max_element(p.begin(), p.end());
            for (size_t i = 0; i < s.size(); ++i) if (p[i] < double(c.min_p) * top) s[i] = kNegInf;
        } else if (stage == QWEN_STAGE_TYPICAL_P && c.typical_p < 1) {  // TypicalLogitsWarper
            softmax(s, p);
            double ent = 0;
            for (double x : p) if (x > 0) ent -= x * std::log(x);
            std::vector<double> shifted(s.size());
            for (size_t i = 0; i < s.size(); ++i) shifted[i] = p[i] > 0 ? std::fabs(-std::log(p[i]) - ent) : double(INFINITY);
            const auto idx = argsort(shifted);
            double cum = 0;
            size_t last = 0;
            while (last < idx.size() && (cum += p[idx[last]]) < double(c.typical_p)) ++last;
            last = std::min(last, idx.size() - 1);
            for (size_t j = 1; j < idx.size(); ++j)
                if (shifted[idx[j]] > shifted[idx[last]]) s[idx[j]] = kNegInf;
        }
    }
    softmax(s, p);
    std::map<int32_t, double> out;
    for (size_t i = 0; i < p.size(); ++i) if (p[i] > 0) out[int32_t(i)] = p[i];
    return out;
}

void compare(const SamplerConfig& c, uint64_t seed, size_t n_history = 64) {
    const auto logits = realistic_logits(kVocab, seed);
    qwen::Rng rng(seed + 1);
    std::vector<int32_t> history;
    for (size_t i = 0; i < n_history; ++i) history.push_back(int32_t(rng.next() % kVocab));
    Sampler s(c, kVocab);
    s.accept(history.data(), history.size());
    const Dist got = s.distribution(logits.data(), logits.size());
    const auto want = reference(logits, c, history);
    REQUIRE(got.size() == want.size());
    double worst = 0;
    for (const auto& [id, prob] : got) {
        auto it = want.find(id);
        REQUIRE(it != want.end());
        worst = std::max(worst, std::fabs(double(prob) - it->second) / it->second);
    }
    CHECK(worst < 2e-5);
}

}  // namespace

TEST_CASE("full vocabulary: Qwen's defaults") {
    compare(SamplerConfig{}, 1);
}

TEST_CASE("full vocabulary: top-p alone, growing selections") {
    SamplerConfig c = neutral();
    for (float p : {0.5f, 0.9f, 0.99f}) {
        c.top_p = p;
        compare(c, 2);
    }
    c.temperature = 2.0f;  // flat: thousands of tokens are needed
    c.top_p = 0.9f;
    compare(c, 3);
}

TEST_CASE("full vocabulary: min-p alone, typical-p alone, nothing at all") {
    SamplerConfig c = neutral();
    c.min_p = 0.05f;
    compare(c, 4);
    c = neutral();
    c.typical_p = 0.9f;
    compare(c, 5);
    c.temperature = 1.7f;
    compare(c, 6);
    compare(neutral(), 7);
}

TEST_CASE("full vocabulary: every stage, and other orders") {
    SamplerConfig c;
    c.temperature = 0.8f;
    c.top_k = 100;
    c.top_p = 0.95f;
    c.min_p = 0.02f;
    c.typical_p = 0.95f;
    c.repetition_penalty = 1.2f;
    c.frequency_penalty = 0.1f;
    c.presence_penalty = 0.1f;
    c.penalty_last_n = 32;
    c.logit_bias = {{5, 3.0f}, {77, -INFINITY}, {151935, 12.0f}};
    compare(c, 8, 200);
    // Penalties after the truncation, which then sees the raw logits.
    c.order = {QWEN_STAGE_TOP_K, QWEN_STAGE_PENALTIES, QWEN_STAGE_LOGIT_BIAS, QWEN_STAGE_TEMPERATURE, QWEN_STAGE_TOP_P};
    compare(c, 9, 200);
    // Min-p first leaves an unsorted set for top-p and typical-p.
    c = neutral();
    c.min_p = 0.001f;
    c.top_p = 0.9f;
    c.typical_p = 0.8f;
    c.order = {QWEN_STAGE_MIN_P, QWEN_STAGE_TYPICAL_P, QWEN_STAGE_TOP_P};
    compare(c, 10);
}
