// A context-free grammar over Unicode code points, in the shape the matcher runs it: every rule
// is a list of alternatives, every alternative a sequence of elements (a character set or a
// reference to a rule) ended by an End element, all in one flat array so that a position in
// the grammar is a single index. Repetitions and groups of the text form (GBNF) are already
// rewritten into helper rules here.
//
// Built by parse_gbnf(), which also proves the grammar usable: every referenced rule exists
// and no rule can reach itself without consuming a character (left recursion), so expanding a
// position always terminates.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace qwen {

// A set of code points: sorted, disjoint, non-adjacent ranges, plus a bitmap of its ASCII part
// (nearly every test is an ASCII character).
class CharSet {
public:
    CharSet() = default;
    // `ranges` in any order, overlapping or not; `negated`: the complement within
    // [0, 0x10FFFF].
    CharSet(std::vector<std::pair<uint32_t, uint32_t>> ranges, bool negated);

    bool contains(uint32_t cp) const {
        if (cp < 128) return (ascii_[cp >> 6] >> (cp & 63)) & 1;
        return contains_slow(cp);
    }
    // Whether any code point of [lo, hi] is in the set.
    bool intersects(uint32_t lo, uint32_t hi) const;
    const std::vector<std::pair<uint32_t, uint32_t>>& ranges() const { return ranges_; }
    bool operator==(const CharSet& o) const { return ranges_ == o.ranges_; }

private:
    bool contains_slow(uint32_t cp) const;
    std::vector<std::pair<uint32_t, uint32_t>> ranges_;
    uint64_t ascii_[2] = {0, 0};
};

struct GrammarElement {
    enum Kind : uint8_t { End, Chars, Rule };
    Kind kind;
    uint32_t value;  // Chars: index into Grammar::sets; Rule: the rule id
};

struct Grammar {
    std::vector<GrammarElement> elements;       // alternatives, each ended by End
    std::vector<std::vector<uint32_t>> rules;  // rule id -> start index of each alternative
    std::vector<std::string> names;            // rule id -> name (helper rules: "<rule>_<n>")
    std::vector<CharSet> sets;
    uint32_t root = 0;
};

// A 64-bit hash of the compiled grammar (never 0): saved state names its grammar by it.
uint64_t grammar_fingerprint(const Grammar& g);

// Parses llama.cpp's GBNF: `name ::= alternatives` rules (names of letters, digits, '-' and
// '_'), `|`, sequences, `( )`, "literals" and [classes] with \n \r \t \\ \" \' \[ \] \- \xHH
// \uHHHH \UHHHHHHHH escapes, [^...] negated classes, `.` (any code point), postfix * + ? {m}
// {m,} {m,n}, and # comments. Newlines are plain whitespace: a rule ends where the next
// `name ::=` starts. The start rule is `root`.
// Throws Error(QWEN_ERR_INVALID_ARGUMENT) "grammar: line L, column C: expected ..." for a
// syntax error, and names the rule for an undefined or duplicated rule, a missing root and
// left recursion. Groups nest at most 256 deep and chains of rules that each begin with the
// next are at most 1000 long (both are followed by recursion).
Grammar parse_gbnf(std::string_view text);

}  // namespace qwen
