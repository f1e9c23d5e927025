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

// One element in the cache's type (rounded to F16 if it is F16), and back to float.
static void put_elem(uint8_t* dst, float x, bool f16) {
    if (f16) {
        const uint16_t h = f32_to_f16(x);
        std::memcpy(dst, &h, sizeof h);
    } else {
        std::memcpy(dst, &x, sizeof x);
    }
}

static float get_elem(const uint8_t* src, bool f16) {
    if (f16) {
        uint16_t h;
        std::memcpy(&h, src, sizeof h);
        return f16_to_f32(h);
    }
    float x;
    std::memcpy(&x, src, sizeof x);
    return x;
}

// Where element e (head e / head_dim, dimension e % head_dim) of position pos's key or
// value row is stored.
size_t KvCache::elem_offset(bool key, uint32_t layer, uint32_t pos, size_t e) const {
    const uint32_t h = uint32_t(e / head_dim_);
    const size_t d = e % head_dim_;
    return key ? k_elem(layer, h, pos, d) : v_offset(layer, h, pos) + d * elem_;
}

void KvCache::store(uint32_t layer, uint32_t pos, const float* k, const float* v) {
    for (uint32_t h = 0; h < n_head_kv_; ++h)
        store_head(layer, pos, h, k + size_t(h) * head_dim_, v + size_t(h) * head_dim_);
}

void KvCache::store_head(uint32_t layer, uint32_t pos, uint32_t h, const float* k, const float* v) {
    uint8_t* vd = v_.data() + v_offset(layer, h, pos);  // a row of head_dim values
    for (size_t d = 0; d < head_dim_; ++d) put_elem(vd + d * elem_, v[d], f16_);
    uint8_t* kd = k_.data() + k_elem(layer, h, pos, 0);  // a column of its key tile
    for (size_t d = 0; d < head_dim_; ++d) put_elem(kd + d * kKeyTile * elem_, k[d], f16_);
}

void KvCache::load_k(uint32_t layer, uint32_t pos, size_t off, size_t n, float* out) const {
    for (size_t i = 0; i < n; ++i) out[i] = get_elem(k_.data() + elem_offset(true, layer, pos, off + i), f16_);
}

void KvCache::load_v(uint32_t layer, uint32_t pos, size_t off, size_t n, float* out) const {
    for (size_t i = 0; i < n; ++i) out[i] = get_elem(v_.data() + elem_offset(false, layer, pos, off + i), f16_);
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
