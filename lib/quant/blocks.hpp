// The byte layouts of the GGML block formats, as stored in GGUF files.
//
// A quantized row is a sequence of blocks; each block holds the scale(s) and packed integer
// codes of 32 ("legacy" and IQ4_NL) or 256 (K-quants and IQ) consecutive elements. All
// multi-byte fields are little-endian; "f16" fields are IEEE half floats (core/half.hpp).
// The structs have no padding (checked below) and are only ever memcpy'd from or to the
// file bytes, so rows need no particular alignment.
//
// Notation in the comments: x = element value, q = stored code, d/m = block scale/offset.
#pragma once

#include "format/tensor_type.hpp"

#include <cstddef>
#include <cstdint>
#include <type_traits>

namespace qwen::quant {

constexpr size_t kQK = 32;    // elements per legacy / IQ4_NL block
constexpr size_t kQK_K = 256; // elements per K-quant / IQ super-block

// ---------------------------------------------------------------- 32-element blocks

// x = d * (q - 8), q in [0, 15]. qs[j] holds element j (low nibble) and j + 16 (high).
struct BlockQ4_0 {
    uint16_t d;  // f16
    uint8_t qs[kQK / 2];
};

// x = d * q + m, q in [0, 15]; nibbles as in Q4_0.
struct BlockQ4_1 {
    uint16_t d;  // f16
    uint16_t m;  // f16
    uint8_t qs[kQK / 2];
};

// x = d * (q - 16), q in [0, 31]: low 4 bits as in Q4_0, bit 4 of element j is bit j of qh.
struct BlockQ5_0 {
    uint16_t d;  // f16
    uint8_t qh[4];
    uint8_t qs[kQK / 2];
};

// x = d * q + m, q in [0, 31]; bits as in Q5_0.
struct BlockQ5_1 {
    uint16_t d;  // f16
    uint16_t m;  // f16
    uint8_t qh[4];
    uint8_t qs[kQK / 2];
};

// x = d * q, q in [-127, 127] (the quantizers never produce -128).
struct BlockQ8_0 {
    uint16_t d;  // f16
    int8_t qs[kQK];
};

// Q8_0 plus s = d * sum(q): the activation side of Q4_1/Q5_1 dot products. No file stores it.
struct BlockQ8_1 {
    uint16_t d;  // f16
    uint16_t s;  // f16
    int8_t qs[kQK];
};

// x = d * kIq4nlValues[q]: a 16-entry non-linear codebook (iq_grids.hpp); nibbles as Q4_0.
struct BlockIQ4_NL {
    uint16_t d;  // f16
    uint8_t qs[kQK / 2];
};

// ---------------------------------------------------------------- 256-element super-blocks
// Sub-blocks of 16 or 32 elements carry small integer scales that multiply the f16
// super-block scale d (and offsets that multiply dmin).

// 16 sub-blocks of 16: x = d * (scales[i] & 15) * q - dmin * (scales[i] >> 4), q in [0, 3].
// qs: in each 128-element half, byte l holds elements l, l+32, l+64, l+96 at bits 0, 2, 4, 6.
struct BlockQ2_K {
    uint8_t scales[kQK_K / 16];
    uint8_t qs[kQK_K / 4];
    uint16_t d;     // f16
    uint16_t dmin;  // f16
};

// 16 sub-blocks of 16: x = d * (s - 32) * (q - 4), q in [0, 7], s a 6-bit scale (low nibbles
// in scales[0..7] for sub-blocks 0..7 and high nibbles for 8..15, top 2 bits in
// scales[8..11]). q's low 2 bits are packed as in Q2_K; bit 2 of element j is bit j / 32 of
// hmask[j % 32].
struct BlockQ3_K {
    uint8_t hmask[kQK_K / 8];
    uint8_t qs[kQK_K / 4];
    uint8_t scales[12];
    uint16_t d;  // f16
};

// 8 sub-blocks of 32 with a 6-bit scale sc and 6-bit min m each, packed in 12 bytes
// (scale_min_k4()): x = d * sc * q - dmin * m, q in [0, 15]. qs: each 64-element group is
// 32 bytes, elements 0..31 in the low nibbles and 32..63 in the high ones.
struct BlockQ4_K {
    uint16_t d;     // f16
    uint16_t dmin;  // f16
    uint8_t scales[12];
    uint8_t qs[kQK_K / 2];
};

// Q4_K plus a fifth bit per element: bit (2g) of qh[l] for element l of 64-group g's low
// half, bit (2g + 1) for its high half.
struct BlockQ5_K {
    uint16_t d;     // f16
    uint16_t dmin;  // f16
    uint8_t scales[12];
    uint8_t qh[kQK_K / 8];
    uint8_t qs[kQK_K / 2];
};

// 16 sub-blocks of 16: x = d * scales[i] * (q - 32), q in [0, 63]. Per 128-element half:
// ql (64 bytes) holds the low nibbles of elements l, l+32 (low) and l+64, l+96 (high);
// qh (32 bytes) their top 2 bits at bits 0, 2, 4, 6.
struct BlockQ6_K {
    uint8_t ql[kQK_K / 2];
    uint8_t qh[kQK_K / 4];
    int8_t scales[kQK_K / 16];
    uint16_t d;  // f16
};

// The activation side of K-quant dot products: x = d * q, with bsums the sums of q over
// each 16 elements. No file stores it; d is a plain float.
struct BlockQ8_K {
    float d;
    int8_t qs[kQK_K];
    int16_t bsums[kQK_K / 16];
};

// 8 sub-blocks of 32 with a 6-bit scale ls = 32 + [-32, 31]: x = d * (ls - 32) * v, v from
// the IQ4_NL codebook. ls low nibbles in scales_l (two per byte), high 2 bits in scales_h.
struct BlockIQ4_XS {
    uint16_t d;  // f16
    uint16_t scales_h;
    uint8_t scales_l[kQK_K / 64];
    uint8_t qs[kQK_K / 2];
};

// IQ2/IQ3: each group of 8 (IQ2) or 4 (IQ3) element magnitudes is an index into a fixed
// grid (iq_grids.hpp), with sign bits alongside (7 stored + 1 parity bit for the XXS/XS
// forms, 8 stored for the S forms).

// Per 32 elements: 4 grid bytes then a uint32 with four 7-bit sign codes and a 4-bit scale
// s in the top bits: x = d * (0.5 + s) * 0.25 * grid * sign.
struct BlockIQ2_XXS {
    uint16_t d;  // f16
    uint16_t qs[kQK_K / 8];
};

// Per 8 elements a uint16: 9-bit grid index, 7-bit sign code. Two 4-bit scales per 32.
struct BlockIQ2_XS {
    uint16_t d;  // f16
    uint16_t qs[kQK_K / 8];
    uint8_t scales[kQK_K / 32];
};

// qs: 32 low bytes of 10-bit grid indices, then 32 sign bytes; qh: the index high bits.
struct BlockIQ2_S {
    uint16_t d;  // f16
    uint8_t qs[kQK_K / 4];
    uint8_t qh[kQK_K / 32];
    uint8_t scales[kQK_K / 32];
};

// 64 grid bytes (4 elements each), then per 32 elements a uint32 of four 7-bit sign codes
// and a 4-bit scale: x = d * (0.5 + s) * 0.5 * grid * sign.
struct BlockIQ3_XXS {
    uint16_t d;  // f16
    uint8_t qs[3 * kQK_K / 8];
};

// 9-bit grid indices (low bytes in qs, high bits in qh), 8 explicit sign bits per 8
// elements, 4-bit scales per 32: x = d * (1 + 2 s) * grid * sign.
struct BlockIQ3_S {
    uint16_t d;  // f16
    uint8_t qs[kQK_K / 4];
    uint8_t qh[kQK_K / 32];
    uint8_t signs[kQK_K / 8];
    uint8_t scales[kQK_K / 64];
};

// Sizes as the file format defines them (format/tensor_type.cpp holds the same numbers; the
// unit tests check that both agree).
static_assert(sizeof(BlockQ4_0) == 2 + kQK / 2);
static_assert(sizeof(BlockQ4_1) == 4 + kQK / 2);
static_assert(sizeof(BlockQ5_0) == 2 + 4 + kQK / 2);
static_assert(sizeof(BlockQ5_1) == 4 + 4 + kQK / 2);
static_assert(sizeof(BlockQ8_0) == 2 + kQK);
static_assert(sizeof(BlockQ8_1) == 4 + kQK);
static_assert(sizeof(BlockIQ4_NL) == 2 + kQK / 2);
static_assert(sizeof(BlockQ2_K) == 84);
static_assert(sizeof(BlockQ3_K) == 110);
static_assert(sizeof(BlockQ4_K) == 144);
static_assert(sizeof(BlockQ5_K) == 176);
static_assert(sizeof(BlockQ6_K) == 210);
static_assert(sizeof(BlockQ8_K) == 292);
static_assert(sizeof(BlockIQ4_XS) == 136);
static_assert(sizeof(BlockIQ2_XXS) == 66);
static_assert(sizeof(BlockIQ2_XS) == 74);
static_assert(sizeof(BlockIQ2_S) == 82);
static_assert(sizeof(BlockIQ3_XXS) == 98);
static_assert(sizeof(BlockIQ3_S) == 110);

// The helpers below are `static` (internal linkage), as is every function in this header and
// quant/iq_grids.hpp: the kernels compiled with AVX2, AVX-512 or dotprod flags call them, and an
// inline function with external linkage would leave an out-of-line copy built with those flags
// that the linker may keep for the portable callers too (see kernels/dense_impl.hpp).

// The 6-bit scale and min of sub-block j (0..7) of a Q4_K / Q5_K block: the first four
// pairs sit in the low 6 bits of bytes 0..7, the last four in the nibbles of bytes 8..11
// with their top 2 bits in the spare high bits of bytes 0..7.
static inline void scale_min_k4(int j, const uint8_t* s, uint8_t& sc, uint8_t& m) {
    if (j < 4) {
        sc = s[j] & 63;
        m = s[j + 4] & 63;
    } else {
        sc = uint8_t((s[j + 4] & 0xF) | ((s[j - 4] >> 6) << 4));
        m = uint8_t((s[j + 4] >> 4) | ((s[j] >> 6) << 4));
    }
}

// The 6-bit scale of sub-block j (0..15) of a Q3_K block, offset by 32 (the value is the
// scale - 32): low nibbles of bytes 0..7, then their high nibbles, with the top 2 bits in
// bytes 8..11.
static inline int scale_q3_k(int j, const uint8_t* s) {
    const int low = j < 8 ? s[j] & 15 : s[j - 8] >> 4;
    return low | ((s[8 + j % 4] >> (2 * (j / 4))) & 3) << 4;
}

// The signed code q in [-4, 3] of element 128 h + 32 s + l (h < 2, s < 4, l < 32) of a Q3_K
// block: the 2-bit field s of qs[32 h + l], less 4 where bit 4 h + s of hmask[l] is clear.
static inline int q3_k_code(const BlockQ3_K& b, int h, int s, int l) {
    return ((b.qs[32 * h + l] >> (2 * s)) & 3) - ((b.hmask[l] >> (4 * h + s)) & 1 ? 0 : 4);
}

// The 6-bit scale of sub-block k (0..7) of an IQ4_XS block, offset by 32: a nibble of
// scales_l and two bits of scales_h.
static inline int scale_iq4_xs(int k, const uint8_t* scales_l, uint16_t scales_h) {
    return ((scales_l[k / 2] >> (4 * (k % 2))) & 15) | ((scales_h >> (2 * k)) & 3) << 4;
}

// Calls f(std::type_identity<Block>{}) with the block struct of `type` and returns true, or
// returns false for a type without one (dense and integer types, IQ1_S, IQ1_M): the one
// place that maps type ids to layouts.
template <class F>
static bool visit_block(TensorType type, F&& f) {
    switch (type) {
    case TensorType::Q4_0: f(std::type_identity<BlockQ4_0>{}); return true;
    case TensorType::Q4_1: f(std::type_identity<BlockQ4_1>{}); return true;
    case TensorType::Q5_0: f(std::type_identity<BlockQ5_0>{}); return true;
    case TensorType::Q5_1: f(std::type_identity<BlockQ5_1>{}); return true;
    case TensorType::Q8_0: f(std::type_identity<BlockQ8_0>{}); return true;
    case TensorType::Q8_1: f(std::type_identity<BlockQ8_1>{}); return true;
    case TensorType::IQ4_NL: f(std::type_identity<BlockIQ4_NL>{}); return true;
    case TensorType::Q2_K: f(std::type_identity<BlockQ2_K>{}); return true;
    case TensorType::Q3_K: f(std::type_identity<BlockQ3_K>{}); return true;
    case TensorType::Q4_K: f(std::type_identity<BlockQ4_K>{}); return true;
    case TensorType::Q5_K: f(std::type_identity<BlockQ5_K>{}); return true;
    case TensorType::Q6_K: f(std::type_identity<BlockQ6_K>{}); return true;
    case TensorType::Q8_K: f(std::type_identity<BlockQ8_K>{}); return true;
    case TensorType::IQ4_XS: f(std::type_identity<BlockIQ4_XS>{}); return true;
    case TensorType::IQ2_XXS: f(std::type_identity<BlockIQ2_XXS>{}); return true;
    case TensorType::IQ2_XS: f(std::type_identity<BlockIQ2_XS>{}); return true;
    case TensorType::IQ2_S: f(std::type_identity<BlockIQ2_S>{}); return true;
    case TensorType::IQ3_XXS: f(std::type_identity<BlockIQ3_XXS>{}); return true;
    case TensorType::IQ3_S: f(std::type_identity<BlockIQ3_S>{}); return true;
    default: return false;
    }
}

static inline bool is_dense(TensorType type) {
    return type == TensorType::F32 || type == TensorType::F16 || type == TensorType::BF16;
}

}  // namespace qwen::quant
