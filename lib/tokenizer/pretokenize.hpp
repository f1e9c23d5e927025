// The Qwen2 pre-tokenizer: splits normalized text into the pieces that BPE encodes one by one.
// It is the regular expression of Qwen2.5's tokenizer.json,
//
//   (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*
//   |\s*[\r\n]+|\s+(?!\S)|\s+
//
// applied as Hugging Face tokenizers applies it (Split, behavior Isolated: the matches are the
// pieces; nothing is between them since the last alternatives match any whitespace and the
// others any non-whitespace), hand-coded as one left-to-right scan that reproduces the
// regex's leftmost-first alternation and backtracking.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

namespace qwen {

class PreTokenizer {
public:
    // Calls piece(begin, end) with byte offsets into `text`, in order, covering all of it.
    // Ill-formed UTF-8 bytes are classified like U+FFFD (a symbol): each is its own
    // character, neither letter, digit nor space.
    template <class F>
    void split(std::string_view text, F&& piece) {
        decode(text);
        scan();
        for (size_t k = 0; k + 1 < cuts_.size(); ++k) piece(off_[cuts_[k]], off_[cuts_[k + 1]]);
    }

private:
    void decode(std::string_view text);
    void scan();

    // Scratch reused between calls: one entry per character (plus an end sentinel in off_).
    std::vector<uint32_t> cp_;
    std::vector<uint8_t> fl_;
    std::vector<uint32_t> off_;
    std::vector<uint32_t> cuts_;  // character indices where pieces start, then the end
};

}  // namespace qwen
