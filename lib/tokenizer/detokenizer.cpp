#include "tokenizer/detokenizer.hpp"

#include "tokenizer/unicode.hpp"

namespace qwen {

void Detokenizer::push(int32_t id, std::string& out) {
    const std::string& piece = tok_->token_to_piece(id);  // validates id
    if (skip_special_ && tok_->token_type(id) == TokenType::Control) return;
    std::string bytes = pending_ + piece;
    // A sequence cut off by the end of the token may be completed by the next one: hold it
    // back. Everything before it is final (ill-formed bytes included).
    const size_t keep = unicode::incomplete_tail(bytes);
    pending_.assign(bytes, bytes.size() - keep, keep);
    const std::string_view done(bytes.data(), bytes.size() - keep);
    if (raw_) out.append(done);
    else unicode::append_lossy(done, out);
}

void Detokenizer::flush(std::string& out) {
    if (!pending_.empty()) out.append(raw_ ? pending_ : std::string("\xEF\xBF\xBD"));
    pending_.clear();
}

}  // namespace qwen
