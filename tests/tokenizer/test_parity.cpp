// Parity with Hugging Face tokenizers (the oracle, through hf_oracle.js): the hostile corpus
// in corpus/*.txt (whole files, paragraphs and lines) and a few thousand random strings from a
// fixed seed, with and without special-token parsing. Zero mismatches allowed.
#include "oracle.hpp"
#include "tokenizer/unicode.hpp"

#include <utf8proc.h>

#include <algorithm>

using namespace qwen;
using namespace qwen::test;

namespace {

std::vector<std::string> corpus_strings() {
    std::vector<std::string> out;
    for (const auto& e : std::filesystem::directory_iterator(QWEN_SOURCE_DIR "/tests/tokenizer/corpus")) {
        std::string text = read_file(e.path().string());
        out.push_back(text);
        size_t b = 0;
        while (b < text.size()) {  // lines, keeping the newline
            size_t e2 = text.find('\n', b);
            e2 = e2 == std::string::npos ? text.size() : e2 + 1;
            out.push_back(text.substr(b, e2 - b));
            out.push_back(text.substr(b, e2 - b - (text[e2 - 1] == '\n' ? 1 : 0)));
            b = e2;
        }
        for (size_t p = 0, q; p < text.size(); p = q + 2) {  // paragraphs
            q = text.find("\n\n", p);
            if (q == std::string::npos) q = text.size();
            out.push_back(text.substr(p, q - p));
        }
    }
    out.erase(std::remove(out.begin(), out.end(), std::string()), out.end());
    return out;
}

// splitmix64: the same sequence on every platform (std distributions are not portable).
struct Rng {
    uint64_t s;
    uint64_t next() {
        uint64_t z = (s += 0x9E3779B97F4A7C15ull);
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
        return z ^ (z >> 31);
    }
    uint32_t below(uint32_t n) { return static_cast<uint32_t>(next() % n); }
    uint32_t range(uint32_t lo, uint32_t hi) { return lo + below(hi - lo + 1); }
};

std::string random_string(Rng& r) {
    static const char* pieces[] = {
        "<|im_start|>", "<|im_end|>", "<|endoftext|>", "<tool_call>", "</tool_call>", "<|fim_prefix|>",
        "<|im_end", "<|", "|>", "'s", "'T", "'re", "'VE", "'m", "'Ll", "'d", "'\u017f", " the", "\r\n",
        "\n\n\n", "    ", "\t", "\u200d", "\ufe0f", "\U0001F3FD", "e\u0301", "\u1100\u1161\u11a8",
        "\u00a0", "\u3000", "\u2028", "\u0085", "1234", "\u0661\u0662", "\u00bd", "\u2163", "```", "...",
    };
    std::string s;
    int n = static_cast<int>(r.range(1, 40));
    for (int k = 0; k < n; ++k) {
        uint32_t cp;
        switch (r.below(16)) {
            case 0: s += pieces[r.below(sizeof pieces / sizeof *pieces)]; continue;
            case 1: cp = r.range('a', 'z') - (r.below(2) ? 32 : 0); break;
            case 2: cp = r.range('0', '9'); break;
            case 3: cp = " \t\n\r\v\f'\"!#$%&()*+,-./:;<=>?@[\\]^_`{|}~"[r.below(38)]; break;
            case 4: cp = r.range(0x00A0, 0x024F); break;           // Latin-1, Latin Extended
            case 5: cp = r.range(0x0300, 0x036F); break;           // combining marks
            case 6: cp = r.range(0x0370, 0x052F); break;           // Greek, Cyrillic
            case 7: cp = r.range(0x0590, 0x06FF); break;           // Hebrew, Arabic
            case 8: cp = r.range(0x0900, 0x0DFF); break;           // Indic scripts
            case 9: cp = r.range(0x0E00, 0x0EFF); break;           // Thai, Lao
            case 10: cp = r.range(0x1100, 0x11FF); break;          // Hangul jamo
            case 11: cp = r.range(0xAC00, 0xD7A3); break;          // Hangul syllables
            case 12: cp = r.range(0x3000, 0x30FF); break;          // CJK punctuation, kana
            case 13: cp = r.range(0x4E00, 0x9FFF); break;          // CJK
            case 14: cp = r.range(0x1F300, 0x1FAFF); break;        // emoji
            default: cp = r.range(0x2000, 0x2BFF); break;          // spaces, punctuation, symbols
        }
        // Only assigned code points (utf8proc 2.8: Unicode 15): the oracle's regex and NFC
        // tables have their own Unicode version, and unassigned code points are where two
        // versions can disagree.
        if (utf8proc_category(static_cast<utf8proc_int32_t>(cp)) == UTF8PROC_CATEGORY_CN) continue;
        if (cp >= 0xD800 && cp <= 0xDFFF) continue;
        unicode::append_utf8(s, cp);
    }
    return s;
}

void compare(const std::vector<std::string>& texts, bool parse_special) {
    auto expected = hf_encode(texts, parse_special);
    int mismatches = 0;
    for (size_t i = 0; i < texts.size(); ++i) {
        auto got = qwen25().encode(texts[i], parse_special);
        if (got != expected[i]) {
            if (++mismatches <= 10) {
                std::string ids_got, ids_want;
                for (int32_t v : got) ids_got += std::to_string(v) + " ";
                for (int32_t v : expected[i]) ids_want += std::to_string(v) + " ";
                FAIL_CHECK("mismatch on " << nlohmann::json(texts[i]).dump() << "\n  libqwen: " << ids_got
                                          << "\n  HF:      " << ids_want);
            }
        }
    }
    MESSAGE(texts.size() << " strings (parse_special=" << parse_special << "): " << mismatches << " mismatches");
    CHECK(mismatches == 0);
}

}  // namespace

TEST_CASE("parity with HF tokenizers on the corpus") {
    if (!have_oracle()) return;
    auto texts = corpus_strings();
    REQUIRE(texts.size() > 100);
    compare(texts, true);
    compare(texts, false);
}

TEST_CASE("parity with HF tokenizers on random strings (fixed seed)") {
    if (!have_oracle()) return;
    Rng r{20240611};
    std::vector<std::string> texts;
    for (int i = 0; i < 3000; ++i) texts.push_back(random_string(r));
    compare(texts, true);
    compare(std::vector<std::string>(texts.begin(), texts.begin() + 1000), false);
}
