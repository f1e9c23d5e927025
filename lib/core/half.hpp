// IEEE half and bfloat16 <-> float, bit-exact with ggml's scalar conversions
// (round-to-nearest-even; NaN stays NaN).
#pragma once

#include <bit>
#include <cstdint>
#include <cstring>

namespace qwen {

inline float bf16_to_f32(uint16_t h) { return std::bit_cast<float>(uint32_t(h) << 16); }

inline uint16_t f32_to_bf16(float f) {
    uint32_t u = std::bit_cast<uint32_t>(f);
    if ((u & 0x7fffffff) > 0x7f800000) return uint16_t((u >> 16) | 64);  // quiet NaN
    return uint16_t((u + (0x7fff + ((u >> 16) & 1))) >> 16);
}

inline float f16_to_f32(uint16_t h) {
    const uint32_t sign = uint32_t(h & 0x8000) << 16;
    const uint32_t exp = (h >> 10) & 0x1f;
    const uint32_t mant = h & 0x3ff;
    if (exp == 0x1f) return std::bit_cast<float>(sign | 0x7f800000 | (mant << 13));
    if (exp == 0) {
        // zero or subnormal: mant * 2^-24
        float v = float(mant) * 0x1p-24f;
        return sign ? -v : v;
    }
    return std::bit_cast<float>(sign | ((exp + 112) << 23) | (mant << 13));
}

inline uint16_t f32_to_f16(float f) {
    // Round-to-nearest-even, as the F16C instruction and ggml's fallback do.
    uint32_t x = std::bit_cast<uint32_t>(f);
    const uint32_t sign = (x >> 16) & 0x8000;
    x &= 0x7fffffff;
    if (x > 0x7f800000) return uint16_t(sign | 0x7e00);  // NaN
    if (x >= 0x477ff000) {                                  // rounds to >= 65536: Inf
        return uint16_t(sign | 0x7c00);
    }
    if (x < 0x38800000) {  // below the smallest normal half: subnormal or zero
        float v = std::bit_cast<float>(x) * 0x1p24f;  // exact in float for these magnitudes
        // nearbyint with ties-to-even under the default rounding mode
        float r = v + 0x1p23f - 0x1p23f;
        return uint16_t(sign | uint32_t(r));
    }
    uint32_t mant_odd = (x >> 13) & 1;
    x += 0xfff + mant_odd;  // round to nearest even at bit 13
    return uint16_t(sign | ((x - (112u << 23)) >> 13));
}

}  // namespace qwen
