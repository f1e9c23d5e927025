// The GBNF reader: a recursive-descent parser straight into Grammar's rule lists, then the
// checks that make the grammar safe to run (defined rules, a root, no left recursion).
#include "core/error.hpp"
#include "grammar/grammar.hpp"

#include <optional>
#include <unordered_map>

namespace qwen {

namespace {

using Sequence = std::vector<GrammarElement>;
using Alternatives = std::vector<Sequence>;

// Bounds the expansion of {m,n} (each repetition is a copy or a helper rule).
constexpr uint32_t kMaxRepeat = 10000;
// Bounds the nesting of ( ) groups, which the parser follows by recursion.
constexpr uint32_t kMaxGroupDepth = 256;
// Bounds the chains of rules that each begin with the next one (a -> b -> c ...), which the
// left-recursion check and the matcher's expansion follow by recursion.
constexpr size_t kMaxLeftDepth = 1000;

bool is_name_char(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
}

class Parser {
public:
    explicit Parser(std::string_view src) : src_(src) {}

    Grammar run() {
        skip_space();
        while (pos_ < src_.size()) {
            const size_t at = pos_;
            const std::string name = parse_name();
            if (name.empty()) error(at, "expected a rule name");
            skip_space();
            if (src_.substr(pos_, 3) != "::=") error(pos_, "expected '::=' after the rule name '", name, "'");
            pos_ += 3;
            const uint32_t id = rule_id(name, at);
            if (defined_[id]) error(at, "the rule '", name, "' is defined twice");
            defined_[id] = true;
            rules_[id] = parse_alternatives(id, false);
            skip_space();
        }
        return finish();
    }

private:
    template <class... Args>
    [[noreturn]] void error(size_t at, Args&&... args) const {
        size_t line = 1, col = 1;
        for (size_t i = 0; i < at && i < src_.size(); ++i) {
            if (src_[i] == '\n') {
                ++line;
                col = 1;
            } else if ((uint8_t(src_[i]) & 0xC0) != 0x80) {
                ++col;
            }
        }
        fail(QWEN_ERR_INVALID_ARGUMENT, "grammar: line ", line, ", column ", col, ": ", std::forward<Args>(args)...);
    }

    bool eof() const { return pos_ >= src_.size(); }
    char peek() const { return eof() ? '\0' : src_[pos_]; }

    void skip_space() {
        while (!eof()) {
            const char c = src_[pos_];
            if (c == '#') {
                while (!eof() && src_[pos_] != '\n') ++pos_;
            } else if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
                ++pos_;
            } else {
                break;
            }
        }
    }

    std::string parse_name() {
        const size_t start = pos_;
        while (!eof() && is_name_char(src_[pos_])) ++pos_;
        return std::string(src_.substr(start, pos_ - start));
    }

    // Whether a `name ::=` starts at pos_ (the end of the current rule).
    bool at_rule_start() const {
        size_t p = pos_;
        while (p < src_.size() && is_name_char(src_[p])) ++p;
        if (p == pos_) return false;
        while (p < src_.size() && (src_[p] == ' ' || src_[p] == '\t' || src_[p] == '\n' || src_[p] == '\r')) ++p;
        return src_.substr(p, 3) == "::=";
    }

    uint32_t rule_id(const std::string& name, size_t at) {
        auto [it, inserted] = ids_.try_emplace(name, uint32_t(names_.size()));
        if (inserted) {
            names_.push_back(name);
            rules_.emplace_back();
            defined_.push_back(false);
            first_use_.push_back(at);
        }
        return it->second;
    }

    uint32_t helper_rule(uint32_t parent, Alternatives alts) {
        const uint32_t id = uint32_t(names_.size());
        names_.push_back(cat(names_[parent], "_", id));
        rules_.push_back(std::move(alts));
        defined_.push_back(true);
        first_use_.push_back(pos_);
        return id;
    }

    GrammarElement chars(std::vector<std::pair<uint32_t, uint32_t>> ranges, bool negated) {
        CharSet set(std::move(ranges), negated);
        for (size_t i = 0; i < sets_.size(); ++i)
            if (sets_[i] == set) return {GrammarElement::Chars, uint32_t(i)};
        sets_.push_back(std::move(set));
        return {GrammarElement::Chars, uint32_t(sets_.size() - 1)};
    }

    Alternatives parse_alternatives(uint32_t rule, bool nested) {
        Alternatives alts;
        alts.push_back(parse_sequence(rule, nested));
        while (peek() == '|') {
            ++pos_;
            alts.push_back(parse_sequence(rule, nested));
        }
        return alts;
    }

    Sequence parse_sequence(uint32_t rule, bool nested) {
        Sequence seq;
        for (;;) {
            skip_space();
            const char c = peek();
            if (eof() || c == '|' || c == ')' || (!nested && at_rule_start())) break;
            const size_t at = pos_;
            Sequence item;
            if (c == '"') {
                ++pos_;
                while (peek() != '"') {
                    if (eof()) error(at, "unterminated literal");
                    const uint32_t cp = parse_char(true);
                    item.push_back(chars({{cp, cp}}, false));
                }
                ++pos_;
            } else if (c == '[') {
                item.push_back(parse_class());
            } else if (c == '.') {
                ++pos_;
                item.push_back(chars({}, true));
            } else if (c == '(') {
                if (group_depth_ == kMaxGroupDepth) error(at, "groups are nested deeper than ", kMaxGroupDepth, " levels");
                ++pos_;
                ++group_depth_;
                Alternatives inner = parse_alternatives(rule, true);
                --group_depth_;
                skip_space();
                if (peek() != ')') error(pos_, "expected ')' to close the group");
                ++pos_;
                if (inner.size() == 1)
                    item = std::move(inner[0]);
                else
                    item.push_back({GrammarElement::Rule, helper_rule(rule, std::move(inner))});
            } else if (is_name_char(c)) {
                const std::string name = parse_name();
                item.push_back({GrammarElement::Rule, rule_id(name, at)});
            } else {
                error(at, "expected a literal, a character class, a rule name, '(' or '.'");
            }
            skip_space();
            parse_postfix(rule, item);
            seq.insert(seq.end(), item.begin(), item.end());
        }
        return seq;
    }

    // * + ? {m} {m,} {m,n} after an item, rewritten into copies and helper rules.
    void parse_postfix(uint32_t rule, Sequence& item) {
        const char c = peek();
        uint32_t lo;
        std::optional<uint32_t> hi;
        if (c == '*') {
            lo = 0;
        } else if (c == '+') {
            lo = 1;
        } else if (c == '?') {
            lo = 0;
            hi = 1;
        } else if (c == '{') {
            ++pos_;
            skip_space();
            lo = parse_count();
            skip_space();
            if (peek() == ',') {
                ++pos_;
                skip_space();
                if (peek() != '}') hi = parse_count();
            } else {
                hi = lo;
            }
            skip_space();
            if (peek() != '}') error(pos_, "expected '}' to close the repetition");
            if (hi && *hi < lo) error(pos_, "the repetition's maximum ", *hi, " is below its minimum ", lo);
        } else {
            return;
        }
        ++pos_;
        if (item.size() != 1) item = {{GrammarElement::Rule, helper_rule(rule, {item})}};
        const GrammarElement x = item[0];
        item.assign(lo, x);
        if (!hi) {
            // x*: S ::= x S | (empty); the reference to S is in tail position, so the stacks
            // of the matcher do not grow with the repetitions.
            const uint32_t s = helper_rule(rule, {});
            rules_[s] = {{x, {GrammarElement::Rule, s}}, {}};
            item.push_back({GrammarElement::Rule, s});
        } else if (*hi > lo) {
            uint32_t opt = helper_rule(rule, {{x}, {}});
            for (uint32_t k = lo + 1; k < *hi; ++k) opt = helper_rule(rule, {{x, {GrammarElement::Rule, opt}}, {}});
            item.push_back({GrammarElement::Rule, opt});
        }
    }

    uint32_t parse_count() {
        const size_t at = pos_;
        uint64_t v = 0;
        if (peek() < '0' || peek() > '9') error(at, "expected a number in the repetition");
        while (peek() >= '0' && peek() <= '9') {
            v = v * 10 + uint64_t(src_[pos_++] - '0');
            if (v > kMaxRepeat) error(at, "repetition counts are limited to ", kMaxRepeat);
        }
        return uint32_t(v);
    }

    GrammarElement parse_class() {
        const size_t at = pos_++;
        const bool negated = peek() == '^';
        if (negated) ++pos_;
        std::vector<std::pair<uint32_t, uint32_t>> ranges;
        while (peek() != ']') {
            if (eof()) error(at, "unterminated character class");
            const uint32_t lo = parse_char(false);
            uint32_t hi = lo;
            if (peek() == '-' && pos_ + 1 < src_.size() && src_[pos_ + 1] != ']') {
                ++pos_;
                const size_t hi_at = pos_;
                hi = parse_char(false);
                if (hi < lo) error(hi_at, "the range's end U+", std::hex, hi, " is below its start U+", lo);
            }
            ranges.emplace_back(lo, hi);
        }
        ++pos_;
        return chars(std::move(ranges), negated);
    }

    uint32_t parse_hex(int digits) {
        uint32_t v = 0;
        for (int i = 0; i < digits; ++i) {
            const char c = peek();
            int d;
            if (c >= '0' && c <= '9') d = c - '0';
            else if (c >= 'a' && c <= 'f') d = c - 'a' + 10;
            else if (c >= 'A' && c <= 'F') d = c - 'A' + 10;
            else error(pos_, "expected ", digits, " hexadecimal digits");
            v = v * 16 + uint32_t(d);
            ++pos_;
        }
        return v;
    }

    // One character of a literal or class: an escape or a UTF-8 encoded code point.
    uint32_t parse_char(bool in_literal) {
        const size_t at = pos_;
        const uint8_t b = uint8_t(src_[pos_]);
        if (b == '\\') {
            ++pos_;
            if (eof()) error(at, "unterminated escape");
            const char e = src_[pos_++];
            switch (e) {
                case 'n': return '\n';
                case 'r': return '\r';
                case 't': return '\t';
                case '\\': case '"': case '\'': case '[': case ']': case '-': case '/': case '^': return uint32_t(e);
                case 'x': return parse_hex(2);
                case 'u': return check_cp(at, parse_hex(4));
                case 'U': return check_cp(at, parse_hex(8));
                default: error(at, "unknown escape '\\", e, "'");
            }
        }
        if (in_literal ? b == '\n' : false) error(at, "a literal cannot span lines (use \\n)");
        if (b < 0x80) {
            ++pos_;
            return b;
        }
        const int len = b >= 0xF0 ? 4 : b >= 0xE0 ? 3 : b >= 0xC0 ? 2 : 0;
        if (len == 0 || pos_ + size_t(len) > src_.size()) error(at, "invalid UTF-8");
        uint32_t cp = b & (0x7F >> len);
        for (int i = 1; i < len; ++i) {
            const uint8_t c = uint8_t(src_[pos_ + size_t(i)]);
            if ((c & 0xC0) != 0x80) error(at, "invalid UTF-8");
            cp = (cp << 6) | (c & 0x3F);
        }
        pos_ += size_t(len);
        return check_cp(at, cp);
    }

    uint32_t check_cp(size_t at, uint32_t cp) const {
        if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) error(at, "U+", std::hex, cp, " is not a character");
        return cp;
    }

    Grammar finish() {
        auto root = ids_.find("root");
        if (root == ids_.end() || !defined_[root->second]) error(src_.size(), "expected a rule named 'root'");
        for (size_t r = 0; r < names_.size(); ++r)
            if (!defined_[r]) error(first_use_[r], "the rule '", names_[r], "' is used but never defined");
        check_left_recursion();
        Grammar g;
        g.root = root->second;
        g.names = std::move(names_);
        g.sets = std::move(sets_);
        for (const Alternatives& alts : rules_) {
            auto& starts = g.rules.emplace_back();
            for (const Sequence& seq : alts) {
                starts.push_back(uint32_t(g.elements.size()));
                g.elements.insert(g.elements.end(), seq.begin(), seq.end());
                g.elements.push_back({GrammarElement::End, 0});
            }
        }
        return g;
    }

    // A rule that reaches itself before consuming a character would make the matcher expand
    // forever; find such a cycle over the "can start with" edges.
    void check_left_recursion() const {
        const size_t n = rules_.size();
        // Nullable rules by a worklist (a fixpoint sweep is quadratic on a long chain of
        // rules): an alternative is nullable once every element in it is a nullable rule.
        std::vector<bool> nullable(n, false);
        std::vector<uint32_t> alt_rule, pending, ready;
        std::vector<std::vector<uint32_t>> users(n);  // rule -> alternatives that mention it
        for (size_t r = 0; r < n; ++r) {
            for (const Sequence& seq : rules_[r]) {
                bool chars = false;
                for (const GrammarElement& e : seq) chars = chars || e.kind == GrammarElement::Chars;
                if (chars) continue;
                const auto alt = uint32_t(alt_rule.size());
                alt_rule.push_back(uint32_t(r));
                pending.push_back(0);
                for (const GrammarElement& e : seq)
                    if (e.kind == GrammarElement::Rule) {
                        users[e.value].push_back(alt);
                        ++pending[alt];
                    }
                if (pending[alt] == 0) ready.push_back(uint32_t(r));
            }
        }
        while (!ready.empty()) {
            const uint32_t r = ready.back();
            ready.pop_back();
            if (nullable[r]) continue;
            nullable[r] = true;
            for (uint32_t alt : users[r])
                if (--pending[alt] == 0) ready.push_back(alt_rule[alt]);
        }
        std::vector<uint8_t> color(n, 0);  // 0 new, 1 on the path, 2 done
        std::vector<uint32_t> path;
        auto visit = [&](auto& self, uint32_t r) -> void {
            // The matcher expands these chains by recursion too: bound them for both.
            if (path.size() == kMaxLeftDepth)
                error(first_use_[r], "the rule '", names_[r], "' starts a chain of more than ", kMaxLeftDepth,
                      " rules, each beginning with the next");
            color[r] = 1;
            path.push_back(r);
            for (const Sequence& seq : rules_[r]) {
                for (const GrammarElement& e : seq) {
                    if (e.kind != GrammarElement::Rule) break;
                    if (color[e.value] == 1) {
                        std::string cycle;
                        bool on = false;
                        for (uint32_t p : path) {
                            on = on || p == e.value;
                            if (on) cycle += names_[p] + " -> ";
                        }
                        error(first_use_[e.value], "the rule '", names_[e.value], "' is left-recursive (", cycle,
                              names_[e.value], ")");
                    }
                    if (color[e.value] == 0) self(self, e.value);
                    if (!nullable[e.value]) break;
                }
            }
            path.pop_back();
            color[r] = 2;
        };
        for (uint32_t r = 0; r < n; ++r)
            if (color[r] == 0) visit(visit, r);
    }

    std::string_view src_;
    size_t pos_ = 0;
    uint32_t group_depth_ = 0;
    std::unordered_map<std::string, uint32_t> ids_;
    std::vector<std::string> names_;
    std::vector<Alternatives> rules_;
    std::vector<bool> defined_;
    std::vector<size_t> first_use_;
    std::vector<CharSet> sets_;
};

}  // namespace

Grammar parse_gbnf(std::string_view text) { return Parser(text).run(); }

}  // namespace qwen
