// Byte-pair encoding by merge rank, exactly as Hugging Face tokenizers' BPE model merges a
// word: repeatedly merge the adjacent pair with the lowest rank (the leftmost one among
// equals) until no adjacent pair has a merge. Words are raw bytes; the initial symbols are the
// single-byte tokens.
#pragma once

#include <cstdint>
#include <string_view>
#include <utility>
#include <vector>

namespace qwen {

class Bpe {
public:
    // `byte_tokens[b]` is the id of the token made of the single byte b.
    // `merges[r]` = (left, right, merged) ids of the merge with rank r.
    struct Merge {
        int32_t left, right, merged;
    };
    Bpe(const int32_t (&byte_tokens)[256], std::vector<Merge> merges);

    // Appends the ids of `word` to `out`.
    void encode(std::string_view word, std::vector<int32_t>& out) const;

    const std::vector<Merge>& merges() const { return merges_; }

private:
    // Open-addressing table (left, right) -> (rank, merged). Looked up for every adjacent pair,
    // so it is flat and power-of-two sized.
    struct Slot {
        uint64_t key;  // left << 32 | right; kEmpty if free
        int32_t rank;
        int32_t merged;
    };
    static constexpr uint64_t kEmpty = ~uint64_t{0};
    static uint64_t key(int32_t a, int32_t b) {
        return (uint64_t{static_cast<uint32_t>(a)} << 32) | static_cast<uint32_t>(b);
    }
    const Slot* find(int32_t a, int32_t b) const {
        uint64_t k = key(a, b);
        size_t i = static_cast<size_t>((k * 0x9E3779B97F4A7C15ull) >> shift_);
        while (true) {
            const Slot& s = table_[i];
            if (s.key == k) return &s;
            if (s.key == kEmpty) return nullptr;
            i = (i + 1) & mask_;
        }
    }

    int32_t byte_tokens_[256];
    std::vector<Merge> merges_;
    std::vector<Slot> table_;
    size_t mask_ = 0;
    unsigned shift_ = 0;
};

}  // namespace qwen
