// Codebooks of the IQ formats (data in iq_grids.cpp) and the sign-code helpers they share.
#pragma once

#include <bit>
#include <cstdint>

namespace qwen::quant {

extern const int8_t kIq4nlValues[16];  // IQ4_NL / IQ4_XS: the 16 non-linear levels

extern const uint64_t kIq2xxsGrid[256];   // IQ2_XXS: 8 magnitudes in {8, 25, 43} per entry
extern const uint64_t kIq2xsGrid[512];    // IQ2_XS
extern const uint64_t kIq2sGrid[1024];    // IQ2_S
extern const uint32_t kIq3xxsGrid[256];   // IQ3_XXS: 4 magnitudes per entry
extern const uint32_t kIq3sGrid[512];     // IQ3_S

// Byte j of a grid entry: the magnitude of element j of its group.
static inline uint8_t grid_byte(uint64_t entry, int j) { return uint8_t(entry >> (8 * j)); }

// The XXS/XS formats store 7 sign bits per 8 elements; the 8th makes the number of negative
// signs even (the grids were built for that parity).
static inline uint8_t signs_from_code7(uint32_t code7) {
    return uint8_t(code7 | ((std::popcount(code7) & 1u) << 7));
}

}  // namespace qwen::quant
