// Integer-dot matmul for quantized weights in portable C++ (the path of CPUs without AVX2,
// and of Arm): each weight block is decoded once into signed integer codes, multiplied with
// the activation codes of every token in exact integer arithmetic, and the block sums are
// scaled and added in float: ggml's arithmetic, in the order of its reference dot products.
// The plain loops are written for the compiler to vectorize.
#include "core/half.hpp"
#include "kernels/dispatch.hpp"
#include "kernels/packed.hpp"
#include "quant/blocks.hpp"
#include "quant/iq_grids.hpp"

#include <cstring>

namespace qwen::kernels::generic {

namespace {

using namespace quant;

template <class B>
B load(const uint8_t* p) {
    B b;
    std::memcpy(&b, p, sizeof b);
    return b;
}

// ---------------------------------------------------------------- 32-element formats: x = d * q

struct Codes32 {
    float d;
    int8_t q[32];
};

void decode(const BlockQ8_0& b, Codes32& c) {
    c.d = f16_to_f32(b.d);
    std::memcpy(c.q, b.qs, 32);
}
void decode(const BlockQ4_0& b, Codes32& c) {
    c.d = f16_to_f32(b.d);
    for (int j = 0; j < 16; ++j) {
        c.q[j] = int8_t((b.qs[j] & 15) - 8);
        c.q[j + 16] = int8_t((b.qs[j] >> 4) - 8);
    }
}
void decode(const BlockQ5_0& b, Codes32& c) {
    c.d = f16_to_f32(b.d);
    uint32_t qh;
    std::memcpy(&qh, b.qh, 4);
    for (int j = 0; j < 16; ++j) {
        c.q[j] = int8_t(((b.qs[j] & 15) | (((qh >> j) & 1) << 4)) - 16);
        c.q[j + 16] = int8_t(((b.qs[j] >> 4) | (((qh >> (j + 16)) & 1) << 4)) - 16);
    }
}
void decode(const BlockIQ4_NL& b, Codes32& c) {
    c.d = f16_to_f32(b.d);
    for (int j = 0; j < 16; ++j) {
        c.q[j] = kIq4nlValues[b.qs[j] & 15];
        c.q[j + 16] = kIq4nlValues[b.qs[j] >> 4];
    }
}

// ---------------------------------------------------------------- 256-element formats (Q8_K activations)
// x = d * sc[i / 16] * q - dmin * mn[i / 16]: Q4_K's per-32 scales and mins repeated for
// each 16, Q6_K's offset of 32 folded into signed codes (no min term).

struct CodesK {
    float d, dmin;
    int16_t sc[16], mn[16];
    int8_t q[256];
};

// Q4_K, and Q5_K whose bit 4 of element 64 g + 32 h + l is bit 2 g + h of qh[l].
template <class B>
void decode_q45_k(const B& b, const uint8_t* qh, CodesK& c) {
    c.d = f16_to_f32(b.d);
    c.dmin = f16_to_f32(b.dmin);
    for (int j = 0; j < 8; ++j) {
        uint8_t sc, m;
        scale_min_k4(j, b.scales, sc, m);
        c.sc[2 * j] = c.sc[2 * j + 1] = sc;
        c.mn[2 * j] = c.mn[2 * j + 1] = m;
    }
    for (int g = 0; g < 4; ++g)
        for (int l = 0; l < 32; ++l) {
            const int h0 = qh ? ((qh[l] >> (2 * g)) & 1) << 4 : 0, h1 = qh ? ((qh[l] >> (2 * g + 1)) & 1) << 4 : 0;
            c.q[64 * g + l] = int8_t((b.qs[32 * g + l] & 15) | h0);
            c.q[64 * g + 32 + l] = int8_t((b.qs[32 * g + l] >> 4) | h1);
        }
}
void decode(const BlockQ4_K& b, CodesK& c) { decode_q45_k(b, nullptr, c); }
void decode(const BlockQ5_K& b, CodesK& c) { decode_q45_k(b, b.qh, c); }
void decode(const BlockQ6_K& b, CodesK& c) {
    c.d = f16_to_f32(b.d);
    c.dmin = 0.0f;
    for (int i = 0; i < 16; ++i) {
        c.sc[i] = b.scales[i];
        c.mn[i] = 0;
    }
    for (int h = 0; h < 2; ++h) {
        const uint8_t *ql = b.ql + 64 * h, *qh = b.qh + 32 * h;
        int8_t* q = c.q + 128 * h;
        for (int l = 0; l < 32; ++l) {
            q[l] = int8_t(((ql[l] & 15) | ((qh[l] & 3) << 4)) - 32);
            q[l + 32] = int8_t(((ql[l + 32] & 15) | (((qh[l] >> 2) & 3) << 4)) - 32);
            q[l + 64] = int8_t(((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32);
            q[l + 96] = int8_t(((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32);
        }
    }
}

// Q2_K and Q3_K: element 128 h + 32 s + l is the 2-bit field s of qs[32 h + l]; Q3_K's third
// bit, set for the upper half of its signed range, is bit 4 h + s of hmask[l] (q3_k_code).
void decode(const BlockQ2_K& b, CodesK& c) {
    c.d = f16_to_f32(b.d);
    c.dmin = f16_to_f32(b.dmin);
    for (int i = 0; i < 16; ++i) {
        c.sc[i] = b.scales[i] & 15;
        c.mn[i] = b.scales[i] >> 4;
    }
    for (int h = 0; h < 2; ++h)
        for (int s = 0; s < 4; ++s)
            for (int l = 0; l < 32; ++l) c.q[128 * h + 32 * s + l] = int8_t((b.qs[32 * h + l] >> (2 * s)) & 3);
}
void decode(const BlockQ3_K& b, CodesK& c) {
    c.d = f16_to_f32(b.d);
    c.dmin = 0.0f;
    for (int j = 0; j < 16; ++j) {
        c.sc[j] = int16_t(scale_q3_k(j, b.scales) - 32);
        c.mn[j] = 0;
    }
    for (int h = 0; h < 2; ++h)
        for (int s = 0; s < 4; ++s)
            for (int l = 0; l < 32; ++l) c.q[128 * h + 32 * s + l] = int8_t(q3_k_code(b, h, s, l));
}
// The IQ formats: signed codes (IQ4_XS's levels, or grid magnitudes with their sign bits) and
// odd sub-block scales 2 ls + 1; ggml multiplies the IQ2 sums by 1/8 and the IQ3_XXS sums by
// 1/4 at the end, folded into d here (a power of two: the same float result).
void decode(const BlockIQ4_XS& b, CodesK& c) {
    c.d = f16_to_f32(b.d);
    c.dmin = 0.0f;
    for (int ib = 0; ib < 8; ++ib) {
        c.sc[2 * ib] = c.sc[2 * ib + 1] = int16_t(scale_iq4_xs(ib, b.scales_l, b.scales_h) - 32);
        c.mn[2 * ib] = c.mn[2 * ib + 1] = 0;
        for (int j = 0; j < 16; ++j) {
            c.q[32 * ib + j] = kIq4nlValues[b.qs[16 * ib + j] & 15];
            c.q[32 * ib + 16 + j] = kIq4nlValues[b.qs[16 * ib + j] >> 4];
        }
    }
}
// n (4 or 8) grid magnitudes, negated where bits first.. of `signs` are set.
void grid_codes(uint64_t entry, uint8_t signs, int first, int n, int8_t* q) {
    for (int j = 0; j < n; ++j) {
        const int m = grid_byte(entry, j);
        q[j] = int8_t((signs >> (first + j)) & 1 ? -m : m);
    }
}
// The IQ2 and IQ3_XXS grid formats: the transient layout's decoder (kernels/transient.cpp),
// its codes q + 64 taken back to signed bytes, so the bit layout of these formats is read in
// one place for both.
void decode_grid(TensorType type, const void* block, CodesK& c) {
    TransientRow row;
    transient_decode(type, static_cast<const uint8_t*>(block), row);
    c.d = row.d;
    c.dmin = 0.0f;
    for (int i = 0; i < 16; ++i) c.sc[i] = row.sc[i], c.mn[i] = 0;
    const auto* u = reinterpret_cast<const uint8_t*>(row.u);
    for (int i = 0; i < 256; ++i) c.q[i] = int8_t(int(u[i]) - 64);
}
void decode(const BlockIQ2_XXS& b, CodesK& c) { decode_grid(TensorType::IQ2_XXS, &b, c); }
void decode(const BlockIQ2_XS& b, CodesK& c) { decode_grid(TensorType::IQ2_XS, &b, c); }
void decode(const BlockIQ2_S& b, CodesK& c) { decode_grid(TensorType::IQ2_S, &b, c); }
void decode(const BlockIQ3_XXS& b, CodesK& c) { decode_grid(TensorType::IQ3_XXS, &b, c); }
void decode(const BlockIQ3_S& b, CodesK& c) {
    c.d = f16_to_f32(b.d);
    c.dmin = 0.0f;
    for (int ib = 0; ib < 8; ++ib) {
        const uint8_t s = b.scales[ib / 2];
        c.sc[2 * ib] = c.sc[2 * ib + 1] = int16_t(2 * (ib % 2 ? s >> 4 : s & 15) + 1);
        c.mn[2 * ib] = c.mn[2 * ib + 1] = 0;
        for (int i = 0; i < 8; ++i) {  // code i of the sub-block: 4 magnitudes, 9th index bit in qh
            const unsigned index = b.qs[8 * ib + i] | (((unsigned(b.qh[ib]) >> i) & 1) << 8);
            grid_codes(kIq3sGrid[index], b.signs[4 * ib + i / 2], 4 * (i % 2), 4, c.q + 32 * ib + 4 * i);
        }
    }
}

template <size_t N>
int32_t dot(const int8_t* a, const int8_t* b) {
    int32_t s = 0;
    for (size_t i = 0; i < N; ++i) s += int32_t(a[i]) * int32_t(b[i]);
    return s;
}

// The contribution of one decoded weight block to token t's sum.
float block_dot(const Codes32& c, const QuantActs& x, size_t t, size_t b) {
    const size_t nb = x.cols / 32;
    return float(dot<32>(c.q, x.q + t * x.cols + 32 * b)) * (c.d * x.d[t * nb + b]);
}
float block_dot(const CodesK& c, const QuantActs& x, size_t t, size_t b) {
    const size_t nb = x.cols / 256;
    const int8_t* xq = x.q + t * x.cols + 256 * b;
    const int16_t* bsums = x.bsums + (t * nb + b) * 16;
    int32_t sumi = 0, summ = 0;
    for (int i = 0; i < 16; ++i) {
        sumi += c.sc[i] * dot<16>(c.q + 16 * i, xq + 16 * i);
        summ += c.mn[i] * bsums[i];
    }
    const float dx = x.d[t * nb + b];
    return c.d * dx * float(sumi) - c.dmin * dx * float(summ);
}

template <class Block, class Codes>
void rows(const uint8_t* w, size_t row_bytes, size_t r0, size_t r1, const QuantActs& x, size_t n_tok, float* y,
          size_t ldy) {
    constexpr size_t kQK = sizeof(Codes::q), kTokenBlock = 64;
    const size_t nb = x.cols / kQK;
    float acc[kTokenBlock];
    Codes c;
    for (size_t r = r0; r < r1; ++r)
        for (size_t t0 = 0; t0 < n_tok; t0 += kTokenBlock) {
            const size_t nt = n_tok - t0 < kTokenBlock ? n_tok - t0 : kTokenBlock;
            for (size_t t = 0; t < nt; ++t) acc[t] = 0.0f;
            for (size_t b = 0; b < nb; ++b) {
                decode(load<Block>(w + r * row_bytes + b * sizeof(Block)), c);
                for (size_t t = 0; t < nt; ++t) acc[t] += block_dot(c, x, t0 + t, b);
            }
            for (size_t t = 0; t < nt; ++t) y[(t0 + t) * ldy + r] = acc[t];
        }
}

}  // namespace

void quant_matmul_rows(TensorType type, const uint8_t* w, size_t row_bytes, size_t r0, size_t r1,
                       const QuantActs& x, size_t n_tok, float* y, size_t ldy) {
    switch (type) {
    case TensorType::Q8_0: rows<BlockQ8_0, Codes32>(w, row_bytes, r0, r1, x, n_tok, y, ldy); break;
    case TensorType::Q4_0: rows<BlockQ4_0, Codes32>(w, row_bytes, r0, r1, x, n_tok, y, ldy); break;
    case TensorType::Q5_0: rows<BlockQ5_0, Codes32>(w, row_bytes, r0, r1, x, n_tok, y, ldy); break;
    case TensorType::IQ4_NL: rows<BlockIQ4_NL, Codes32>(w, row_bytes, r0, r1, x, n_tok, y, ldy); break;
    case TensorType::Q4_K: rows<BlockQ4_K, CodesK>(w, row_bytes, r0, r1, x, n_tok, y, ldy); break;
    case TensorType::Q6_K: rows<BlockQ6_K, CodesK>(w, row_bytes, r0, r1, x, n_tok, y, ldy); break;
    case TensorType::Q5_K: rows<BlockQ5_K, CodesK>(w, row_bytes, r0, r1, x, n_tok, y, ldy); break;
    case TensorType::Q2_K: rows<BlockQ2_K, CodesK>(w, row_bytes, r0, r1, x, n_tok, y, ldy); break;
    case TensorType::Q3_K: rows<BlockQ3_K, CodesK>(w, row_bytes, r0, r1, x, n_tok, y, ldy); break;
    case TensorType::IQ4_XS: rows<BlockIQ4_XS, CodesK>(w, row_bytes, r0, r1, x, n_tok, y, ldy); break;
    case TensorType::IQ2_XXS: rows<BlockIQ2_XXS, CodesK>(w, row_bytes, r0, r1, x, n_tok, y, ldy); break;
    case TensorType::IQ2_XS: rows<BlockIQ2_XS, CodesK>(w, row_bytes, r0, r1, x, n_tok, y, ldy); break;
    case TensorType::IQ2_S: rows<BlockIQ2_S, CodesK>(w, row_bytes, r0, r1, x, n_tok, y, ldy); break;
    case TensorType::IQ3_XXS: rows<BlockIQ3_XXS, CodesK>(w, row_bytes, r0, r1, x, n_tok, y, ldy); break;
    case TensorType::IQ3_S: rows<BlockIQ3_S, CodesK>(w, row_bytes, r0, r1, x, n_tok, y, ldy); break;
    default: break;
    }
}

}  // namespace qwen::kernels::generic
