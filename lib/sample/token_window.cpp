#include "sample/token_window.hpp"

namespace qwen {

TokenWindow::TokenWindow(uint32_t n_vocab, int32_t last_n)
    : last_n_(last_n), counts_(n_vocab, 0), slot_(n_vocab, 0) {}

void TokenWindow::push(int32_t token) {
    if (last_n_ == 0) return;
    if (last_n_ < 0 || ring_.size() < size_t(last_n_)) {
        ring_.push_back(token);
    } else {
        remove(ring_[head_]);
        ring_[head_] = token;
        head_ = (head_ + 1) % ring_.size();
    }
    add(token);
}

void TokenWindow::clear() {
    for (int32_t t : distinct_) counts_[size_t(t)] = 0;
    distinct_.clear();
    ring_.clear();
    head_ = 0;
}

void TokenWindow::add(int32_t token) {
    if (counts_[size_t(token)]++ == 0) {
        slot_[size_t(token)] = uint32_t(distinct_.size());
        distinct_.push_back(token);
    }
}

void TokenWindow::remove(int32_t token) {
    if (--counts_[size_t(token)] == 0) {
        // Swap-remove: the last distinct token takes the freed slot.
        const uint32_t s = slot_[size_t(token)];
        const int32_t moved = distinct_.back();
        distinct_[s] = moved;
        slot_[size_t(moved)] = s;
        distinct_.pop_back();
    }
}

}  // namespace qwen
