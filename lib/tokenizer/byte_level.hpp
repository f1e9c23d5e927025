// GPT-2's byte-level alphabet: every byte gets a printable code point (printable Latin-1 bytes
// map to themselves, the other 68 to U+0100..U+0143), so that vocabularies can be stored as
// text. Tokens are kept as raw bytes inside the tokenizer; this mapping is only used to read
// and write tokenizer.json and GGUF vocabularies.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace qwen::byte_level {

struct Tables {
    std::array<uint16_t, 256> byte_to_cp{};
    std::array<int16_t, 324> cp_to_byte{};  // -1 where the code point is not in the alphabet
    constexpr Tables() {
        for (auto& v : cp_to_byte) v = -1;
        int extra = 0;
        for (int b = 0; b < 256; ++b) {
            bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
            uint16_t cp = static_cast<uint16_t>(printable ? b : 256 + extra++);
            byte_to_cp[b] = cp;
            cp_to_byte[cp] = static_cast<int16_t>(b);
        }
    }
};
inline constexpr Tables kTables{};

// Raw bytes -> byte-level text.
std::string encode(std::string_view bytes);

// Byte-level text -> raw bytes; nullopt when the text is not UTF-8 or holds a code point
// outside the alphabet.
std::optional<std::string> decode(std::string_view text);

}  // namespace qwen::byte_level
