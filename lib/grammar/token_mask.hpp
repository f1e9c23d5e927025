// Which tokens a grammar allows next. A token is allowed when feeding its bytes keeps a parse
// alive; end-of-turn tokens (<|im_end|>, <|endoftext|>, the EOS) when a parse is complete;
// other control tokens and empty ones never.
//
// The vocabulary is kept sorted by bytes with the common-prefix length of neighbours, an
// implicit byte trie: the walk advances the grammar one byte deeper per step, reuses the
// states of the prefix it shares with the previous token, and skips every token below a byte
// that kills all parses. States met are interned and their transitions memoized per byte (a
// lazily built DFA): a byte inside a JSON string leads back to the same state, so a walk of the
// whole vocabulary is mostly table lookups. Masks are cached per state too: generating a
// string, a number or whitespace comes back to the same state token after token.
#pragma once

#include "grammar/matcher.hpp"

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace qwen {

class Tokenizer;

// The vocabulary as a grammar sees it. Immutable; share it between constraints.
class GrammarVocab {
public:
    // `n_vocab` is the model's (it may exceed the tokenizer's: padding rows are never allowed).
    GrammarVocab(const Tokenizer& tokenizer, uint32_t n_vocab);
    // For tests: the bytes of each token; `end_of_turn` ids are the only non-text tokens.
    GrammarVocab(std::vector<std::string> pieces, std::vector<int32_t> end_of_turn);

    uint32_t n_vocab() const { return uint32_t(pieces_.size()); }
    const std::string& piece(int32_t id) const { return pieces_[size_t(id)]; }
    bool is_text(int32_t id) const { return text_[size_t(id)]; }
    bool is_end_of_turn(int32_t id) const;
    const std::vector<int32_t>& end_of_turn() const { return end_of_turn_; }

private:
    friend class GrammarConstraint;
    void index();

    std::vector<std::string> pieces_;
    std::vector<bool> text_;          // a token the grammar reads as bytes
    std::vector<int32_t> end_of_turn_;
    std::vector<int32_t> sorted_;     // text tokens in byte order
    std::vector<uint32_t> lcp_;       // lcp_[i]: common prefix length of sorted_[i - 1], sorted_[i]
    size_t max_len_ = 0;
};

// A grammar applied to generation: the parse so far, and the mask of its next tokens.
// Not thread-safe.
class GrammarConstraint {
public:
    GrammarConstraint(std::shared_ptr<const Grammar> grammar, std::shared_ptr<const GrammarVocab> vocab);
    // The same parse state; the copy starts with an empty mask cache.
    GrammarConstraint(const GrammarConstraint& other);
    GrammarConstraint& operator=(const GrammarConstraint&) = delete;

    // Bit t of word t / 64: token t may come next. Valid until the next accept()/reset().
    const std::vector<uint64_t>& mask();
    bool allowed(int32_t token) { return (mask()[size_t(token) >> 6] >> (token & 63)) & 1; }
    // Advances the parse by a token; throws Error(QWEN_ERR_INVALID_ARGUMENT) if it is not
    // allowed. After an end-of-turn token only end-of-turn tokens are allowed.
    void accept(int32_t token);
    void reset();
    bool is_accepting() const { return !ended_ && GrammarStepper::accepting(states_[size_t(state_)]); }

    // The progress, as saved state keeps it: the grammar's identity, the bytes accepted since
    // the last reset() and whether an end-of-turn token ended them.
    uint64_t fingerprint() const { return fingerprint_; }
    const std::string& text() const { return text_; }
    bool ended() const { return ended_; }
    // Restarts the parse and feeds it `text` (then ends it if `ended`). False, and nothing
    // changed, if `text` is not a prefix of the grammar's language (or `ended` while
    // the text is incomplete).
    bool restore(std::string_view text, bool ended);

    const GrammarVocab& vocab() const { return *vocab_; }
    size_t cached_masks() const { return masks_.size(); }
    const GrammarState& state() const { return states_[size_t(state_)]; }

private:
    // Interns a state; returns its id.
    int32_t intern(const GrammarState& s);
    // The state after byte b from state `id`, or -1 if no parse survives (memoized).
    int32_t step(int32_t id, uint8_t b);
    // Starts the tables over (they grew too large), keeping the current state.
    void compact();
    void compute(int32_t id, std::vector<uint64_t>& mask);

    std::shared_ptr<const GrammarVocab> vocab_;
    GrammarStepper stepper_;
    uint64_t fingerprint_;
    int32_t state_ = 0;  // the current state's id
    bool ended_ = false;
    std::string text_;  // accepted since the last reset()
    const std::vector<uint64_t>* current_ = nullptr;  // the current state's mask, once known
    std::vector<uint64_t> ended_mask_;

    std::vector<GrammarState> states_;
    std::unordered_map<std::string, int32_t> ids_;
    std::vector<std::array<int32_t, 256>> next_;     // -2: not computed yet, -1: dead
    std::unordered_map<int32_t, std::vector<uint64_t>> masks_;
    std::vector<int32_t> levels_;  // the walk's state after each byte of a token
    GrammarState scratch_;
    std::string key_;
};

}  // namespace qwen
