#include "tokenizer/unicode.hpp"

#include "core/error.hpp"

#include <utf8proc.h>

#include <array>
#include <cstdlib>
#include <memory>

namespace qwen::unicode {

namespace {

// True when utf8proc may compose `p` onto a preceding starter. utf8proc 2.8 marks those with a
// comb_index >= 0x8000; 2.9 moved the fact into its own bit.
bool is_composition_second(const utf8proc_property_t* p) {
#if UTF8PROC_VERSION_MAJOR > 2 || (UTF8PROC_VERSION_MAJOR == 2 && UTF8PROC_VERSION_MINOR >= 9)
    return p->comb_issecond;
#else
    return p->comb_index != UINT16_MAX && p->comb_index >= 0x8000;
#endif
}

uint8_t compute_flags(uint32_t cp) {
    if (cp > 0x10FFFF) return 0;
    const utf8proc_property_t* p = utf8proc_get_property(static_cast<utf8proc_int32_t>(cp));
    uint8_t f = 0;
    switch (p->category) {
        case UTF8PROC_CATEGORY_LU: case UTF8PROC_CATEGORY_LL: case UTF8PROC_CATEGORY_LT:
        case UTF8PROC_CATEGORY_LM: case UTF8PROC_CATEGORY_LO:
            f |= kLetter;
            break;
        case UTF8PROC_CATEGORY_ND: case UTF8PROC_CATEGORY_NL: case UTF8PROC_CATEGORY_NO:
            f |= kNumber;
            break;
        case UTF8PROC_CATEGORY_ZS: case UTF8PROC_CATEGORY_ZL: case UTF8PROC_CATEGORY_ZP:
            f |= kSpace;
            break;
        default:
            break;
    }
    // White_Space also holds these controls (and not U+001C..U+001F, unlike Python's isspace).
    if ((cp >= 0x09 && cp <= 0x0D) || cp == 0x85) f |= kSpace;
    bool canonical_decomposition = p->decomp_seqindex != UINT16_MAX && p->decomp_type == 0;
    // Hangul syllables compose algorithmically: a medial vowel or final consonant jamo can join
    // the syllable before it.
    bool hangul_second = (cp >= 0x1161 && cp <= 0x1175) || (cp >= 0x11A8 && cp <= 0x11C2);
    if (p->combining_class == 0 && !canonical_decomposition && !is_composition_second(p) && !hangul_second)
        f |= kNfcStable;
    return f;
}

const uint8_t* build_bmp_table() {
    static std::array<uint8_t, 0x10000> table = [] {
        std::array<uint8_t, 0x10000> t{};
        for (uint32_t cp = 0; cp < 0x10000; ++cp) t[cp] = compute_flags(cp);
        return t;
    }();
    return table.data();
}

}  // namespace

namespace detail {
const uint8_t* const bmp_flags = build_bmp_table();
}

uint8_t flags_slow(uint32_t cp) { return compute_flags(cp); }

void append_utf8(std::string& out, uint32_t cp) {
    char buf[4];
    auto n = utf8proc_encode_char(static_cast<utf8proc_int32_t>(cp), reinterpret_cast<utf8proc_uint8_t*>(buf));
    out.append(buf, static_cast<size_t>(n));
}

bool is_ascii(std::string_view s) {
    unsigned char acc = 0;
    for (char c : s) acc |= static_cast<unsigned char>(c);
    return acc < 0x80;
}

namespace {

// Normalizes one well-formed UTF-8 run with utf8proc and appends it.
void nfc_run(std::string_view run, std::string& out) {
    utf8proc_uint8_t* result = nullptr;
    utf8proc_ssize_t n = utf8proc_map(reinterpret_cast<const utf8proc_uint8_t*>(run.data()),
                                      static_cast<utf8proc_ssize_t>(run.size()), &result,
                                      static_cast<utf8proc_option_t>(UTF8PROC_STABLE | UTF8PROC_COMPOSE));
    std::unique_ptr<utf8proc_uint8_t, decltype(&std::free)> owner(result, &std::free);
    if (n < 0) fail(QWEN_ERR_INTERNAL, "utf8proc NFC failed: ", utf8proc_errmsg(n));
    out.append(reinterpret_cast<const char*>(result), static_cast<size_t>(n));
}

}  // namespace

void nfc_append(std::string_view s, std::string& out) {
    const auto* p = reinterpret_cast<const unsigned char*>(s.data());
    size_t n = s.size(), i = 0;
    size_t run_begin = 0;
    bool run_stable = true;
    auto flush_run = [&](size_t end) {
        std::string_view run = s.substr(run_begin, end - run_begin);
        if (run_stable) out.append(run);
        else nfc_run(run, out);
    };
    while (i < n) {
        if (p[i] < 0x80) {
            ++i;
            continue;
        }
        uint32_t cp;
        int len = decode_utf8(p + i, n - i, &cp);
        if (len < 0) {  // an ill-formed subpart ends the run and is kept verbatim
            flush_run(i);
            out.append(s.substr(i, static_cast<size_t>(-len)));
            i += static_cast<size_t>(-len);
            run_begin = i;
            run_stable = true;
            continue;
        }
        if (!(flags(cp) & kNfcStable)) run_stable = false;
        i += static_cast<size_t>(len);
    }
    flush_run(n);
}

void append_lossy(std::string_view bytes, std::string& out) {
    const auto* p = reinterpret_cast<const unsigned char*>(bytes.data());
    size_t n = bytes.size(), i = 0, good = 0;
    while (i < n) {
        if (p[i] < 0x80) {
            ++i;
            continue;
        }
        uint32_t cp;
        int len = decode_utf8(p + i, n - i, &cp);
        if (len > 0) {
            i += static_cast<size_t>(len);
            continue;
        }
        out.append(bytes.substr(good, i - good));
        out.append("\xEF\xBF\xBD");
        i += static_cast<size_t>(-len);
        good = i;
    }
    out.append(bytes.substr(good));
}

}  // namespace qwen::unicode
