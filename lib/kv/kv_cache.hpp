// The key/value cache of one sequence: for every layer, the roped keys and the values of
// every position so far, in F16 (default) or F32. Row p of layer l holds all KV heads of
// position p side by side (n_head_kv * head_dim values), so attention reads each head's
// keys with a fixed stride and one pass serves all the query heads sharing it (GQA).
#pragma once

#include "core/page_buffer.hpp"

#include <cstddef>
#include <cstdint>

namespace qwen {

class KvCache {
public:
    KvCache(uint32_t n_layer, uint32_t n_ctx, uint32_t row_elems, bool f16);

    uint32_t n_ctx() const { return n_ctx_; }
    uint32_t n_past() const { return n_past_; }
    bool is_f16() const { return f16_; }
    size_t row_elems() const { return row_; }
    size_t bytes() const { return k_.size() + v_.size(); }

    // Stores the key and value rows of position `pos` in layer `layer` (rounding to F16 if
    // the cache is F16).
    void store(uint32_t layer, uint32_t pos, const float* k, const float* v);
    // Reads element range [off, off + n) of position pos's key/value row as floats.
    void load_k(uint32_t layer, uint32_t pos, size_t off, size_t n, float* out) const;
    void load_v(uint32_t layer, uint32_t pos, size_t off, size_t n, float* out) const;

    // Raw rows for the attention kernel.
    const uint8_t* k_row(uint32_t layer, uint32_t pos) const { return k_.data() + offset(layer, pos); }
    const uint8_t* v_row(uint32_t layer, uint32_t pos) const { return v_.data() + offset(layer, pos); }

    void set_n_past(uint32_t n) { n_past_ = n; }

    // Bytes of one stored row, and mutable rows for restoring saved state.
    size_t row_bytes() const { return row_ * elem_; }
    uint8_t* k_row(uint32_t layer, uint32_t pos) { return k_.data() + offset(layer, pos); }
    uint8_t* v_row(uint32_t layer, uint32_t pos) { return v_.data() + offset(layer, pos); }

private:
    size_t offset(uint32_t layer, uint32_t pos) const { return (size_t(layer) * n_ctx_ + pos) * row_ * elem_; }
    uint32_t n_layer_, n_ctx_;
    size_t row_, elem_;
    bool f16_;
    uint32_t n_past_ = 0;
    // Whole pages with transparent huge pages asked for: decode deep in the context streams
    // each layer's keys and values from memory, and with 4 KiB pages the page walks held a
    // thread to about half the rate (bench_attention, 24 layers of 16,384 keys: 5.3 -> 9.0
    // GB/s). Untouched pages cost nothing, so a large n_ctx stays cheap until it is used.
    PageBuffer k_, v_;
};

}  // namespace qwen
