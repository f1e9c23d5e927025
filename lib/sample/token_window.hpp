// The tokens the penalties see: the last `last_n` accepted tokens (all of them for -1), with
// a count per token and the list of distinct tokens kept up to date on every push, so a
// sampling step touches only the tokens in the window, never the whole vocabulary.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace qwen {

class TokenWindow {
public:
    TokenWindow(uint32_t n_vocab, int32_t last_n);

    // O(1): adds `token` (in [0, n_vocab)), evicting the oldest one when the window is full.
    void push(int32_t token);
    // O(tokens in the window).
    void clear();

    uint32_t count(int32_t token) const { return counts_[size_t(token)]; }
    // The tokens with a count > 0, in no particular order.
    std::span<const int32_t> distinct() const { return distinct_; }
    bool empty() const { return ring_.empty(); }
    size_t size() const { return ring_.size(); }
    int32_t last_n() const { return last_n_; }

    // The window's tokens, oldest first.
    template <class F>
    void for_each(F f) const {
        for (size_t i = 0; i < ring_.size(); ++i) f(ring_[(head_ + i) % ring_.size()]);
    }

private:
    void add(int32_t token);
    void remove(int32_t token);

    int32_t last_n_;
    std::vector<int32_t> ring_;  // grows to last_n, then wraps; head_ is the oldest token
    size_t head_ = 0;
    std::vector<uint32_t> counts_;  // per token
    std::vector<int32_t> distinct_;
    std::vector<uint32_t> slot_;  // token -> its index in distinct_ (valid while its count > 0)
};

}  // namespace qwen
