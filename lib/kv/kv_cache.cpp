#include "kv/kv_cache.hpp"

#include "core/half.hpp"

#include <cstring>

namespace qwen {

KvCache::KvCache(uint32_t n_layer, uint32_t n_ctx, uint32_t n_head_kv, uint32_t head_dim, bool f16)
    : n_layer_(n_layer), n_ctx_(n_ctx), n_head_kv_(n_head_kv), head_dim_(head_dim),
      tiles_((n_ctx + kKeyTile - 1) / kKeyTile), row_(size_t(n_head_kv) * head_dim), elem_(f16 ? 2 : 4), f16_(f16) {
    k_ = PageBuffer(size_t(n_layer_) * n_head_kv_ * tiles_ * key_tile_bytes());
    v_ = PageBuffer(size_t(n_layer_) * n_head_kv_ * n_ctx_ * head_bytes());
}

static void put_row(uint8_t* dst, const float* src, size_t n, bool f16) {
    if (!f16) {
        std::memcpy(dst, src, n * sizeof(float));
        return;
    }
    auto* h = reinterpret_cast<uint16_t*>(dst);
    for (size_t i = 0; i < n; ++i) h[i] = f32_to_f16(src[i]);
}

static void get_row(const uint8_t* src, float* dst, size_t n, bool f16) {
    if (!f16) {
        std::memcpy(dst, src, n * sizeof(float));
        return;
    }
    const auto* h = reinterpret_cast<const uint16_t*>(src);
    for (size_t i = 0; i < n; ++i) dst[i] = f16_to_f32(h[i]);
}

// Where element e (head e / head_dim, dimension e % head_dim) of position pos's key or
// value row is stored.
size_t KvCache::elem_offset(bool key, uint32_t layer, uint32_t pos, size_t e) const {
    const uint32_t h = uint32_t(e / head_dim_);
    const size_t d = e % head_dim_;
    return key ? k_elem(layer, h, pos, d) : v_offset(layer, h, pos) + d * elem_;
}

void KvCache::store(uint32_t layer, uint32_t pos, const float* k, const float* v) {
    for (size_t e = 0; e < row_; ++e) {
        put_row(k_.data() + elem_offset(true, layer, pos, e), k + e, 1, f16_);
        put_row(v_.data() + elem_offset(false, layer, pos, e), v + e, 1, f16_);
    }
}

void KvCache::load_k(uint32_t layer, uint32_t pos, size_t off, size_t n, float* out) const {
    for (size_t i = 0; i < n; ++i) get_row(k_.data() + elem_offset(true, layer, pos, off + i), out + i, 1, f16_);
}

void KvCache::load_v(uint32_t layer, uint32_t pos, size_t off, size_t n, float* out) const {
    for (size_t i = 0; i < n; ++i) get_row(v_.data() + elem_offset(false, layer, pos, off + i), out + i, 1, f16_);
}

void KvCache::read_row(bool key, uint32_t layer, uint32_t pos, uint8_t* dst) const {
    const uint8_t* base = key ? k_.data() : v_.data();
    for (size_t e = 0; e < row_; ++e) std::memcpy(dst + e * elem_, base + elem_offset(key, layer, pos, e), elem_);
}

void KvCache::write_row(bool key, uint32_t layer, uint32_t pos, const uint8_t* src) {
    uint8_t* base = key ? k_.data() : v_.data();
    for (size_t e = 0; e < row_; ++e) std::memcpy(base + elem_offset(key, layer, pos, e), src + e * elem_, elem_);
}

}  // namespace qwen
