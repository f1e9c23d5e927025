// The Unicode layer against utf8proc itself, exhaustively where that is cheap.
#include "tokenizer/byte_level.hpp"
#include "tokenizer/pretokenize.hpp"
#include "tokenizer/unicode.hpp"

#include <doctest/doctest.h>
#include <utf8proc.h>

#include <cstdlib>
#include <string>
#include <vector>

using namespace qwen;

namespace {
std::string utf8(uint32_t cp) {
    std::string s;
    unicode::append_utf8(s, cp);
    return s;
}
std::string nfc_utf8proc(const std::string& s) {
    utf8proc_uint8_t* r = utf8proc_NFC(reinterpret_cast<const utf8proc_uint8_t*>(s.c_str()));
    std::string out(reinterpret_cast<char*>(r));
    std::free(r);
    return out;
}
std::vector<std::string> split(std::string_view s) {
    PreTokenizer p;
    std::vector<std::string> out;
    p.split(s, [&](size_t b, size_t e) { out.emplace_back(s.substr(b, e - b)); });
    return out;
}
}  // namespace

TEST_CASE("NFC-stable code points: NFC never changes them, alone or after any starter") {
    // The fast path copies runs of NFC-stable code points without normalizing. Check the
    // predicate against utf8proc's own NFC: a stable code point must survive after every
    // letter that starts a canonical composition, and every primary composite's last
    // code point must be unstable.
    int failures = 0;
    for (uint32_t cp = 0x80; cp <= 0x10FFFF; ++cp) {
        if (cp >= 0xD800 && cp <= 0xDFFF) continue;
        std::string s = utf8(cp);
        bool stable = unicode::flags(cp) & unicode::kNfcStable;
        if (stable && nfc_utf8proc(s) != s) ++failures;
        // Primary composites: their decomposition composes back; its last part must be unstable.
        utf8proc_int32_t buf[8];
        int last_class = 0;
        auto n = utf8proc_decompose_char(static_cast<utf8proc_int32_t>(cp), buf, 8, UTF8PROC_DECOMPOSE, &last_class);
        if (n >= 2) {
            std::string d;
            for (int k = 0; k < n; ++k) d += utf8(static_cast<uint32_t>(buf[k]));
            if (nfc_utf8proc(d) == s && (unicode::flags(static_cast<uint32_t>(buf[n - 1])) & unicode::kNfcStable))
                ++failures;
        }
    }
    CHECK(failures == 0);
}

TEST_CASE("NFC of segments with ill-formed bytes keeps every byte") {
    std::string out;
    unicode::nfc_append("e\xCC\x81\xFF" "e\xCC\x81", out);
    CHECK(out == "\xC3\xA9\xFF\xC3\xA9");
    out.clear();
    unicode::nfc_append("e\xFF\xCC\x81", out);  // nothing composes across an ill-formed byte
    CHECK(out == "e\xFF\xCC\x81");
}

TEST_CASE("lossy decoding replaces maximal subparts like Rust's from_utf8_lossy") {
    auto lossy = [](std::string_view s) {
        std::string o;
        unicode::append_lossy(s, o);
        return o;
    };
    const std::string R = "\xEF\xBF\xBD";
    CHECK(lossy("a\xE2\x82") == "a" + R);              // truncated: one replacement
    CHECK(lossy("\xE2\x82\x41") == R + "A");
    CHECK(lossy("\xF0\x80\x80\x80") == R + R + R + R);  // overlong: every byte
    CHECK(lossy("\xED\xA0\x80") == R + R + R);          // surrogate
    CHECK(lossy("\xF4\x90\x80\x80") == R + R + R + R);  // above U+10FFFF
    CHECK(lossy("\xC3\xA9\xFF\xC0\xAF") == "\xC3\xA9" + R + R + R);
    CHECK(lossy(std::string("a\0b", 3)) == std::string("a\0b", 3));
}

TEST_CASE("byte-level alphabet round trip") {
    std::string all;
    for (int b = 0; b < 256; ++b) all.push_back(static_cast<char>(b));
    auto text = byte_level::encode(all);
    CHECK(byte_level::decode(text) == all);
    CHECK(byte_level::encode(" ") == "\xC4\xA0");  // 'Ġ'
    CHECK(!byte_level::decode("\xE2\x82\xAC").has_value());  // '€' is not in the alphabet
}

TEST_CASE("pre-tokenizer: the Qwen2 pattern's alternatives") {
    using V = std::vector<std::string>;
    CHECK(split("Hello world") == V{"Hello", " world"});
    CHECK(split("it's IT'S it'Ll 'ſa") == V{"it", "'s", " IT", "'S", " it", "'Ll", " '", "\xC5\xBF" "a"});
    CHECK(split("x  \n\n y") == V{"x", "  \n\n", " y"});
    CHECK(split("a   b") == V{"a", "  ", " b"});
    CHECK(split("a   ") == V{"a", "   "});
    CHECK(split("12345") == V{"1", "2", "3", "4", "5"});
    CHECK(split("foo!!!\n\nbar") == V{"foo", "!!!\n\n", "bar"});
    CHECK(split(" ?!x") == V{" ?!", "x"});
    CHECK(split("\tword") == V{"\tword"});
    CHECK(split("a\xFF\xFE" "b") == V{"a", "\xFF\xFE", std::string("b")});  // ill-formed bytes are symbols
    CHECK(split("x'\xC5\xBF" "a") == V{"x", "'\xC5\xBF", "a"});  // U+017F folds to 's'
    CHECK(split("a\x1C\x1C b") == V{"a", "\x1C\x1C", " b"});  // U+001C is no whitespace
}
