#include "quant/dequantize.hpp"

#include "quant/iq_grids.hpp"
#include "quant/internal.hpp"

#include <cstring>

// Bit-exactness with ggml rests on evaluating every element with the same float operations
// in the same order: integer codes are converted to float where ggml converts them, and
// products associate left to right as ggml writes them (e.g. Q6_K is (d * scale) * q, not
// d * (scale * q)). This file is compiled with -ffp-contract=off so that no a*b+c becomes an
// FMA with a different rounding.

namespace qwen::quant {

namespace {

float h(uint16_t v) { return f16_to_f32(v); }

// ---------------------------------------------------------------- 32-element blocks

void block(const BlockQ4_0& b, float* y) {
    const float d = h(b.d);
    for (size_t j = 0; j < kQK / 2; ++j) {
        y[j] = float((b.qs[j] & 0xF) - 8) * d;
        y[j + kQK / 2] = float((b.qs[j] >> 4) - 8) * d;
    }
}

void block(const BlockQ4_1& b, float* y) {
    const float d = h(b.d), m = h(b.m);
    for (size_t j = 0; j < kQK / 2; ++j) {
        y[j] = float(b.qs[j] & 0xF) * d + m;
        y[j + kQK / 2] = float(b.qs[j] >> 4) * d + m;
    }
}

uint32_t load_u32(const uint8_t* p) {
    uint32_t v;
    std::memcpy(&v, p, 4);
    return v;
}

// The 5-bit codes of elements j and j + 16 of a Q5_0 / Q5_1 block.
void q5_codes(const uint8_t* qs, const uint8_t* qh, size_t j, int& lo, int& hi) {
    const uint32_t bits = load_u32(qh);
    lo = (qs[j] & 0xF) | int(((bits >> j) & 1) << 4);
    hi = (qs[j] >> 4) | int(((bits >> (j + 16)) & 1) << 4);
}

void block(const BlockQ5_0& b, float* y) {
    const float d = h(b.d);
    for (size_t j = 0; j < kQK / 2; ++j) {
        int lo, hi;
        q5_codes(b.qs, b.qh, j, lo, hi);
        y[j] = float(lo - 16) * d;
        y[j + kQK / 2] = float(hi - 16) * d;
    }
}

void block(const BlockQ5_1& b, float* y) {
    const float d = h(b.d), m = h(b.m);
    for (size_t j = 0; j < kQK / 2; ++j) {
        int lo, hi;
        q5_codes(b.qs, b.qh, j, lo, hi);
        y[j] = float(lo) * d + m;
        y[j + kQK / 2] = float(hi) * d + m;
    }
}

void block(const BlockQ8_0& b, float* y) {
    const float d = h(b.d);
    for (size_t j = 0; j < kQK; ++j) y[j] = float(b.qs[j]) * d;
}

// ggml has no to_float for Q8_1 (it is only ever a dot-product operand); the sum field is
// redundant for decoding.
void block(const BlockQ8_1& b, float* y) {
    const float d = h(b.d);
    for (size_t j = 0; j < kQK; ++j) y[j] = float(b.qs[j]) * d;
}

void block(const BlockIQ4_NL& b, float* y) {
    const float d = h(b.d);
    for (size_t j = 0; j < kQK / 2; ++j) {
        y[j] = d * float(kIq4nlValues[b.qs[j] & 0xF]);
        y[j + kQK / 2] = d * float(kIq4nlValues[b.qs[j] >> 4]);
    }
}

// ---------------------------------------------------------------- K-quants

// The 2-bit field `shift` of the bytes q[0..32): codes of one 32-element stripe of Q2_K/Q3_K.
int crumb(const uint8_t* q, size_t l, int shift) { return (q[l] >> shift) & 3; }

void block(const BlockQ2_K& b, float* y) {
    const float d = h(b.d), dmin = h(b.dmin);
    size_t is = 0;
    for (size_t half = 0; half < 2; ++half) {
        const uint8_t* q = b.qs + 32 * half;
        for (int shift = 0; shift < 8; shift += 2) {
            for (size_t part = 0; part < 2; ++part) {  // two sub-blocks of 16 per stripe
                const uint8_t sc = b.scales[is++];
                const float dl = d * float(sc & 0xF), ml = dmin * float(sc >> 4);
                for (size_t l = 0; l < 16; ++l) *y++ = dl * float(crumb(q, l + 16 * part, shift)) - ml;
            }
        }
    }
}

void block(const BlockQ3_K& b, float* y) {
    const float d = h(b.d);
    int is = 0;
    for (int half = 0; half < 2; ++half)
        for (int s = 0; s < 4; ++s)
            for (int part = 0; part < 2; ++part) {
                const float dl = d * float(scale_q3_k(is++, b.scales) - 32);
                for (int l = 16 * part; l < 16 * part + 16; ++l) *y++ = dl * float(q3_k_code(b, half, s, l));
            }
}

// Q4_K and Q5_K share their scales and the low 4 bits; Q5_K adds a fifth bit from qh.
template <class B>
void q45k(const B& b, const uint8_t* qh, float* y) {
    const float d = h(b.d), dmin = h(b.dmin);
    const uint8_t* q = b.qs;
    for (int g = 0; g < 4; ++g, q += 32) {
        uint8_t sc, m;
        scale_min_k4(2 * g, b.scales, sc, m);
        const float d1 = d * float(sc), m1 = dmin * float(m);
        scale_min_k4(2 * g + 1, b.scales, sc, m);
        const float d2 = d * float(sc), m2 = dmin * float(m);
        for (size_t l = 0; l < 32; ++l) {
            const int hi = qh ? ((qh[l] >> (2 * g)) & 1) << 4 : 0;
            *y++ = d1 * float((q[l] & 0xF) + hi) - m1;
        }
        for (size_t l = 0; l < 32; ++l) {
            const int hi = qh ? ((qh[l] >> (2 * g + 1)) & 1) << 4 : 0;
            *y++ = d2 * float((q[l] >> 4) + hi) - m2;
        }
    }
}

void block(const BlockQ4_K& b, float* y) { q45k(b, nullptr, y); }
void block(const BlockQ5_K& b, float* y) { q45k(b, b.qh, y); }

void block(const BlockQ6_K& b, float* y) {
    const float d = h(b.d);
    for (size_t half = 0; half < 2; ++half, y += 128) {
        const uint8_t* ql = b.ql + 64 * half;
        const uint8_t* qh = b.qh + 32 * half;
        const int8_t* sc = b.scales + 8 * half;
        for (size_t l = 0; l < 32; ++l) {
            const size_t is = l / 16;
            const int q1 = ((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32;
            const int q2 = ((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
            const int q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
            const int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
            y[l] = d * float(sc[is]) * float(q1);
            y[l + 32] = d * float(sc[is + 2]) * float(q2);
            y[l + 64] = d * float(sc[is + 4]) * float(q3);
            y[l + 96] = d * float(sc[is + 6]) * float(q4);
        }
    }
}

void block(const BlockQ8_K& b, float* y) {
    for (size_t j = 0; j < kQK_K; ++j) y[j] = b.d * float(b.qs[j]);
}

void block(const BlockIQ4_XS& b, float* y) {
    const float d = h(b.d);
    for (size_t ib = 0; ib < kQK_K / 32; ++ib, y += 32) {
        const int ls = scale_iq4_xs(int(ib), b.scales_l, b.scales_h);
        const float dl = d * float(ls - 32);
        const uint8_t* qs = b.qs + 16 * ib;
        for (size_t j = 0; j < 16; ++j) {
            y[j] = dl * float(kIq4nlValues[qs[j] & 0xF]);
            y[j + 16] = dl * float(kIq4nlValues[qs[j] >> 4]);
        }
    }
}

// ---------------------------------------------------------------- IQ2 / IQ3 (grids)

// Writes n (4 or 8) elements scale * magnitude * sign, the signs being bits first_bit.. of
// `signs`.
void grid_group(float scale, uint64_t entry, uint8_t signs, int first_bit, int n, float* y) {
    for (int j = 0; j < n; ++j)
        y[j] = scale * float(grid_byte(entry, j)) * ((signs >> (first_bit + j)) & 1 ? -1.0f : 1.0f);
}

void block(const BlockIQ2_XXS& b, float* y) {
    const float d = h(b.d);
    for (size_t ib = 0; ib < kQK_K / 32; ++ib) {
        uint8_t idx[4];
        std::memcpy(idx, &b.qs[4 * ib], 4);
        uint32_t meta;
        std::memcpy(&meta, &b.qs[4 * ib + 2], 4);
        const float db = d * (0.5f + float(meta >> 28)) * 0.25f;
        for (int l = 0; l < 4; ++l, y += 8)
            grid_group(db, kIq2xxsGrid[idx[l]], signs_from_code7((meta >> (7 * l)) & 127), 0, 8, y);
    }
}

void block(const BlockIQ2_XS& b, float* y) {
    const float d = h(b.d);
    for (size_t ib = 0; ib < kQK_K / 32; ++ib) {
        const float db[2] = {d * (0.5f + float(b.scales[ib] & 0xF)) * 0.25f,
                             d * (0.5f + float(b.scales[ib] >> 4)) * 0.25f};
        for (int l = 0; l < 4; ++l, y += 8) {
            const uint16_t code = b.qs[4 * ib + size_t(l)];
            grid_group(db[l / 2], kIq2xsGrid[code & 511], signs_from_code7(code >> 9), 0, 8, y);
        }
    }
}

void block(const BlockIQ2_S& b, float* y) {
    const float d = h(b.d);
    const uint8_t* signs = b.qs + kQK_K / 8;
    for (size_t ib = 0; ib < kQK_K / 32; ++ib) {
        const float db[2] = {d * (0.5f + float(b.scales[ib] & 0xF)) * 0.25f,
                             d * (0.5f + float(b.scales[ib] >> 4)) * 0.25f};
        for (int l = 0; l < 4; ++l, y += 8) {
            const size_t k = 4 * ib + size_t(l);
            const unsigned index = b.qs[k] | ((unsigned(b.qh[ib]) << (8 - 2 * l)) & 0x300);
            grid_group(db[l / 2], kIq2sGrid[index], signs[k], 0, 8, y);
        }
    }
}

void block(const BlockIQ3_XXS& b, float* y) {
    const float d = h(b.d);
    const uint8_t* meta_bytes = b.qs + kQK_K / 4;
    for (size_t ib = 0; ib < kQK_K / 32; ++ib) {
        const uint32_t meta = load_u32(meta_bytes + 4 * ib);
        const float db = d * (0.5f + float(meta >> 28)) * 0.5f;
        const uint8_t* qs = b.qs + 8 * ib;
        for (int l = 0; l < 4; ++l, y += 8) {
            const uint8_t signs = signs_from_code7((meta >> (7 * l)) & 127);
            grid_group(db, kIq3xxsGrid[qs[2 * l]], signs, 0, 4, y);
            grid_group(db, kIq3xxsGrid[qs[2 * l + 1]], signs, 4, 4, y + 4);
        }
    }
}

void block(const BlockIQ3_S& b, float* y) {
    const float d = h(b.d);
    for (size_t ib = 0; ib < kQK_K / 32; ++ib) {
        const uint8_t s = b.scales[ib / 2];
        const float db = d * float(1 + 2 * (ib % 2 ? s >> 4 : s & 0xF));
        const uint8_t* qs = b.qs + 8 * ib;
        const unsigned qh = b.qh[ib];
        for (int l = 0; l < 4; ++l, y += 8) {
            const uint8_t signs = b.signs[4 * ib + size_t(l)];
            grid_group(db, kIq3sGrid[qs[2 * l] | ((qh << (8 - 2 * l)) & 256)], signs, 0, 4, y);
            grid_group(db, kIq3sGrid[qs[2 * l + 1] | ((qh << (7 - 2 * l)) & 256)], signs, 4, 4, y + 4);
        }
    }
}

// ---------------------------------------------------------------- rows

template <class B>
void blocks(const uint8_t* src, float* dst, size_t n, size_t per_block) {
    for (size_t i = 0; i < n / per_block; ++i) {
        B b;  // copied out: rows in a file need not be aligned for B
        std::memcpy(&b, src + i * sizeof(B), sizeof(B));
        block(b, dst + i * per_block);
    }
}

void dense(TensorType type, const uint8_t* src, float* dst, size_t n) {
    for (size_t i = 0; i < n; ++i) {
        if (type == TensorType::F32) {
            std::memcpy(dst + i, src + 4 * i, 4);
            continue;
        }
        uint16_t v;
        std::memcpy(&v, src + 2 * i, 2);
        dst[i] = type == TensorType::F16 ? f16_to_f32(v) : bf16_to_f32(v);
    }
}

}  // namespace

bool can_dequantize(TensorType type) { return is_dense(type) || visit_block(type, [](auto) {}); }

void dequantize_row(TensorType type, const void* src, float* dst, size_t n) {
    const size_t per = checked_block_elems("dequantize", type, can_dequantize(type), n);
    const auto* s = static_cast<const uint8_t*>(src);
    if (!visit_block(type, [&]<class B>(std::type_identity<B>) { blocks<B>(s, dst, n, per); })) dense(type, s, dst, n);
}

}  // namespace qwen::quant
