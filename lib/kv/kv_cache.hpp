// The key/value cache of one sequence: for every layer, the roped keys and the values of
// every position so far, in F16 (default) or F32.
// Each layer and KV head has its own contiguous keys and values, so attention streams them
// in one sequential pass that serves all the query heads sharing the KV head (GQA):
// - values: a row of head_dim values per position;
// - keys: tiles of kKeyTile positions stored dimension-major (element d of the tile's
//   position j at d * kKeyTile + j), so that the attention kernel loads one dimension of 16
//   keys as one vector and scores them with a broadcast of the query's element: no per-key
//   horizontal sums (kernels/attention_impl.hpp).
#pragma once

#include "core/page_buffer.hpp"
#include "kernels/dispatch.hpp"

#include <cstddef>
#include <cstdint>

namespace qwen {

class KvCache {
public:
    static constexpr uint32_t kKeyTile = kernels::kKeyTile;  // the attention kernel's

    KvCache(uint32_t n_layer, uint32_t n_ctx, uint32_t n_head_kv, uint32_t head_dim, bool f16);

    uint32_t n_ctx() const { return n_ctx_; }
    uint32_t n_past() const { return n_past_; }
    bool is_f16() const { return f16_; }
    size_t row_elems() const { return row_; }
    size_t bytes() const { return k_.size() + v_.size(); }
    void set_n_past(uint32_t n) { n_past_ = n; }

    // Stores the key and value rows of position `pos` in layer `layer` (all KV heads; rounded
    // to F16 if the cache is F16).
    void store(uint32_t layer, uint32_t pos, const float* k, const float* v);
    // The same for KV head h alone: k and v are that head's head_dim elements.
    void store_head(uint32_t layer, uint32_t pos, uint32_t h, const float* k, const float* v);
    // Reads element range [off, off + n) of position pos's key/value row as floats.
    void load_k(uint32_t layer, uint32_t pos, size_t off, size_t n, float* out) const;
    void load_v(uint32_t layer, uint32_t pos, size_t off, size_t n, float* out) const;

    // Whole rows in their stored type (row_bytes() bytes: all KV heads of one position, as
    // saved state has them), for saving and restoring state.
    size_t row_bytes() const { return row_ * elem_; }
    void read_row(bool key, uint32_t layer, uint32_t pos, uint8_t* dst) const;
    void write_row(bool key, uint32_t layer, uint32_t pos, const uint8_t* src);

    // For the attention kernel: the key tiles of one layer and KV head (tile t at
    // t * key_tile_bytes()), and its values (position p at p * head_bytes()).
    const uint8_t* k_tiles(uint32_t layer, uint32_t head) const { return k_.data() + k_offset(layer, head); }
    const uint8_t* v_head(uint32_t layer, uint32_t head) const { return v_.data() + v_offset(layer, head, 0); }
    size_t key_tile_bytes() const { return size_t(kKeyTile) * head_dim_ * elem_; }
    size_t head_bytes() const { return size_t(head_dim_) * elem_; }

private:
    size_t k_offset(uint32_t layer, uint32_t head) const {
        return (size_t(layer) * n_head_kv_ + head) * tiles_ * key_tile_bytes();
    }
    size_t v_offset(uint32_t layer, uint32_t head, uint32_t pos) const {
        return ((size_t(layer) * n_head_kv_ + head) * n_ctx_ + pos) * head_bytes();
    }
    size_t elem_offset(bool key, uint32_t layer, uint32_t pos, size_t e) const;
    // Element d of head h's key at position pos.
    size_t k_elem(uint32_t layer, uint32_t h, uint32_t pos, size_t d) const {
        return k_offset(layer, h) + (size_t(pos / kKeyTile) * head_dim_ * kKeyTile + d * kKeyTile + pos % kKeyTile) * elem_;
    }
    uint32_t n_layer_, n_ctx_, n_head_kv_, head_dim_, tiles_;
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
