#include "kv/kv_cache.hpp"

#include "core/half.hpp"

#include <cstring>

namespace qwen {

KvCache::KvCache(uint32_t n_layer, uint32_t n_ctx, uint32_t row_elems, bool f16)
    : n_layer_(n_layer), n_ctx_(n_ctx), row_(row_elems), elem_(f16 ? 2 : 4), f16_(f16) {
    const size_t bytes = size_t(n_layer_) * n_ctx_ * row_ * elem_;
    k_ = PageBuffer(bytes);
    v_ = PageBuffer(bytes);
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

void KvCache::store(uint32_t layer, uint32_t pos, const float* k, const float* v) {
    put_row(k_.data() + offset(layer, pos), k, row_, f16_);
    put_row(v_.data() + offset(layer, pos), v, row_, f16_);
}

void KvCache::load_k(uint32_t layer, uint32_t pos, size_t off, size_t n, float* out) const {
    get_row(k_.data() + offset(layer, pos) + off * elem_, out, n, f16_);
}

void KvCache::load_v(uint32_t layer, uint32_t pos, size_t off, size_t n, float* out) const {
    get_row(v_.data() + offset(layer, pos) + off * elem_, out, n, f16_);
}

}  // namespace qwen
