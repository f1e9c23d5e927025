#include "core/half.hpp"

#include <doctest/doctest.h>

#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>

#if defined(__x86_64__)
#include <immintrin.h>
__attribute__((target("f16c"))) static uint16_t hw_f32_to_f16(float f) {
    return uint16_t(_cvtss_sh(f, _MM_FROUND_TO_NEAREST_INT));
}
__attribute__((target("f16c"))) static float hw_f16_to_f32(uint16_t h) { return _cvtsh_ss(h); }
#endif

using namespace qwen;

TEST_CASE("f16 -> f32 is exact for every half value") {
#if defined(__x86_64__)
    if (!__builtin_cpu_supports("f16c")) return;
    for (uint32_t h = 0; h < 65536; ++h) {
        float a = f16_to_f32(uint16_t(h)), b = hw_f16_to_f32(uint16_t(h));
        if (std::isnan(b)) {
            CHECK(std::isnan(a));
        } else {
            REQUIRE(std::bit_cast<uint32_t>(a) == std::bit_cast<uint32_t>(b));
        }
    }
#endif
}

TEST_CASE("f32 -> f16 rounds to nearest even like F16C") {
#if defined(__x86_64__)
    if (!__builtin_cpu_supports("f16c")) return;
    // Every float whose low 12 bits are a few interesting patterns, over the full exponent range.
    const uint32_t lows[] = {0x000, 0x001, 0xfff, 0x1000, 0x1001, 0x0fff, 0x2000, 0x1fff, 0x3000};
    for (uint32_t hi = 0; hi < (1u << 19); ++hi) {
        for (uint32_t low : lows) {
            uint32_t bits = (hi << 13) | (low & 0x1fff);
            float f = std::bit_cast<float>(bits);
            if (std::isnan(f)) continue;
            REQUIRE(f32_to_f16(f) == hw_f32_to_f16(f));
        }
    }
#endif
}

TEST_CASE("bf16 round trip and rounding") {
    CHECK(bf16_to_f32(f32_to_bf16(1.0f)) == 1.0f);
    CHECK(bf16_to_f32(f32_to_bf16(-2.5f)) == -2.5f);
    // 1 + 2^-8 is exactly halfway between two bf16 values: ties to even (1.0).
    CHECK(bf16_to_f32(f32_to_bf16(1.0f + 0x1p-8f)) == 1.0f);
    CHECK(bf16_to_f32(f32_to_bf16(1.0f + 0x1p-8f + 0x1p-20f)) == 1.0f + 0x1p-7f);
    CHECK(std::isnan(bf16_to_f32(f32_to_bf16(std::numeric_limits<float>::quiet_NaN()))));
    CHECK(std::isinf(bf16_to_f32(f32_to_bf16(std::numeric_limits<float>::infinity()))));
}
