// Running a Grammar over bytes. The state is the set of pushdown stacks of every parse still
// alive (as llama.cpp's llama_grammar keeps them): each stack is a list of grammar positions,
// the top being the character set to match next; an empty stack is a finished parse. Bytes
// come one at a time, so a token may end inside a multi-byte UTF-8 character: the state then
// also holds the bytes seen so far and keeps only the stacks whose top set still has a
// character starting with them.
#pragma once

#include "grammar/grammar.hpp"

#include <cstdint>
#include <deque>
#include <memory>
#include <span>
#include <string_view>
#include <vector>

namespace qwen {

struct GrammarState {
    // The stacks, flat: for each, its size n, then n positions from bottom to top; sorted and
    // without duplicates, so equal states have equal bytes (a cache key).
    std::vector<uint32_t> stacks;
    uint32_t partial = 0;  // the value bits of an incomplete UTF-8 character
    uint8_t left = 0;      // its continuation bytes still to come (0: at a character boundary)
    uint8_t length = 0;    // its full length in bytes

    bool operator==(const GrammarState&) const = default;
};

// The transitions of one grammar. Not thread-safe (it keeps scratch buffers); cheap to make.
// initial() and advance() throw Error(QWEN_ERR_INPUT_TOO_LARGE) when a state would hold more
// than 65,536 words of stacks: a grammar so ambiguous that its live parses keep multiplying.
class GrammarStepper {
public:
    explicit GrammarStepper(std::shared_ptr<const Grammar> grammar);

    GrammarState initial() const;
    // The state after one more byte; false (and `out` unspecified) when no parse survives.
    bool advance(const GrammarState& in, uint8_t byte, GrammarState& out) const;
    // A parse is complete (and no character is half-read).
    static bool accepting(const GrammarState& s);

    const Grammar& grammar() const { return *grammar_; }

private:
    void advance_char(const GrammarState& in, uint32_t cp, GrammarState& out) const;
    // Resolves the top of `s` down to a character set (forking at every rule) into `out`.
    void expand(std::vector<uint32_t>& s, std::vector<uint32_t>& out, size_t depth) const;

    std::shared_ptr<const Grammar> grammar_;
    // One stack per expansion depth (a deque: growing it keeps the deeper levels' references).
    mutable std::deque<std::vector<uint32_t>> scratch_;
    mutable std::vector<std::span<const uint32_t>> spans_;
    mutable std::vector<uint32_t> tmp_;
};

// One parse in progress: what GrammarStepper's transitions are for.
class GrammarMatcher {
public:
    explicit GrammarMatcher(std::shared_ptr<const Grammar> grammar);

    // Feeds the bytes; on failure returns false and keeps the state it had before.
    bool accept(std::string_view bytes);
    bool is_accepting() const { return GrammarStepper::accepting(state_); }
    void reset() { state_ = stepper_.initial(); }

    const GrammarState& state() const { return state_; }
    const GrammarStepper& stepper() const { return stepper_; }

private:
    GrammarStepper stepper_;
    GrammarState state_;
    GrammarState next_[2];
};

}  // namespace qwen
