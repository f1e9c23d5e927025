#include "tokenizer/tokenizer.hpp"

#include "core/error.hpp"
#include "tokenizer/pretokenize.hpp"
#include "tokenizer/unicode.hpp"

#include <unordered_map>
#include <algorithm>

namespace qwen {

Tokenizer::Tokenizer(std::vector<Token> tokens, const std::vector<std::pair<int32_t, int32_t>>& merges,
                     SpecialIds special)
    : tokens_(std::move(tokens)), special_(special) {
    const auto n = static_cast<int32_t>(tokens_.size());
    if (tokens_.empty()) fail(QWEN_ERR_FORMAT, "tokenizer: the vocabulary is empty");

    // BPE sees only Normal tokens; two Normal tokens with the same bytes would be ambiguous.
    int32_t byte_tokens[256];
    std::fill(std::begin(byte_tokens), std::end(byte_tokens), -1);
    for (int32_t id = 0; id < n; ++id) {
        const Token& t = tokens_[id];
        if (t.type == TokenType::Normal && t.bytes.size() == 1) {
            auto b = static_cast<unsigned char>(t.bytes[0]);
            if (byte_tokens[b] < 0) byte_tokens[b] = id;
        }
    }
    for (int b = 0; b < 256; ++b)
        if (byte_tokens[b] < 0) fail(QWEN_ERR_FORMAT, "tokenizer: no token for the single byte 0x", std::hex, b);

    std::vector<Bpe::Merge> ms;
    ms.reserve(merges.size());
    for (size_t r = 0; r < merges.size(); ++r) {
        auto [a, b] = merges[r];
        if (a < 0 || a >= n || b < 0 || b >= n)
            fail(QWEN_ERR_FORMAT, "tokenizer: merge ", r, " refers to a token id out of range");
        // The merged token is the one whose bytes are the concatenation (tokenizers requires it).
        ms.push_back(Bpe::Merge{a, b, -1});
    }
    {
        // Resolve merged ids through a bytes -> id map of Normal tokens (load time only).
        std::unordered_map<std::string_view, int32_t> by_bytes;
        by_bytes.reserve(tokens_.size());
        for (int32_t id = 0; id < n; ++id)
            if (tokens_[id].type == TokenType::Normal) by_bytes.emplace(tokens_[id].bytes, id);
        std::string joined;
        for (size_t r = 0; r < ms.size(); ++r) {
            joined = tokens_[ms[r].left].bytes;
            joined += tokens_[ms[r].right].bytes;
            auto it = by_bytes.find(joined);
            if (it == by_bytes.end())
                fail(QWEN_ERR_FORMAT, "tokenizer: merge ", r, " makes a token that is not in the vocabulary");
            ms[r].merged = it->second;
        }
    }
    bpe_ = std::make_unique<Bpe>(byte_tokens, std::move(ms));

    for (int32_t id = 0; id < n; ++id) {
        const Token& t = tokens_[id];
        if (t.type != TokenType::Control && t.type != TokenType::UserDefined) continue;
        if (t.bytes.empty()) fail(QWEN_ERR_FORMAT, "tokenizer: added token ", id, " is empty");
        auto first = static_cast<unsigned char>(t.bytes[0]);
        added_by_first_[first].push_back(Added{t.bytes, id, t.type == TokenType::Control});
        first_byte_mask_[first] |= t.type == TokenType::Control ? 1 : 3;
    }
    for (auto& v : added_by_first_)
        std::stable_sort(v.begin(), v.end(), [](const Added& x, const Added& y) { return x.text.size() > y.text.size(); });

    for (int32_t id : {special_.bos, special_.eos, special_.pad})
        if (id < -1 || id >= n) fail(QWEN_ERR_FORMAT, "tokenizer: special token id ", id, " is out of range");
}

void Tokenizer::check_id(int32_t id) const {
    if (id < 0 || id >= n_vocab())
        fail(QWEN_ERR_INVALID_ARGUMENT, "token id ", id, " is outside [0, ", n_vocab(), ")");
}

const std::string& Tokenizer::token_to_piece(int32_t id) const {
    check_id(id);
    return tokens_[id].bytes;
}

TokenType Tokenizer::token_type(int32_t id) const {
    check_id(id);
    return tokens_[id].type;
}

int32_t Tokenizer::token_by_text(std::string_view text) const {
    if (text.empty()) return -1;
    for (const Added& a : added_by_first_[static_cast<unsigned char>(text[0])])
        if (a.text == text) return a.id;
    for (int32_t id = 0; id < n_vocab(); ++id)
        if (tokens_[id].type == TokenType::Normal && tokens_[id].bytes == text) return id;
    return -1;
}

namespace {
thread_local PreTokenizer t_pretokenizer;
thread_local std::string t_normalized;
}  // namespace

// Text without added tokens: NFC, pre-tokenize, BPE each piece.
void Tokenizer::encode_plain(std::string_view text, std::vector<int32_t>& out) const {
    if (text.empty()) return;
    std::string_view normalized = text;
    if (!unicode::is_ascii(text)) {
        t_normalized.clear();
        unicode::nfc_append(text, t_normalized);
        normalized = t_normalized;
    }
    t_pretokenizer.split(normalized, [&](size_t b, size_t e) { bpe_->encode(normalized.substr(b, e - b), out); });
}

void Tokenizer::encode(std::string_view text, bool parse_special, std::vector<int32_t>& out) const {
    if (text.size() > kMaxEncodeBytes)
        fail(QWEN_ERR_INPUT_TOO_LARGE, "text of ", text.size(), " bytes is longer than the limit of ",
             kMaxEncodeBytes, " bytes");
    // Added tokens are found in the raw text, leftmost-longest, before normalization (all of
    // Qwen's are "normalized": false); the text between them is encoded on its own.
    const uint8_t want = parse_special ? 1 : 2;
    const auto* p = reinterpret_cast<const unsigned char*>(text.data());
    size_t plain_begin = 0;
    for (size_t i = 0; i < text.size(); ++i) {
        if (!(first_byte_mask_[p[i]] & want)) continue;
        std::string_view rest = text.substr(i);
        for (const Added& a : added_by_first_[p[i]]) {
            if ((a.control && !parse_special) || !rest.starts_with(a.text)) continue;
            encode_plain(text.substr(plain_begin, i - plain_begin), out);
            out.push_back(a.id);
            i += a.text.size() - 1;
            plain_begin = i + 1;
            break;
        }
    }
    encode_plain(text.substr(plain_begin), out);
}

std::string Tokenizer::decode_bytes(std::span<const int32_t> ids, bool skip_special) const {
    std::string out;
    for (int32_t id : ids) {
        check_id(id);
        const Token& t = tokens_[id];
        if (skip_special && t.type == TokenType::Control) continue;
        out += t.bytes;
    }
    return out;
}

std::string Tokenizer::decode(std::span<const int32_t> ids, bool skip_special) const {
    std::string bytes = decode_bytes(ids, skip_special);
    std::string out;
    out.reserve(bytes.size());
    unicode::append_lossy(bytes, out);
    return out;
}

}  // namespace qwen
