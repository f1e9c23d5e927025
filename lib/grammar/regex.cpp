// JSON Schema `pattern` (an ECMAScript regex, a subset of it) to GBNF over the characters of a
// JSON string: a recursive-descent parser that writes the GBNF expression as it goes.
#include "core/error.hpp"
#include "grammar/json_schema.hpp"

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <utility>
#include <vector>

namespace qwen {

namespace {

using Ranges = std::vector<std::pair<uint32_t, uint32_t>>;

// Characters that a JSON string can hold without an escape: what classes and `.` produce.
constexpr const char* kExcluded = "\"\\\\\\x00-\\x1F";

std::string utf8(uint32_t c) {
    std::string out;
    if (c < 0x80) {
        out += char(c);
    } else if (c < 0x800) {
        out += char(0xC0 | (c >> 6));
        out += char(0x80 | (c & 0x3F));
    } else if (c < 0x10000) {
        out += char(0xE0 | (c >> 12));
        out += char(0x80 | ((c >> 6) & 0x3F));
        out += char(0x80 | (c & 0x3F));
    } else {
        out += char(0xF0 | (c >> 18));
        out += char(0x80 | ((c >> 12) & 0x3F));
        out += char(0x80 | ((c >> 6) & 0x3F));
        out += char(0x80 | (c & 0x3F));
    }
    return out;
}

std::string class_char(uint32_t c) {
    if (c == ']' || c == '[' || c == '\\' || c == '-' || c == '^' || c == '"') return std::string("\\") + char(c);
    if (c < 0x20 || c == 0x7F) {
        char buf[8];
        std::snprintf(buf, sizeof buf, "\\x%02X", c);
        return buf;
    }
    return utf8(c);
}

// ranges minus the characters a JSON string must escape (controls, '"', '\\').
Ranges json_safe(const Ranges& in) {
    Ranges out;
    for (auto [lo, hi] : in) {
        lo = std::max<uint32_t>(lo, 0x20);
        for (uint32_t cut : {uint32_t('"'), uint32_t('\\')}) {
            if (lo <= cut && cut <= hi) {
                if (lo < cut) out.emplace_back(lo, cut - 1);
                lo = cut + 1;
            }
        }
        if (lo <= hi) out.emplace_back(lo, hi);
    }
    return out;
}

class RegexParser {
public:
    RegexParser(std::string_view src, const std::string& pointer) : src_(src), pointer_(pointer) {}

    std::string run() {
        const bool head = peek() == '^';
        if (head) ++pos_;
        std::string body = alternation();
        bool tail = false;
        if (peek() == '$') {
            ++pos_;
            tail = true;
        }
        if (pos_ < src_.size()) error("unexpected '" + std::string(1, src_[pos_]) + "'");
        const std::string any = cat("[^", kExcluded, "]*");
        return cat("( ", head ? "" : any + " ", "( ", body, " )", tail ? "" : " " + any, " )");
    }

private:
    [[noreturn]] void error(const std::string& what) const {
        fail(QWEN_ERR_INVALID_ARGUMENT, "json_schema: pattern at ", pointer_, ", offset ", pos_, ": ", what,
             " (supported: literals, classes, ., groups, |, * + ? {m,n}, ^ and $ at the ends)");
    }
    char peek() const { return pos_ < src_.size() ? src_[pos_] : '\0'; }
    bool eof() const { return pos_ >= src_.size(); }

    std::string alternation() {
        std::string out = sequence();
        bool nullable = nullable_;
        while (peek() == '|') {
            ++pos_;
            out += " | " + sequence();
            nullable = nullable || nullable_;
        }
        nullable_ = nullable;
        return out;
    }

    std::string sequence() {
        std::string out;
        bool nullable = true;
        while (!eof() && peek() != '|' && peek() != ')' && !(peek() == '$' && pos_ + 1 == src_.size())) {
            std::string atom_text = atom();
            out += (out.empty() ? "" : " ") + quantified(atom_text);
            nullable = nullable && nullable_;
        }
        nullable_ = nullable;
        return out.empty() ? "\"\"" : out;
    }

    // A repetition count: digits, at most the GBNF limit of 10000.
    uint32_t repeat_count(std::string_view digits, const std::string& q) const {
        uint32_t v = 0;
        const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), v);
        if (digits.empty() || ec != std::errc{} || end != digits.data() + digits.size() || v > 10000)
            error("bad repetition " + q + " (counts are 0 to 10000)");
        return v;
    }

    std::string quantified(const std::string& atom_text) {
        const char c = peek();
        std::string q;
        bool unbounded = false, optional = false;
        if (c == '*' || c == '+' || c == '?') {
            ++pos_;
            q = std::string(1, c);
            unbounded = c != '?';
            optional = c != '+';
        } else if (c == '{') {
            const size_t close = src_.find('}', pos_);
            if (close == std::string_view::npos) error("unterminated '{'");
            q = std::string(src_.substr(pos_, close - pos_ + 1));
            // {m}, {m,} or {m,n}, checked here so that the grammar never holds a repetition the
            // GBNF parser refuses ({4,3}, {,}, {1,2,3}, counts above its limit).
            const std::string_view body = src_.substr(pos_ + 1, close - pos_ - 1);
            const size_t comma = body.find(',');
            const uint32_t lo = repeat_count(body.substr(0, comma), q);
            if (comma != std::string_view::npos && comma + 1 < body.size() &&
                repeat_count(body.substr(comma + 1), q) < lo)
                error("the maximum of " + q + " is below its minimum");
            unbounded = comma != std::string_view::npos && comma + 1 == body.size();
            optional = lo == 0;
            pos_ = close + 1;
        } else {
            return atom_text;
        }
        if (peek() == '?') ++pos_;  // lazy: the same language
        if (peek() == '*' || peek() == '+' || peek() == '?' || peek() == '{') error("nested quantifier");
        // GBNF refuses a repetition without end of something that can be empty (a loop that
        // consumes nothing), and such a regex means the same as one without the empty case.
        if (unbounded && nullable_) error("an unbounded repetition of something that can be empty, such as (a?)*");
        nullable_ = nullable_ || optional;
        return "( " + atom_text + " )" + q;
    }

    std::string atom() {
        const char c = src_[pos_];
        if (c == '(') {
            ++pos_;
            if (src_.substr(pos_, 2) == "?:") pos_ += 2;
            else if (peek() == '?') error("lookaround and named groups are not supported");
            // Each level becomes up to two nested GBNF groups (the group, its quantifier), and
            // GBNF nests at most 256.
            if (++depth_ > 100) error("groups are nested deeper than 100 levels");
            std::string inner = alternation();
            --depth_;
            if (peek() != ')') error("expected ')'");
            ++pos_;
            return "( " + inner + " )";
        }
        nullable_ = false;  // everything below matches one character
        if (c == '[') return char_class();
        if (c == '.') {
            ++pos_;
            return cat("[^", kExcluded, "]");
        }
        if (c == '\\') {
            ++pos_;
            if (eof()) error("unterminated escape");
            const char e = src_[pos_];
            if (const std::string cls = class_escape(e); !cls.empty()) {
                ++pos_;
                return cls;
            }
            return literal(escaped_char());
        }
        if (c == ')' || c == '*' || c == '+' || c == '?' || c == '{' || c == '}' || c == ']' || c == '^' || c == '$')
            error(std::string("unexpected '") + c + "'");
        return literal(plain_char());
    }

    // \d \w \s \D \W \S as GBNF.
    std::string class_escape(char e) const {
        switch (e) {
            case 'd': return "[0-9]";
            case 'w': return "[a-zA-Z0-9_]";
            case 's': return "( \" \" | \"\\\\t\" | \"\\\\n\" | \"\\\\r\" )";
            case 'D': return cat("[^0-9", kExcluded, "]");
            case 'W': return cat("[^a-zA-Z0-9_", kExcluded, "]");
            case 'S': return cat("[^ ", kExcluded, "]");
            default: return "";
        }
    }

    uint32_t plain_char() {
        const auto b = uint8_t(src_[pos_]);
        const int len = b < 0x80 ? 1 : b >= 0xF0 ? 4 : b >= 0xE0 ? 3 : 2;
        if (pos_ + size_t(len) > src_.size()) error("invalid UTF-8");
        uint32_t cp = len == 1 ? b : b & (0x7Fu >> len);
        for (int i = 1; i < len; ++i) cp = (cp << 6) | (uint8_t(src_[pos_ + size_t(i)]) & 0x3Fu);
        pos_ += size_t(len);
        return cp;
    }

    uint32_t escaped_char() {
        const char e = src_[pos_++];
        switch (e) {
            case 'n': return '\n';
            case 't': return '\t';
            case 'r': return '\r';
            case 'u': {
                uint32_t v = 0;
                for (int i = 0; i < 4; ++i) {
                    const char h = peek();
                    const int d = h >= '0' && h <= '9' ? h - '0' : h >= 'a' && h <= 'f' ? h - 'a' + 10 : h >= 'A' && h <= 'F' ? h - 'A' + 10 : -1;
                    if (d < 0) error("expected 4 hexadecimal digits after \\u");
                    v = v * 16 + uint32_t(d);
                    ++pos_;
                }
                return v;
            }
            default:
                if ((e >= 'a' && e <= 'z') || (e >= 'A' && e <= 'Z') || (e >= '0' && e <= '9'))
                    error(std::string("unsupported escape \\") + e);
                return uint32_t(uint8_t(e));
        }
    }

    // One decoded character as the JSON text that writes it.
    static std::string literal(uint32_t c) {
        if (c == '"') return gbnf_literal("\\\"");
        if (c == '\\') return gbnf_literal("\\\\");
        if (c == '\n') return gbnf_literal("\\n");
        if (c == '\t') return gbnf_literal("\\t");
        if (c == '\r') return gbnf_literal("\\r");
        if (c < 0x20) {
            char buf[8];
            std::snprintf(buf, sizeof buf, "\\u%04X", c);
            return gbnf_literal(buf);
        }
        return gbnf_literal(utf8(c));
    }

    std::string char_class() {
        ++pos_;
        const bool negated = peek() == '^';
        if (negated) ++pos_;
        Ranges ranges;
        bool first = true;
        while (first || peek() != ']') {
            first = false;
            if (eof()) error("unterminated class");
            uint32_t lo;
            if (peek() == '\\') {
                ++pos_;
                if (eof()) error("unterminated escape");
                const char e = src_[pos_];
                if (e == 'd' || e == 'w') {
                    ++pos_;
                    ranges.emplace_back('0', '9');
                    if (e == 'w') ranges.insert(ranges.end(), {{'a', 'z'}, {'A', 'Z'}, {'_', '_'}});
                    continue;
                }
                if (e == 's' || e == 'D' || e == 'W' || e == 'S') error(std::string("\\") + e + " inside a class is not supported");
                lo = escaped_char();
            } else {
                lo = plain_char();
            }
            uint32_t hi = lo;
            if (peek() == '-' && pos_ + 1 < src_.size() && src_[pos_ + 1] != ']') {
                ++pos_;
                if (peek() == '\\') {
                    ++pos_;
                    hi = escaped_char();
                } else {
                    hi = plain_char();
                }
                if (hi < lo) error("a range's end is below its start");
            }
            ranges.emplace_back(lo, hi);
        }
        ++pos_;
        // Characters JSON must escape are left out: a negated class excludes them, a
        // positive one drops them.
        if (!negated) ranges = json_safe(ranges);
        if (!negated && ranges.empty()) error("the class has no character a JSON string can hold unescaped");
        std::string body;
        for (auto [lo, hi] : ranges) body += class_char(lo) + (hi != lo ? "-" + class_char(hi) : "");
        return negated ? cat("[^", body, kExcluded, "]") : "[" + body + "]";
    }

    std::string_view src_;
    const std::string& pointer_;
    size_t pos_ = 0;
    int depth_ = 0;
    bool nullable_ = false;  // whether what was parsed last can match the empty string
};

}  // namespace

std::string regex_to_gbnf(std::string_view pattern, const std::string& pointer) {
    return RegexParser(pattern, pointer).run();
}

}  // namespace qwen
