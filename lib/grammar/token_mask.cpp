#include "grammar/token_mask.hpp"

#include "core/error.hpp"
#include "tokenizer/tokenizer.hpp"

#include <algorithm>
#include <cstring>

namespace qwen {

namespace {

// Bounds of the caches (a generation rarely meets this many distinct states; when it does
// they start over): masks are ~19 KB for Qwen's vocabulary (~40 MB), and each interned state
// has a 1 KB transition row (~20 MB).
constexpr size_t kMaxCachedMasks = 2048;
constexpr size_t kMaxStates = 20000;

void set_bit(std::vector<uint64_t>& m, int32_t t) { m[size_t(t) >> 6] |= uint64_t{1} << (t & 63); }

}  // namespace

GrammarVocab::GrammarVocab(const Tokenizer& tokenizer, uint32_t n_vocab) {
    const int32_t n_tok = tokenizer.n_vocab();
    pieces_.resize(n_vocab);
    text_.assign(n_vocab, false);
    for (int32_t id = 0; id < n_tok && uint32_t(id) < n_vocab; ++id) {
        const TokenType type = tokenizer.token_type(id);
        // <tool_call> and friends (UserDefined) are text the grammar spells out.
        if (type != TokenType::Normal && type != TokenType::UserDefined) continue;
        pieces_[size_t(id)] = tokenizer.token_to_piece(id);
        text_[size_t(id)] = !pieces_[size_t(id)].empty();
    }
    for (const char* name : {"<|im_end|>", "<|endoftext|>"})
        if (const int32_t id = tokenizer.token_by_text(name); id >= 0) end_of_turn_.push_back(id);
    end_of_turn_.push_back(tokenizer.special_ids().eos);
    std::erase_if(end_of_turn_, [&](int32_t id) { return id < 0 || uint32_t(id) >= n_vocab; });
    std::sort(end_of_turn_.begin(), end_of_turn_.end());
    end_of_turn_.erase(std::unique(end_of_turn_.begin(), end_of_turn_.end()), end_of_turn_.end());
    index();
}

GrammarVocab::GrammarVocab(std::vector<std::string> pieces, std::vector<int32_t> end_of_turn)
    : pieces_(std::move(pieces)), end_of_turn_(std::move(end_of_turn)) {
    text_.resize(pieces_.size());
    for (size_t i = 0; i < pieces_.size(); ++i) text_[i] = !pieces_[i].empty();
    for (int32_t id : end_of_turn_) {
        if (id < 0 || size_t(id) >= pieces_.size())
            fail(QWEN_ERR_INVALID_ARGUMENT, "end-of-turn token ", id, " is outside the vocabulary");
        text_[size_t(id)] = false;
    }
    std::sort(end_of_turn_.begin(), end_of_turn_.end());
    index();
}

void GrammarVocab::index() {
    for (size_t i = 0; i < pieces_.size(); ++i)
        if (text_[i]) sorted_.push_back(int32_t(i));
    std::sort(sorted_.begin(), sorted_.end(), [&](int32_t a, int32_t b) { return piece(a) < piece(b); });
    lcp_.assign(sorted_.size(), 0);
    for (size_t i = 0; i < sorted_.size(); ++i) {
        const std::string& s = piece(sorted_[i]);
        max_len_ = std::max(max_len_, s.size());
        if (i == 0) continue;
        const std::string& p = piece(sorted_[i - 1]);
        lcp_[i] = uint32_t(std::mismatch(s.begin(), s.begin() + std::ptrdiff_t(std::min(s.size(), p.size())), p.begin()).first -
                           s.begin());
    }
}

bool GrammarVocab::is_end_of_turn(int32_t id) const {
    return std::binary_search(end_of_turn_.begin(), end_of_turn_.end(), id);
}

GrammarConstraint::GrammarConstraint(std::shared_ptr<const Grammar> grammar, std::shared_ptr<const GrammarVocab> vocab)
    : vocab_(std::move(vocab)),
      stepper_(std::move(grammar)),
      fingerprint_(grammar_fingerprint(stepper_.grammar())),
      levels_(vocab_->max_len_ + 1) {
    ended_mask_.assign((vocab_->n_vocab() + 63) / 64, 0);
    for (int32_t id : vocab_->end_of_turn()) set_bit(ended_mask_, id);
    state_ = intern(stepper_.initial());
}

GrammarConstraint::GrammarConstraint(const GrammarConstraint& o)
    : vocab_(o.vocab_),
      stepper_(o.stepper_),
      fingerprint_(o.fingerprint_),
      ended_(o.ended_),
      text_(o.text_),
      ended_mask_(o.ended_mask_),
      levels_(o.levels_.size()) {
    state_ = intern(o.states_[size_t(o.state_)]);
}

int32_t GrammarConstraint::intern(const GrammarState& s) {
    const size_t nb = s.stacks.size() * sizeof(uint32_t);
    key_.resize(nb + sizeof s.partial + 2);
    if (nb) std::memcpy(key_.data(), s.stacks.data(), nb);
    std::memcpy(key_.data() + nb, &s.partial, sizeof s.partial);
    key_[nb + sizeof s.partial] = char(s.left);
    key_[nb + sizeof s.partial + 1] = char(s.length);
    auto [it, inserted] = ids_.try_emplace(key_, int32_t(states_.size()));
    if (inserted) {
        states_.push_back(s);
        next_.emplace_back().fill(-2);
    }
    return it->second;
}

int32_t GrammarConstraint::step(int32_t id, uint8_t b) {
    int32_t& to = next_[size_t(id)][b];
    if (to != -2) return to;
    // intern() may grow next_: write through the index, not the reference.
    const int32_t result = stepper_.advance(states_[size_t(id)], b, scratch_) ? intern(scratch_) : -1;
    next_[size_t(id)][b] = result;
    return result;
}

void GrammarConstraint::compact() {
    if (states_.size() < kMaxStates && masks_.size() < kMaxCachedMasks) return;
    const GrammarState cur = states_[size_t(state_)];
    states_.clear();
    ids_.clear();
    next_.clear();
    masks_.clear();
    current_ = nullptr;
    state_ = intern(cur);
}

void GrammarConstraint::compute(int32_t id, std::vector<uint64_t>& mask) {
    const GrammarVocab& v = *vocab_;
    mask.assign((v.n_vocab() + 63) / 64, 0);
    levels_[0] = id;
    size_t valid = 0;  // levels_[0 .. valid] hold the states of the previous token's prefix
    const size_t n = v.sorted_.size();
    for (size_t i = 0; i < n; ++i) {
        const int32_t t = v.sorted_[i];
        const std::string& bytes = v.piece(t);
        size_t d = std::min<size_t>(v.lcp_[i], valid);
        bool alive = true;
        for (; d < bytes.size(); ++d) {
            const int32_t to = step(levels_[d], uint8_t(bytes[d]));
            if (to < 0) {
                // Every following token that shares bytes[0 .. d] dies the same way.
                while (i + 1 < n && v.lcp_[i + 1] > d) ++i;
                valid = d;
                alive = false;
                break;
            }
            levels_[d + 1] = to;
        }
        if (!alive) continue;
        valid = bytes.size();
        set_bit(mask, t);
    }
    if (GrammarStepper::accepting(states_[size_t(id)]))
        for (int32_t e : v.end_of_turn()) set_bit(mask, e);
}

const std::vector<uint64_t>& GrammarConstraint::mask() {
    if (current_) return *current_;
    if (ended_) return *(current_ = &ended_mask_);
    compact();
    auto it = masks_.find(state_);
    if (it == masks_.end()) {
        std::vector<uint64_t> m;
        compute(state_, m);
        it = masks_.emplace(state_, std::move(m)).first;
    }
    return *(current_ = &it->second);
}

void GrammarConstraint::accept(int32_t token) {
    if (token < 0 || uint32_t(token) >= vocab_->n_vocab())
        fail(QWEN_ERR_INVALID_ARGUMENT, "token ", token, " is outside the vocabulary");
    if (!allowed(token)) fail(QWEN_ERR_INVALID_ARGUMENT, "token ", token, " is not allowed by the grammar here");
    if (vocab_->is_end_of_turn(token)) {
        ended_ = true;
    } else {
        int32_t s = state_;
        for (char c : vocab_->piece(token)) {
            s = step(s, uint8_t(c));
            if (s < 0) fail(QWEN_ERR_INTERNAL, "grammar: token ", token, " was in the mask but its bytes do not match");
        }
        state_ = s;
        text_ += vocab_->piece(token);
    }
    current_ = nullptr;
}

void GrammarConstraint::reset() {
    compact();
    state_ = intern(stepper_.initial());
    ended_ = false;
    text_.clear();
    current_ = nullptr;
}

bool GrammarConstraint::restore(std::string_view text, bool ended) {
    // Through the stepper, not step(): a long text must not fill the transition tables.
    GrammarState s = stepper_.initial(), next;
    for (char c : text) {
        if (!stepper_.advance(s, uint8_t(c), next)) return false;
        std::swap(s, next);
    }
    if (ended && !GrammarStepper::accepting(s)) return false;
    compact();
    state_ = intern(s);
    ended_ = ended;
    text_.assign(text);
    current_ = nullptr;
    return true;
}

}  // namespace qwen
