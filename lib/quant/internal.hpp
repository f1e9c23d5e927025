// Internal to lib/quant: the argument checks of the row functions, the arithmetic helpers
// the quantizers share, and the per-block quantizers of quantize_k.cpp (K-quants and IQ4),
// which quantize.cpp dispatches to.
#pragma once

#include "core/error.hpp"
#include "core/half.hpp"
#include "quant/blocks.hpp"

#include <cmath>
#include <cstdint>
#include <cstring>

namespace qwen::quant {

// Elements per block of `type`, after checking a row function's arguments (`what` names the
// function in messages): QWEN_ERR_UNSUPPORTED unless `supported`, QWEN_ERR_INVALID_ARGUMENT
// unless n is a whole number of blocks.
inline size_t checked_block_elems(const char* what, TensorType type, bool supported, size_t n) {
    if (!supported) fail(QWEN_ERR_UNSUPPORTED, what, ": no support for tensor type ", tensor_type_name(type));
    const size_t per = tensor_type_info(type).block_elems;
    if (n % per)
        fail(QWEN_ERR_INVALID_ARGUMENT, what, ": ", n, " elements are not a whole number of ",
             tensor_type_name(type), " blocks of ", per);
    return per;
}

// Round to nearest (ties to even) by adding 1.5 * 2^23 and reading the mantissa bits, as
// ggml does. Meant for |v| <= 2^22; larger or non-finite values give ggml's same
// (meaningless but deterministic) integers, which keeps the bytes identical.
inline int nearest_int(float v) {
    const float biased = v + 12582912.0f;
    int32_t bits;
    std::memcpy(&bits, &biased, 4);
    return (bits & 0x007fffff) - 0x00400000;
}

// C's float -> integer conversion as x86-64 performs it (cvttss2si: truncation toward zero,
// INT32_MIN for NaN and out-of-range values), narrowed to the low byte as a cast to an
// 8-bit type does. ggml's legacy quantizers rely on it for blocks whose reciprocal scale
// overflows; spelling it out keeps our result defined and equal to theirs.
inline uint8_t trunc_low_byte(float v) {
    const int32_t i = (v >= -2147483648.0f && v < 2147483648.0f) ? int32_t(v) : INT32_MIN;
    return uint8_t(uint32_t(i));
}
inline int trunc_int8(float v) { return int8_t(trunc_low_byte(v)); }

inline bool all_finite(const float* x, size_t n) {
    for (size_t i = 0; i < n; ++i)
        if (!std::isfinite(x[i])) return false;
    return true;
}

constexpr uint16_t kF16NaN = 0x7E00;

// Per-block quantizers (quantize_k.cpp): x holds the block's 256 (IQ4_NL: 32) finite values.
void quantize_block(const float* x, BlockQ4_K& y);
void quantize_block(const float* x, BlockQ5_K& y);
void quantize_block(const float* x, BlockQ6_K& y);
void quantize_block(const float* x, BlockIQ4_NL& y);
void quantize_block(const float* x, BlockIQ4_XS& y);

}  // namespace qwen::quant
