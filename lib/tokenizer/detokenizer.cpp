#include "tokenizer/detokenizer.hpp"

#include "tokenizer/unicode.hpp"

namespace qwen {

void Detokenizer::push(int32_t id, std::string& out) {
    const std::string& piece = tok_->token_to_piece(id);  // validates id
    if (skip_special_ && tok_->token_type(id) == TokenType::Control) return;
    std::string bytes = pending_ + piece;
    pending_.clear();
    const auto* p = reinterpret_cast<const unsigned char*>(bytes.data());
    size_t n = bytes.size(), i = 0, good = 0;
    while (i < n) {
        if (p[i] < 0x80) {
            ++i;
            continue;
        }
        uint32_t cp;
        int len = unicode::decode_utf8(p + i, n - i, &cp);
        if (len > 0) {
            i += static_cast<size_t>(len);
            continue;
        }
        size_t k = static_cast<size_t>(-len);
        // A valid lead byte whose sequence runs off the end may still be completed by the
        // next token: hold it back. Anything else is ill-formed whatever follows.
        if (i + k == n && p[i] >= 0xC2 && p[i] <= 0xF4) {
            pending_.assign(bytes, i, k);
            break;
        }
        out.append(bytes, good, i - good);
        if (raw_) out.append(bytes, i, k);
        else out.append("\xEF\xBF\xBD");
        i += k;
        good = i;
    }
    out.append(bytes, good, (pending_.empty() ? n : n - pending_.size()) - good);
}

void Detokenizer::flush(std::string& out) {
    if (!pending_.empty()) out.append(raw_ ? pending_ : std::string("\xEF\xBF\xBD"));
    pending_.clear();
}

}  // namespace qwen
