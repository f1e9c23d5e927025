#include "tokenizer/byte_level.hpp"

#include "tokenizer/unicode.hpp"

namespace qwen::byte_level {

std::string encode(std::string_view bytes) {
    std::string out;
    out.reserve(bytes.size() * 2);
    for (unsigned char b : bytes) unicode::append_utf8(out, kTables.byte_to_cp[b]);
    return out;
}

std::optional<std::string> decode(std::string_view text) {
    std::string out;
    out.reserve(text.size());
    const auto* p = reinterpret_cast<const unsigned char*>(text.data());
    size_t i = 0, n = text.size();
    while (i < n) {
        uint32_t cp;
        int len = unicode::decode_utf8(p + i, n - i, &cp);
        if (len < 0 || cp >= kTables.cp_to_byte.size() || kTables.cp_to_byte[cp] < 0) return std::nullopt;
        out.push_back(static_cast<char>(kTables.cp_to_byte[cp]));
        i += static_cast<size_t>(len);
    }
    return out;
}

}  // namespace qwen::byte_level
