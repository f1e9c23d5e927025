#include "kernels/packed.hpp"

#include "quant/blocks.hpp"
#include "quant/iq_grids.hpp"

#include <cstring>
#include <type_traits>

namespace qwen::kernels {

namespace {

constexpr size_t R = kPackRows;

size_t block_elems(TensorType type) {
    switch (type) {
    case TensorType::Q3_K:
    case TensorType::Q4_K:
    case TensorType::Q5_K:
    case TensorType::Q6_K:
    case TensorType::IQ4_XS:
    case TensorType::IQ3_S: return quant::kQK_K;
    default: return quant::kQK;
    }
}

size_t file_block_bytes(TensorType type) {
    switch (type) {
    case TensorType::Q8_0: return sizeof(quant::BlockQ8_0);
    case TensorType::Q4_0: return sizeof(quant::BlockQ4_0);
    case TensorType::IQ4_NL: return sizeof(quant::BlockIQ4_NL);
    case TensorType::Q5_0: return sizeof(quant::BlockQ5_0);
    case TensorType::Q4_1: return sizeof(quant::BlockQ4_1);
    case TensorType::Q5_1: return sizeof(quant::BlockQ5_1);
    case TensorType::Q4_K: return sizeof(quant::BlockQ4_K);
    case TensorType::Q5_K: return sizeof(quant::BlockQ5_K);
    case TensorType::Q6_K: return sizeof(quant::BlockQ6_K);
    case TensorType::Q3_K: return sizeof(quant::BlockQ3_K);
    case TensorType::IQ4_XS: return sizeof(quant::BlockIQ4_XS);
    case TensorType::IQ3_S: return sizeof(quant::BlockIQ3_S);
    default: return 0;
    }
}

// ------------------------------------------------------------ 32-element formats

// Where a 32-element block keeps its codes, its high bits (0: none) and its minimum m
// (0: none); d is always first.
struct Fields32 {
    size_t qs, qh, m;
};

Fields32 fields32(TensorType type) {
    using namespace quant;
    switch (type) {
    case TensorType::Q5_0: return {offsetof(BlockQ5_0, qs), offsetof(BlockQ5_0, qh), 0};
    case TensorType::Q4_1: return {offsetof(BlockQ4_1, qs), 0, offsetof(BlockQ4_1, m)};
    case TensorType::Q5_1: return {offsetof(BlockQ5_1, qs), offsetof(BlockQ5_1, qh), offsetof(BlockQ5_1, m)};
    case TensorType::Q8_0: return {offsetof(BlockQ8_0, qs), 0, 0};
    default: return {offsetof(BlockQ4_0, qs), 0, 0};  // Q4_0, IQ4_NL
    }
}

void pack_block32(TensorType type, const uint8_t* const* blk, uint8_t* out) {
    const Fields32 f = fields32(type);
    uint8_t* codes = out + (f.m ? 4 : 2) * R;
    uint64_t masks[8] = {};
    for (size_t r = 0; r < R; ++r) {
        std::memcpy(out + 2 * r, blk[r], 2);
        if (f.m) std::memcpy(out + 2 * R + 2 * r, blk[r] + f.m, 2);
        if (type == TensorType::Q8_0) {
            for (size_t j = 0; j < 8; ++j)
                for (size_t i = 0; i < 4; ++i) codes[64 * j + 4 * r + i] = blk[r][f.qs + 4 * j + i] ^ 0x80;
            continue;
        }
        for (size_t j = 0; j < 4; ++j) std::memcpy(codes + 64 * j + 4 * r, blk[r] + f.qs + 4 * j, 4);
        if (f.qh) {
            uint32_t qh;
            std::memcpy(&qh, blk[r] + f.qh, 4);
            for (size_t s = 0; s < 8; ++s) masks[s] |= uint64_t((qh >> (4 * s)) & 0xF) << (4 * r);
        }
    }
    if (f.qh) std::memcpy(codes + 4 * 64, masks, sizeof masks);
}

// ------------------------------------------------------------ K-quants

// The 256 unsigned codes of a super-block, as 32 vectors: low nibbles step 2v, high 2v + 1.
void put_nibbles(const uint8_t (&u)[R][256], uint8_t* codes) {
    for (size_t v = 0; v < 32; ++v)
        for (size_t r = 0; r < R; ++r)
            for (size_t i = 0; i < 4; ++i)
                codes[64 * v + 4 * r + i] = uint8_t((u[r][8 * v + i] & 15) | (u[r][8 * v + 4 + i] & 15) << 4);
}

// Q4_K, and Q5_K with bit 4 of each step's codes as 64 masks after the nibbles.
template <class Block>
void pack_q45_k(const uint8_t* const* blk, uint8_t* out) {
    using namespace quant;
    constexpr bool kQ5 = std::is_same_v<Block, BlockQ5_K>;
    uint8_t u[R][256];
    uint64_t bit4[64] = {};
    uint8_t* sc = out + 4 * R;
    uint8_t* mins = sc + 8 * R;
    for (size_t r = 0; r < R; ++r) {
        Block b;
        std::memcpy(&b, blk[r], sizeof b);
        std::memcpy(out + 2 * r, &b.d, 2);
        std::memcpy(out + 2 * R + 2 * r, &b.dmin, 2);
        for (int k = 0; k < 8; ++k) {
            uint8_t s, m;
            scale_min_k4(k, b.scales, s, m);
            sc[16 * k + r] = s;
            const int16_t m16 = m;
            std::memcpy(mins + 64 * (k / 2) + 4 * r + 2 * (k % 2), &m16, 2);
        }
        for (int e = 0; e < 256; ++e) {
            const uint8_t q = b.qs[32 * (e / 64) + e % 32];
            u[r][e] = (e % 64) < 32 ? q & 15 : q >> 4;
            if constexpr (kQ5) {
                const int hi = (b.qh[e % 32] >> (2 * (e / 64) + (e % 64) / 32)) & 1;
                bit4[e / 4] |= uint64_t(hi) << (4 * r + e % 4);
            }
        }
    }
    put_nibbles(u, mins + 4 * 64);
    if constexpr (kQ5) std::memcpy(mins + 4 * 64 + 2048, bit4, sizeof bit4);
}

// The Q6_K layout from each row's f16 d, 16 sub-block scales and unsigned codes u in [0, 63]
// (q + 32).
void put_q6_k(const uint16_t (&d)[R], const int8_t (&scales)[R][16], const uint8_t (&u)[R][256], uint8_t* out) {
    int8_t* sc = reinterpret_cast<int8_t*>(out + 2 * R);
    uint8_t* codes = out + 2 * R + 16 * R;
    uint64_t bit4[64] = {}, bit5[64] = {};
    for (size_t r = 0; r < R; ++r) {
        std::memcpy(out + 2 * r, &d[r], 2);
        for (int k = 0; k < 16; ++k) sc[16 * k + r] = scales[r][k];
        for (int e = 0; e < 256; ++e) {
            bit4[e / 4] |= uint64_t((u[r][e] >> 4) & 1) << (4 * r + e % 4);
            bit5[e / 4] |= uint64_t((u[r][e] >> 5) & 1) << (4 * r + e % 4);
        }
    }
    put_nibbles(u, codes);
    std::memcpy(codes + 32 * 64, bit4, sizeof bit4);
    std::memcpy(codes + 32 * 64 + sizeof bit4, bit5, sizeof bit5);
}

void pack_q6_k(const uint8_t* const* blk, uint8_t* out) {
    using namespace quant;
    uint16_t d[R];
    int8_t sc[R][16];
    uint8_t u[R][256];
    for (size_t r = 0; r < R; ++r) {
        BlockQ6_K b;
        std::memcpy(&b, blk[r], sizeof b);
        d[r] = b.d;
        std::memcpy(sc[r], b.scales, 16);
        for (int e = 0; e < 256; ++e) {
            const int h = e / 128, l = e % 32, part = (e % 128) / 32;
            const uint8_t ql = b.ql[64 * h + l + 32 * (part % 2)];
            const int lo = part < 2 ? ql & 15 : ql >> 4;
            const int hi = (b.qh[32 * h + l] >> (2 * part)) & 3;
            u[r][e] = uint8_t(lo | hi << 4);  // q + 32, in [0, 63]
        }
    }
    put_q6_k(d, sc, u, out);
}

// Q3_K in the Q6_K layout: its codes q in [-4, 3] and scales in [-32, 31] are Q6_K's with
// fewer bits used, so the Q6_K kernel gives exactly ggml's Q3_K sums (in 6.6 bits per weight
// instead of 3.4: decode reads more, but through the row-interleaved kernel).
void pack_q3_k(const uint8_t* const* blk, uint8_t* out) {
    using namespace quant;
    uint16_t d[R];
    int8_t sc[R][16];
    uint8_t u[R][256];
    for (size_t r = 0; r < R; ++r) {
        BlockQ3_K b;
        std::memcpy(&b, blk[r], sizeof b);
        d[r] = b.d;
        for (int j = 0; j < 16; ++j) sc[r][j] = int8_t(scale_q3_k(j, b.scales) - 32);
        for (int e = 0; e < 256; ++e) u[r][e] = uint8_t(q3_k_code(b, e / 128, (e % 128) / 32, e % 32) + 32);
    }
    put_q6_k(d, sc, u, out);
}

// IQ4_XS: 16 f16 d; the sub-block scales ls - 32 as sc[k][r] (8 x 16 int8); the 32 code
// vectors of the rows' own 4-bit level indices (the kernel looks the levels up).
void pack_iq4_xs(const uint8_t* const* blk, uint8_t* out) {
    using namespace quant;
    int8_t* sc = reinterpret_cast<int8_t*>(out + 2 * R);
    uint8_t u[R][256];
    for (size_t r = 0; r < R; ++r) {
        BlockIQ4_XS b;
        std::memcpy(&b, blk[r], sizeof b);
        std::memcpy(out + 2 * r, &b.d, 2);
        for (int k = 0; k < 8; ++k)
            sc[16 * k + r] = int8_t(scale_iq4_xs(k, b.scales_l, b.scales_h) - 32);
        for (int e = 0; e < 256; ++e) {
            const uint8_t q = b.qs[16 * (e / 32) + e % 16];
            u[r][e] = (e % 32) < 16 ? q & 15 : q >> 4;
        }
    }
    put_nibbles(u, out + 2 * R + 8 * R);
}

// IQ3_S: its grid magnitudes (1, 3, .., 15) with their signs are codes q in [-15, 15], stored
// as u = q + 16 in the Q5_K way (nibbles, then 64 masks of bit 4); d (16 f16); the scales
// 2 ls + 1 as sc[k][r] (8 x 16 int8).
void pack_iq3_s(const uint8_t* const* blk, uint8_t* out) {
    using namespace quant;
    int8_t* sc = reinterpret_cast<int8_t*>(out + 2 * R);
    uint8_t* codes = out + 2 * R + 8 * R;
    uint8_t u[R][256];
    uint64_t bit4[64] = {};
    for (size_t r = 0; r < R; ++r) {
        BlockIQ3_S b;
        std::memcpy(&b, blk[r], sizeof b);
        std::memcpy(out + 2 * r, &b.d, 2);
        for (int k = 0; k < 8; ++k) sc[16 * k + r] = int8_t(2 * ((b.scales[k / 2] >> (4 * (k % 2))) & 15) + 1);
        for (int e = 0; e < 256; ++e) {
            const int k = e / 32, i = (e % 32) / 4;  // sub-block, grid code in it
            const unsigned index = b.qs[8 * k + i] | (((unsigned(b.qh[k]) >> i) & 1) << 8);
            const int m = grid_byte(kIq3sGrid[index], e % 4);
            const int q = (b.signs[4 * k + i / 2] >> (e % 8)) & 1 ? -m : m;
            u[r][e] = uint8_t(q + 16);
            bit4[e / 4] |= uint64_t(u[r][e] >> 4) << (4 * r + e % 4);
        }
    }
    put_nibbles(u, codes);
    std::memcpy(codes + 32 * 64, bit4, sizeof bit4);
}

}  // namespace

size_t packed_block_bytes(TensorType type) {
    switch (type) {
    case TensorType::Q4_K: return 2496;
    case TensorType::Q5_K: return 3008;
    case TensorType::Q3_K:
    case TensorType::Q6_K: return 3360;
    case TensorType::IQ4_XS: return 2208;
    case TensorType::IQ3_S: return 2720;
    default: return R * file_block_bytes(type);
    }
}

size_t packed_matrix_bytes(TensorType type, size_t rows, size_t cols) {
    return rows / R * (cols / block_elems(type)) * packed_block_bytes(type);
}

bool packable(TensorType type, size_t rows, size_t cols) {
    return file_block_bytes(type) != 0 && rows > 0 && rows % R == 0 && cols > 0 && cols % block_elems(type) == 0;
}

TensorType packed_act_type(TensorType type) {
    return block_elems(type) == quant::kQK_K ? TensorType::Q8_K : TensorType::Q8_0;
}

void pack_groups(TensorType type, const uint8_t* src, size_t row_bytes, size_t cols, size_t g0, size_t g1,
                 uint8_t* dst) {
    const size_t fb = file_block_bytes(type), pb = packed_block_bytes(type), nb = cols / block_elems(type);
    if (!fb) return;
    for (size_t g = g0; g < g1; ++g)
        for (size_t b = 0; b < nb; ++b) {
            const uint8_t* blk[R];
            for (size_t r = 0; r < R; ++r) blk[r] = src + (g * R + r) * row_bytes + b * fb;
            uint8_t* out = dst + (g * nb + b) * pb;
            if (type == TensorType::Q4_K)
                pack_q45_k<quant::BlockQ4_K>(blk, out);
            else if (type == TensorType::Q5_K)
                pack_q45_k<quant::BlockQ5_K>(blk, out);
            else if (type == TensorType::Q6_K)
                pack_q6_k(blk, out);
            else if (type == TensorType::Q3_K)
                pack_q3_k(blk, out);
            else if (type == TensorType::IQ4_XS)
                pack_iq4_xs(blk, out);
            else if (type == TensorType::IQ3_S)
                pack_iq3_s(blk, out);
            else
                pack_block32(type, blk, out);
        }
}

bool bf16_tiles_packable(size_t rows, size_t cols) {
    return rows > 0 && rows % R == 0 && cols > 0 && cols % kBf16TileCols == 0;
}

size_t bf16_tile_offset(size_t rows, size_t cols, size_t g, size_t& stride) {
    const size_t group_bytes = cols / kBf16TileCols * kBf16TileBytes, groups = rows / R;
    if (g + 1 == groups && groups % 2) {
        stride = kBf16TileBytes;
        return g * group_bytes;
    }
    stride = 2 * kBf16TileBytes;
    return (g & ~size_t(1)) * group_bytes + (g & 1) * kBf16TileBytes;
}

void pack_bf16_tiles(const uint8_t* src, size_t row_bytes, size_t rows, size_t cols, size_t g0, size_t g1,
                     uint8_t* dst) {
    for (size_t g = g0; g < g1; ++g) {
        size_t stride;
        uint8_t* out = dst + bf16_tile_offset(rows, cols, g, stride);
        for (size_t k = 0; k < cols / kBf16TileCols; ++k, out += stride)
            for (size_t r = 0; r < R; ++r) {
                const uint8_t* pairs = src + (g * R + r) * row_bytes + k * 2 * kBf16TileCols;  // 16 pairs of row r
                for (size_t i = 0; i < 16; ++i) std::memcpy(out + (16 * i + r) * 4, pairs + 4 * i, 4);
            }
    }
}

}  // namespace qwen::kernels
