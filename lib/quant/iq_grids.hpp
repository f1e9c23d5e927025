// Codebooks of the IQ formats (data in iq_grids.cpp) and the sign-code helpers they share.
#pragma once

#include <bit>
#include <cstddef>
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
static constexpr uint8_t signs_from_code7(uint32_t code7) {
    return uint8_t(code7 | ((std::popcount(code7) & 1u) << 7));
}

// Sign tables: lane[i] holds the 8 signs of a group of 8 elements, one per byte (byte j for
// element j), so a kernel applies them with one 64-bit load. A plain array member, not
// std::array: indexing it calls no function the ISA-flagged kernels would instantiate.
template <size_t N>
struct SignLanes {
    uint64_t lane[N];
};

// The sign bytes of one group: byte j is `neg` where bit j of `bits` is set, else `pos`.
consteval uint64_t sign_lane(uint32_t bits, uint8_t neg, uint8_t pos) {
    uint64_t v = 0;
    for (int j = 0; j < 8; ++j) v |= uint64_t((bits >> j) & 1 ? neg : pos) << (8 * j);
    return v;
}

// kSignMasks.lane[s]: byte j = 0xFF where bit j of the sign byte s is set, else 0 (masks for
// the portable decoders, which take the explicit sign bytes of the S forms too).
inline constexpr SignLanes<256> kSignMasks = []() consteval {
    SignLanes<256> t{};
    for (uint32_t s = 0; s < 256; ++s) t.lane[s] = sign_lane(s, 0xFF, 0x00);
    return t;
}();

// kSigns7.lane[c]: the signs as bytes -1 / +1 of a group whose 7 stored sign bits are c, the
// 8th their parity (signs_from_code7): the multipliers of the x86 kernels.
inline constexpr SignLanes<128> kSigns7 = []() consteval {
    SignLanes<128> t{};
    for (uint32_t c = 0; c < 128; ++c) t.lane[c] = sign_lane(signs_from_code7(c), 0xFF, 0x01);
    return t;
}();

}  // namespace qwen::quant
