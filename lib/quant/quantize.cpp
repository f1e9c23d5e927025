#include "quant/quantize.hpp"

#include "quant/internal.hpp"

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <limits>
#include <type_traits>

// The 32-element formats, Q8_K, and the row-level dispatch (the K-quants and IQ4 are in
// quantize_k.cpp). As in dequantize.cpp, the float operations follow ggml's order exactly
// and the file is compiled with -ffp-contract=off.

namespace qwen::quant {

namespace {

// The element of largest magnitude (the first one on ties), as the symmetric formats
// choose their scale from its signed value.
float signed_absmax(const float* x, size_t n) {
    float amax = 0.0f, max = 0.0f;
    for (size_t j = 0; j < n; ++j)
        if (amax < std::fabs(x[j])) {
            amax = std::fabs(x[j]);
            max = x[j];
        }
    return max;
}

float reciprocal_or_zero(float d) { return d != 0.0f ? 1.0f / d : 0.0f; }

// Packs element j (low nibble) and j + 16 (high nibble) of 5-bit codes, their bit 4 into qh.
template <class B>
void pack_q5(const uint8_t* q, B& y) {
    uint32_t qh = 0;
    for (size_t j = 0; j < kQK / 2; ++j) {
        y.qs[j] = uint8_t((q[j] & 0x0F) | ((q[j + 16] & 0x0F) << 4));
        qh |= uint32_t((q[j] & 0x10u) >> 4) << j;
        qh |= uint32_t((q[j + 16] & 0x10u) >> 4) << (j + 16);
    }
    std::memcpy(y.qh, &qh, 4);
}

// Symmetric formats: d = max / -half, so the extreme element maps to code 0 exactly and
// zero to code `half`; codes are clamped to `top`.
template <class B>
void symmetric(const float* x, B& y, float half, int top, uint8_t* q) {
    const float d = signed_absmax(x, kQK) / -half;
    const float id = reciprocal_or_zero(d);
    y.d = f32_to_f16(d);
    for (size_t j = 0; j < kQK; ++j) q[j] = uint8_t(std::min(top, trunc_int8(x[j] * id + (half + 0.5f))));
}

void quantize_block(const float* x, BlockQ4_0& y) {
    uint8_t q[kQK];
    symmetric(x, y, 8.0f, 15, q);
    for (size_t j = 0; j < kQK / 2; ++j) y.qs[j] = uint8_t(q[j] | (q[j + 16] << 4));
}

void quantize_block(const float* x, BlockQ5_0& y) {
    uint8_t q[kQK];
    symmetric(x, y, 16.0f, 31, q);
    pack_q5(q, y);
}

// Asymmetric formats: x = d * q + min over [min, max].
template <class B>
float asymmetric(const float* x, B& y, int levels, float& min) {
    min = FLT_MAX;
    float max = -FLT_MAX;
    for (size_t j = 0; j < kQK; ++j) {
        if (x[j] < min) min = x[j];
        if (x[j] > max) max = x[j];
    }
    const float d = (max - min) / float(levels - 1);
    y.d = f32_to_f16(d);
    y.m = f32_to_f16(min);
    return reciprocal_or_zero(d);
}

void quantize_block(const float* x, BlockQ4_1& y) {
    float min;
    const float id = asymmetric(x, y, 16, min);
    uint8_t q[kQK];
    for (size_t j = 0; j < kQK; ++j) q[j] = uint8_t(std::min(15, trunc_int8((x[j] - min) * id + 0.5f)));
    for (size_t j = 0; j < kQK / 2; ++j) y.qs[j] = uint8_t(q[j] | (q[j + 16] << 4));
}

void quantize_block(const float* x, BlockQ5_1& y) {
    float min;
    const float id = asymmetric(x, y, 32, min);
    uint8_t q[kQK];
    for (size_t j = 0; j < kQK; ++j) q[j] = trunc_low_byte((x[j] - min) * id + 0.5f);  // no clamp, as ggml
    pack_q5(q, y);
}

// Q8_0 / Q8_1: d = amax / 127, codes rounded half away from zero.
template <class B>
float q8(const float* x, B& y) {
    float amax = 0.0f;
    for (size_t j = 0; j < kQK; ++j) amax = std::max(amax, std::fabs(x[j]));
    const float d = amax / 127.0f;
    const float id = reciprocal_or_zero(d);
    y.d = f32_to_f16(d);
    for (size_t j = 0; j < kQK; ++j) y.qs[j] = int8_t(trunc_int8(std::round(x[j] * id)));
    return d;
}

void quantize_block(const float* x, BlockQ8_0& y) { q8(x, y); }

void quantize_block(const float* x, BlockQ8_1& y) {
    const float d = q8(x, y);
    int sum = 0;
    for (size_t j = 0; j < kQK; ++j) sum += y.qs[j];
    y.s = f32_to_f16(float(sum) * d);
}

// Q8_K keeps a float scale d = max / -127 (sign included) and the 16-element code sums.
void quantize_block(const float* x, BlockQ8_K& y) {
    const float max = signed_absmax(x, kQK_K);
    std::memset(&y, 0, sizeof y);
    if (max == 0.0f) return;
    const float iscale = -127.0f / max;
    for (size_t j = 0; j < kQK_K; ++j) y.qs[j] = int8_t(std::min(127, nearest_int(iscale * x[j])));
    for (size_t j = 0; j < kQK_K / 16; ++j) {
        int sum = 0;
        for (size_t i = 0; i < 16; ++i) sum += y.qs[16 * j + i];
        y.bsums[j] = int16_t(sum);
    }
    y.d = 1.0f / iscale;
}

// The defined result for a block with a NaN or an infinity (see quantize.hpp): codes zero,
// every scale NaN. Zero integer sub-scales still give NaN (NaN * 0 is NaN).
template <class B>
void poison(B& y) {
    std::memset(&y, 0, sizeof y);
    if constexpr (std::is_same_v<B, BlockQ8_K>)
        y.d = std::numeric_limits<float>::quiet_NaN();
    else
        y.d = kF16NaN;
    if constexpr (requires { y.m; }) y.m = kF16NaN;
    if constexpr (requires { y.s; }) y.s = kF16NaN;
    if constexpr (requires { y.dmin; }) y.dmin = kF16NaN;
}

template <class B>
void blocks(const float* x, uint8_t* dst, size_t n, size_t per_block) {
    for (size_t i = 0; i < n / per_block; ++i) {
        B y;
        const float* xb = x + i * per_block;
        if (all_finite(xb, per_block))
            quantize_block(xb, y);
        else
            poison(y);
        std::memcpy(dst + i * sizeof(B), &y, sizeof(B));
    }
}

void dense(TensorType type, const float* x, uint8_t* dst, size_t n) {
    if (type == TensorType::F32) {
        std::memcpy(dst, x, 4 * n);
        return;
    }
    for (size_t i = 0; i < n; ++i) {
        const uint16_t v = type == TensorType::F16 ? f32_to_f16(x[i]) : f32_to_bf16(x[i]);
        std::memcpy(dst + 2 * i, &v, 2);
    }
}

}  // namespace

// The block types that have a quantize_block() above or in quantize_k.cpp.
template <class B>
constexpr bool kHasQuantizer = requires(B& y) { quantize_block(static_cast<const float*>(nullptr), y); };

bool can_quantize(TensorType type) {
    bool ok = is_dense(type);
    visit_block(type, [&]<class B>(std::type_identity<B>) { ok = kHasQuantizer<B>; });
    return ok;
}

void quantize_row(TensorType type, const float* src, void* dst, size_t n) {
    const size_t per = checked_block_elems("quantize", type, can_quantize(type), n);
    auto* d = static_cast<uint8_t*>(dst);
    const bool block = visit_block(type, [&]<class B>(std::type_identity<B>) {
        if constexpr (kHasQuantizer<B>) blocks<B>(src, d, n, per);
    });
    if (!block) dense(type, src, d, n);
}

}  // namespace qwen::quant
