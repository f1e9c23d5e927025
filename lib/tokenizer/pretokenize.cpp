#include "tokenizer/pretokenize.hpp"

#include "tokenizer/unicode.hpp"

namespace qwen {

using namespace unicode;

void PreTokenizer::decode(std::string_view text) {
    cp_.clear();
    fl_.clear();
    off_.clear();
    const auto* p = reinterpret_cast<const unsigned char*>(text.data());
    size_t n = text.size(), i = 0;
    while (i < n) {
        uint32_t c = 0;
        int len = p[i] < 0x80 ? (c = p[i], 1) : decode_utf8(p + i, n - i, &c);
        off_.push_back(static_cast<uint32_t>(i));
        if (len > 0) {
            cp_.push_back(c);
            fl_.push_back(flags(c));
            i += static_cast<size_t>(len);
        } else {  // one ill-formed byte: a symbol, like U+FFFD
            cp_.push_back(0xFFFD);
            fl_.push_back(0);
            i += 1;
        }
    }
    off_.push_back(static_cast<uint32_t>(n));
}

namespace {

// The letters of the case-insensitive contraction alternative, folded as Oniguruma folds
// them: ASCII letters of either case, and U+017F LATIN SMALL LETTER LONG S, whose case fold
// is 's'. Anything else folds to 0.
inline uint32_t fold(uint32_t c) {
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')) return c | 0x20;
    return c == 0x17F ? 's' : 0;
}

inline bool is_crlf(uint32_t c) { return c == '\r' || c == '\n'; }

}  // namespace

void PreTokenizer::scan() {
    cuts_.clear();
    const size_t n = cp_.size();
    const uint32_t* cp = cp_.data();
    const uint8_t* fl = fl_.data();
    auto other = [&](size_t j) { return (fl[j] & (kLetter | kNumber | kSpace)) == 0; };
    size_t i = 0;
    while (i < n) {
        cuts_.push_back(static_cast<uint32_t>(i));
        const uint32_t c = cp[i];
        const uint8_t f = fl[i];

        // (?i:'s|'t|'re|'ve|'m|'ll|'d)
        if (c == '\'' && i + 1 < n) {
            uint32_t a = fold(cp[i + 1]);
            if (a == 's' || a == 't' || a == 'm' || a == 'd') {
                i += 2;
                continue;
            }
            if (i + 2 < n) {
                uint32_t b = fold(cp[i + 2]);
                if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l')) {
                    i += 3;
                    continue;
                }
            }
        }
        // [^\r\n\p{L}\p{N}]?\p{L}+  (a letter needs no prefix; anything else but CR, LF and
        // digits may prefix a letter run)
        if ((f & kLetter) || (!is_crlf(c) && !(f & kNumber) && i + 1 < n && (fl[i + 1] & kLetter))) {
            size_t j = i + 1;
            while (j < n && (fl[j] & kLetter)) ++j;
            i = j;
            continue;
        }
        // \p{N}
        if (f & kNumber) {
            i += 1;
            continue;
        }
        //  ?[^\s\p{L}\p{N}]+[\r\n]*
        {
            size_t j = i + (c == ' ' ? 1 : 0);
            if (j < n && other(j)) {
                while (j < n && other(j)) ++j;
                while (j < n && is_crlf(cp[j])) ++j;
                i = j;
                continue;
            }
        }
        // Only whitespace is left here. Let the run of whitespace be [i, k).
        size_t k = i, after_last_crlf = 0;
        while (k < n && (fl[k] & kSpace)) {
            if (is_crlf(cp[k])) after_last_crlf = k + 1;
            ++k;
        }
        if (after_last_crlf) {  // \s*[\r\n]+ : backtracks to the run's last CR or LF
            i = after_last_crlf;
        } else if (k - i > 1 && k < n) {  // \s+(?!\S) : leaves the last space for the next piece
            i = k - 1;
        } else {  // \s+
            i = k;
        }
    }
    cuts_.push_back(static_cast<uint32_t>(n));
}

}  // namespace qwen
