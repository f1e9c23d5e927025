#include "tokenizer/bpe.hpp"

#include <algorithm>
#include <bit>
#include <cstring>

namespace qwen {

Bpe::Bpe(const int32_t (&byte_tokens)[256], std::vector<Merge> merges) : merges_(std::move(merges)) {
    std::memcpy(byte_tokens_, byte_tokens, sizeof byte_tokens_);
    size_t cap = std::bit_ceil(std::max<size_t>(16, merges_.size() * 2));
    table_.assign(cap, Slot{kEmpty, 0, 0});
    mask_ = cap - 1;
    shift_ = 64 - static_cast<unsigned>(std::countr_zero(cap));
    for (size_t r = 0; r < merges_.size(); ++r) {
        const Merge& m = merges_[r];
        uint64_t k = key(m.left, m.right);
        size_t i = static_cast<size_t>((k * 0x9E3779B97F4A7C15ull) >> shift_);
        while (table_[i].key != kEmpty && table_[i].key != k) i = (i + 1) & mask_;
        // A repeated pair keeps its first (lowest) rank, as a map built in rank order would.
        if (table_[i].key == kEmpty) table_[i] = Slot{k, static_cast<int32_t>(r), m.merged};
    }
}

namespace {

struct Symbol {
    int32_t id;
    int32_t prev, next;  // indices, -1 at the ends
    bool alive;
};

struct Candidate {
    int32_t rank;
    int32_t pos;
    int32_t merged;
    // std::push_heap builds a max-heap: "less" means later, so the lowest rank and then the
    // leftmost position comes out first.
    bool operator<(const Candidate& o) const { return rank != o.rank ? rank > o.rank : pos > o.pos; }
};

thread_local std::vector<Symbol> t_symbols;
thread_local std::vector<Candidate> t_heap;

}  // namespace

void Bpe::encode(std::string_view word, std::vector<int32_t>& out) const {
    const size_t n = word.size();
    if (n == 0) return;
    if (n == 1) {
        out.push_back(byte_tokens_[static_cast<unsigned char>(word[0])]);
        return;
    }
    auto& sym = t_symbols;
    auto& heap = t_heap;
    sym.resize(n);
    heap.clear();
    for (size_t i = 0; i < n; ++i)
        sym[i] = Symbol{byte_tokens_[static_cast<unsigned char>(word[i])], static_cast<int32_t>(i) - 1,
                        i + 1 < n ? static_cast<int32_t>(i + 1) : -1, true};
    auto push = [&](int32_t pos, int32_t right) {
        if (const Slot* s = find(sym[pos].id, sym[right].id)) {
            heap.push_back(Candidate{s->rank, pos, s->merged});
            std::push_heap(heap.begin(), heap.end());
        }
    };
    for (size_t i = 0; i + 1 < n; ++i) push(static_cast<int32_t>(i), static_cast<int32_t>(i + 1));

    while (!heap.empty()) {
        std::pop_heap(heap.begin(), heap.end());
        Candidate top = heap.back();
        heap.pop_back();
        Symbol& s = sym[top.pos];
        if (!s.alive || s.next < 0) continue;
        // A stale candidate: the pair at this position changed since it was queued. The check
        // compares the merged id, as tokenizers does.
        const Slot* now = find(s.id, sym[s.next].id);
        if (!now || now->merged != top.merged) continue;
        Symbol& right = sym[s.next];
        s.id = top.merged;
        right.alive = false;
        s.next = right.next;
        if (s.next >= 0) sym[s.next].prev = top.pos;
        if (s.prev >= 0) push(s.prev, top.pos);
        if (s.next >= 0) push(top.pos, s.next);
    }
    for (int32_t i = 0; i >= 0; i = sym[i].next) out.push_back(sym[i].id);
}

}  // namespace qwen
