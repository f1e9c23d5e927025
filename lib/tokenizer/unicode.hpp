// The Unicode facts the Qwen2 tokenizer needs, all taken from utf8proc (no hand-made tables):
// per code point "letter" (\p{L}), "number" (\p{N}), "whitespace" (\s as Oniguruma and Rust
// define it: the White_Space property) and "NFC-stable" (NFC can never change a run made only
// of such code points); strict UTF-8 decoding with the Unicode "maximal subpart" rule for
// ill-formed input; and NFC of a UTF-8 run.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace qwen::unicode {

enum : uint8_t {
    kLetter = 1,     // general category L*
    kNumber = 2,     // general category N*
    kSpace = 4,      // White_Space: Zs, Zl, Zp, U+0009..U+000D, U+0085
    kNfcStable = 8,  // canonical combining class 0, no canonical decomposition, never the
                     // second half of a canonical composition
};

// Flags of a code point (0 for anything outside [0, 0x10FFFF]).
uint8_t flags_slow(uint32_t cp);

namespace detail {
extern const uint8_t* const bmp_flags;  // 65,536 entries, built once from utf8proc
}

inline uint8_t flags(uint32_t cp) { return cp < 0x10000 ? detail::bmp_flags[cp] : flags_slow(cp); }

// Decodes one well-formed UTF-8 sequence at p (n > 0 bytes available). Returns its length
// (1..4) and stores the code point, or returns -k where k (1..3) is the length of the maximal
// subpart of an ill-formed sequence (the bytes that one U+FFFD replaces in lossy decoding, the
// rule Rust's String::from_utf8_lossy and the WHATWG decoder follow).
inline int decode_utf8(const unsigned char* p, size_t n, uint32_t* cp) {
    unsigned c = p[0];
    if (c < 0x80) {
        *cp = c;
        return 1;
    }
    int len;
    unsigned lo = 0x80, hi = 0xBF;  // allowed range of the second byte
    if (c >= 0xC2 && c <= 0xDF) {
        len = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        if (c == 0xE0) lo = 0xA0;
        if (c == 0xED) hi = 0x9F;  // no surrogates
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        if (c == 0xF0) lo = 0x90;
        if (c == 0xF4) hi = 0x8F;  // nothing above U+10FFFF
    } else {
        return -1;
    }
    uint32_t v = c & (0x7F >> len);
    for (int i = 1; i < len; ++i) {
        if (static_cast<size_t>(i) >= n) return -i;
        unsigned b = p[i];
        if (b < (i == 1 ? lo : 0x80u) || b > (i == 1 ? hi : 0xBFu)) return -i;
        v = (v << 6) | (b & 0x3F);
    }
    *cp = v;
    return len;
}

// Appends the UTF-8 encoding of a valid scalar value.
void append_utf8(std::string& out, uint32_t cp);

// True when every byte is < 0x80.
bool is_ascii(std::string_view s);

// NFC of a segment that may contain ill-formed bytes: every maximal well-formed run is
// normalized on its own (nothing composes across an ill-formed byte) and ill-formed bytes are
// kept as they are, so no input byte is lost. Appends to `out`. Runs that are already
// NFC-stable are copied without calling utf8proc.
void nfc_append(std::string_view s, std::string& out);

// Decodes lossily (each maximal ill-formed subpart becomes U+FFFD) and appends to `out`.
void append_lossy(std::string_view bytes, std::string& out);

// The length of a sequence at the end of `s` that is well-formed so far but cut off (a lead
// byte C2..F4 and continuation bytes that fit it): more bytes may still complete it. 0 if none.
// A lead byte is never part of an earlier sequence, so looking back from the end finds the
// same sequence start a forward scan would.
inline size_t incomplete_tail(std::string_view s) {
    const auto* p = reinterpret_cast<const unsigned char*>(s.data());
    const size_t n = s.size();
    for (size_t k = 1; k <= 3 && k <= n; ++k) {
        const unsigned c = p[n - k];
        if (c < 0x80) return 0;
        if (c >= 0xC0) {
            if (c < 0xC2 || c > 0xF4) return 0;
            uint32_t cp;
            return decode_utf8(p + n - k, k, &cp) == -static_cast<int>(k) ? k : 0;
        }
    }
    return 0;
}

}  // namespace qwen::unicode
