// Streaming detokenization: text comes out as tokens arrive, never half of a UTF-8 character,
// and the concatenated output equals Tokenizer::decode() of all the tokens for every way of
// splitting them (ill-formed bytes become U+FFFD by the same maximal-subpart rule as soon as
// they are known to be ill-formed; a truncated sequence left at flush() is one U+FFFD).
// The state is the at most 3 bytes of an incomplete character.
#pragma once

#include "tokenizer/tokenizer.hpp"

#include <string>

namespace qwen {

class Detokenizer {
public:
    // raw: ill-formed bytes come out as they are instead of as U+FFFD (characters are still
    // never split), matching Tokenizer::decode_bytes().
    Detokenizer(const Tokenizer& tokenizer, bool skip_special, bool raw = false)
        : tok_(&tokenizer), skip_special_(skip_special), raw_(raw) {}

    // Appends the text that `id` completes to `out`. Throws Error(QWEN_ERR_INVALID_ARGUMENT)
    // for an invalid id (the state is unchanged then).
    void push(int32_t id, std::string& out);
    // Appends what is still held back (one U+FFFD, or up to 3 raw bytes) and resets the state.
    void flush(std::string& out);
    // Bytes held back waiting for the rest of a UTF-8 character (0..3).
    size_t pending() const { return pending_.size(); }

private:
    const Tokenizer* tok_;  // a pointer, so that a Detokenizer can be copied and assigned
    bool skip_special_;
    bool raw_;
    std::string pending_;
};

}  // namespace qwen
