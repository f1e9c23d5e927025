// Integer-dot matmul for quantized weights with the ARMv8.2 dot product: vdotq_s32 (sdot)
// adds 4 adjacent int8 products into each of 4 int32 lanes. This file alone is compiled with
// -march=armv8.2-a+dotprod, and kernels/dispatch.cpp uses it only where the kernel reports
// HWCAP_ASIMDDP (nothing here may be an inline function outside this namespace: see
// dense_impl.hpp).
//
// The arithmetic is ggml's, as on x86 (x86/quant_impl.hpp): per block, the weight codes times
// the activation's Q8 codes summed exactly in integers, then scaled by d_w * d_x and summed
// in float. A block's 32 codes are two 16-byte vectors; sdot takes signed codes on both sides,
// so no sign juggling is needed. K-quant sub-block scales multiply the integer sums
// (vmlaq_n_s32) before the float scaling; Q4_K's min term goes through the activation's
// 16-element code sums, as in ggml.
#include "kernels/dispatch.hpp"
#include "quant/blocks.hpp"
#include "quant/iq_grids.hpp"

#include <arm_neon.h>
#include <cstddef>
#include <cstring>

#if !defined(__ARM_FEATURE_DOTPROD)
#error "arm/quant_neon.cpp needs -march=armv8.2-a+dotprod (lib/kernels/CMakeLists.txt)"
#endif

namespace qwen::kernels::neon {

using namespace qwen::quant;

// 32 registers: a 2-row x 4-token tile keeps 8 float accumulators (and, for the K-quants,
// 8 integer ones) next to 4 tokens' activation chunks.
constexpr int kRows = 2, kToks = 4;

static inline float f16(const uint8_t* p) {
    __fp16 h;
    std::memcpy(&h, p, 2);
    return h;
}

struct Codes {  // 32 signed codes: elements 0..15 and 16..31
    int8x16_t lo, hi;
};

static inline Codes load_codes(const void* p) {
    const int8_t* q = static_cast<const int8_t*>(p);
    return {vld1q_s8(q), vld1q_s8(q + 16)};
}

static inline Codes nibbles(const uint8_t* qs) {  // 16 bytes -> low nibbles, then high ones
    const uint8x16_t b = vld1q_u8(qs);
    return {vreinterpretq_s8_u8(vandq_u8(b, vdupq_n_u8(0x0F))), vreinterpretq_s8_u8(vshrq_n_u8(b, 4))};
}

// The exact sum, in 4 lanes, of the 32 products of two blocks' codes.
static inline int32x4_t dot32(const Codes& a, const Codes& b) {
    return vdotq_s32(vdotq_s32(vdupq_n_s32(0), a.lo, b.lo), a.hi, b.hi);
}

// ---------------------------------------------------------------- 32-element formats
// codes(block) -> the 32 signed codes q with x = d * q; the block starts with its f16 d.

struct WQ8_0 {
    static constexpr size_t kQK = 32, kBytes = sizeof(BlockQ8_0);
    static Codes codes(const uint8_t* b) { return load_codes(b + offsetof(BlockQ8_0, qs)); }
};
struct WQ4_0 {
    static constexpr size_t kQK = 32, kBytes = sizeof(BlockQ4_0);
    static Codes codes(const uint8_t* b) {
        const Codes u = nibbles(b + offsetof(BlockQ4_0, qs));
        return {vsubq_s8(u.lo, vdupq_n_s8(8)), vsubq_s8(u.hi, vdupq_n_s8(8))};
    }
};
struct WQ5_0 {
    static constexpr size_t kQK = 32, kBytes = sizeof(BlockQ5_0);
    static Codes codes(const uint8_t* b) {
        // Byte j of each half = 0xFF where bit j of qh (the code's bit 4) is set: qh's byte
        // j / 8 spread over 8 bytes, each tested against its own bit.
        static constexpr uint8_t kSpreadLo[16] = {0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1};
        static constexpr uint8_t kSpreadHi[16] = {2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3};
        static constexpr uint8_t kBit[16] = {1, 2, 4, 8, 16, 32, 64, 128, 1, 2, 4, 8, 16, 32, 64, 128};
        uint32_t qh;
        std::memcpy(&qh, b + offsetof(BlockQ5_0, qh), 4);
        const uint8x16_t bytes = vreinterpretq_u8_u32(vdupq_n_u32(qh)), bit = vld1q_u8(kBit);
        const uint8x16_t set_lo = vtstq_u8(vqtbl1q_u8(bytes, vld1q_u8(kSpreadLo)), bit);
        const uint8x16_t set_hi = vtstq_u8(vqtbl1q_u8(bytes, vld1q_u8(kSpreadHi)), bit);
        // q - 16 is the nibble itself when bit 4 is set, else the nibble with its high bits set.
        const Codes u = nibbles(b + offsetof(BlockQ5_0, qs));
        const uint8x16_t high = vdupq_n_u8(0xF0);
        return {vorrq_s8(u.lo, vreinterpretq_s8_u8(vbicq_u8(high, set_lo))),
                vorrq_s8(u.hi, vreinterpretq_s8_u8(vbicq_u8(high, set_hi)))};
    }
};
struct WIQ4_NL {
    static constexpr size_t kQK = 32, kBytes = sizeof(BlockIQ4_NL);
    static Codes codes(const uint8_t* b) {
        const int8x16_t levels = vld1q_s8(kIq4nlValues);
        const Codes u = nibbles(b + offsetof(BlockIQ4_NL, qs));
        return {vqtbl1q_s8(levels, vreinterpretq_u8_s8(u.lo)), vqtbl1q_s8(levels, vreinterpretq_u8_s8(u.hi))};
    }
};

template <class F, int R, int T>
static void tile32(const uint8_t* w, size_t row_bytes, const QuantActs& x, float* y, size_t ldy) {
    const size_t nb = x.cols / 32;
    float32x4_t acc[R][T];
    for (int r = 0; r < R; ++r)
        for (int t = 0; t < T; ++t) acc[r][t] = vdupq_n_f32(0.0f);
    for (size_t b = 0; b < nb; ++b) {
        Codes xq[T];
        float dx[T];
        for (int t = 0; t < T; ++t) {
            xq[t] = load_codes(x.q + t * x.cols + b * 32);
            dx[t] = x.d[t * nb + b];
        }
        for (int r = 0; r < R; ++r) {
            const uint8_t* blk = w + r * row_bytes + b * F::kBytes;
            // Decode streams R rows at once, more than the hardware prefetchers follow well.
            if constexpr (T == 1) __builtin_prefetch(blk + 512);
            const Codes q = F::codes(blk);
            const float dw = f16(blk);
            for (int t = 0; t < T; ++t)
                acc[r][t] = vfmaq_n_f32(acc[r][t], vcvtq_f32_s32(dot32(q, xq[t])), dw * dx[t]);
        }
    }
    for (int r = 0; r < R; ++r)
        for (int t = 0; t < T; ++t) y[t * ldy + r] = vaddvq_f32(acc[r][t]);
}

// ---------------------------------------------------------------- K-quants (256 elements)
// head(b): the super-block's scales. chunk(b, k): the codes of elements 32k .. 32k+31,
// unsigned (Q4_K, whose value is d * sc * q - dmin * m) or signed (Q6_K, whose offset of 32
// is folded in); scale(h, k, i): the sub-block scale of half i (16 codes) of chunk k. Q4_K's
// min term is the integer sum of m times the activation codes, taken from the activation's
// 16-element sums (offset()).

struct WQ4_K {
    static constexpr size_t kQK = 256, kBytes = sizeof(BlockQ4_K);
    static constexpr bool kMins = true;
    struct Head {
        float d, dmin;
        int32_t sc[8], mn[8];
    };
    static Head head(const uint8_t* b) {
        Head h{f16(b + offsetof(BlockQ4_K, d)), f16(b + offsetof(BlockQ4_K, dmin)), {}, {}};
        for (int j = 0; j < 8; ++j) {
            uint8_t sc, m;
            scale_min_k4(j, b + offsetof(BlockQ4_K, scales), sc, m);
            h.sc[j] = sc;
            h.mn[j] = m;
        }
        return h;
    }
    static Codes chunk(const uint8_t* b, int k) {
        const Codes u = nibbles(b + offsetof(BlockQ4_K, qs) + 32 * (k / 2));
        const Codes v = nibbles(b + offsetof(BlockQ4_K, qs) + 32 * (k / 2) + 16);
        return k % 2 ? Codes{u.hi, v.hi} : Codes{u.lo, v.lo};
    }
    static int32_t scale(const Head& h, int k, int) { return h.sc[k]; }
    static int32_t offset(const Head& h, const int16_t* bsums) {
        int32_t s = 0;
        for (int j = 0; j < 8; ++j) s += h.mn[j] * (bsums[2 * j] + bsums[2 * j + 1]);
        return s;
    }
};

struct WQ6_K {
    static constexpr size_t kQK = 256, kBytes = sizeof(BlockQ6_K);
    static constexpr bool kMins = false;
    struct Head {
        float d, dmin;
        const int8_t* sc;
    };
    static Head head(const uint8_t* b) {
        return {f16(b + offsetof(BlockQ6_K, d)), 0.0f, reinterpret_cast<const int8_t*>(b + offsetof(BlockQ6_K, scales))};
    }
    // Chunk k of half k / 4: low nibbles of ql[0..31] / ql[32..63], then their high nibbles,
    // each with the next 2-bit field of qh as bits 4 and 5.
    static Codes chunk(const uint8_t* b, int k) {
        const int half = k / 4, j = k % 4;
        const uint8_t* ql = b + offsetof(BlockQ6_K, ql) + 64 * half + 32 * (j % 2);
        const uint8_t* qh = b + offsetof(BlockQ6_K, qh) + 32 * half;
        const int8x16_t shift = vdupq_n_s8(int8_t(-2 * j));  // vshlq by a negative count shifts right
        int8x16_t out[2];
        for (int i = 0; i < 2; ++i) {
            const uint8x16_t l = vld1q_u8(ql + 16 * i);
            const uint8x16_t lo = j < 2 ? vandq_u8(l, vdupq_n_u8(0x0F)) : vshrq_n_u8(l, 4);
            const uint8x16_t hi = vshlq_n_u8(vandq_u8(vshlq_u8(vld1q_u8(qh + 16 * i), shift), vdupq_n_u8(3)), 4);
            out[i] = vsubq_s8(vreinterpretq_s8_u8(vorrq_u8(lo, hi)), vdupq_n_s8(32));
        }
        return {out[0], out[1]};
    }
    static int32_t scale(const Head& h, int k, int i) { return h.sc[2 * k + i]; }
    static int32_t offset(const Head&, const int16_t*) { return 0; }
};

template <class F, int R, int T>
static void tile256(const uint8_t* w, size_t row_bytes, const QuantActs& x, float* y, size_t ldy) {
    const size_t nb = x.cols / 256;
    float32x4_t acc[R][T];
    float mins[R][T] = {};
    for (int r = 0; r < R; ++r)
        for (int t = 0; t < T; ++t) acc[r][t] = vdupq_n_f32(0.0f);
    for (size_t b = 0; b < nb; ++b) {
        typename F::Head h[R];
        for (int r = 0; r < R; ++r) h[r] = F::head(w + r * row_bytes + b * F::kBytes);
        // The super-block sum stays in integers: per lane at most 16 halves * 4 products of
        // 32 * 128, times sub-block scales of at most 128 (Q6_K): 2^25.
        int32x4_t sum[R][T];
        for (int r = 0; r < R; ++r)
            for (int t = 0; t < T; ++t) sum[r][t] = vdupq_n_s32(0);
        for (int k = 0; k < 8; ++k) {
            Codes xq[T];
            for (int t = 0; t < T; ++t) xq[t] = load_codes(x.q + t * x.cols + b * 256 + k * 32);
            for (int r = 0; r < R; ++r) {
                const Codes q = F::chunk(w + r * row_bytes + b * F::kBytes, k);
                const int32_t s0 = F::scale(h[r], k, 0), s1 = F::scale(h[r], k, 1);
                for (int t = 0; t < T; ++t) {
                    const int32x4_t zero = vdupq_n_s32(0);
                    sum[r][t] = vmlaq_n_s32(sum[r][t], vdotq_s32(zero, q.lo, xq[t].lo), s0);
                    sum[r][t] = vmlaq_n_s32(sum[r][t], vdotq_s32(zero, q.hi, xq[t].hi), s1);
                }
            }
        }
        for (int r = 0; r < R; ++r)
            for (int t = 0; t < T; ++t) {
                const float dx = x.d[t * nb + b];
                acc[r][t] = vfmaq_n_f32(acc[r][t], vcvtq_f32_s32(sum[r][t]), h[r].d * dx);
                if constexpr (F::kMins)
                    mins[r][t] += h[r].dmin * dx * float(F::offset(h[r], x.bsums + (t * nb + b) * 16));
            }
    }
    for (int r = 0; r < R; ++r)
        for (int t = 0; t < T; ++t) y[t * ldy + r] = vaddvq_f32(acc[r][t]) - mins[r][t];
}

// ---------------------------------------------------------------- rows x tokens

static void more_rows(qwen::TensorType type, const uint8_t* w, size_t row_bytes, size_t r0, size_t r1,
                      const QuantActs& x, size_t n_tok, float* y, size_t ldy);

#include "kernels/quant_rows_impl.hpp"

// Q2_K, Q3_K, Q5_K and the IQ formats on Q8_K activations have no sdot kernel yet: the
// portable integer path computes the same sums.
static void more_rows(qwen::TensorType type, const uint8_t* w, size_t row_bytes, size_t r0, size_t r1,
                      const QuantActs& x, size_t n_tok, float* y, size_t ldy) {
    generic::quant_matmul_rows(type, w, row_bytes, r0, r1, x, n_tok, y, ldy);
}

}  // namespace qwen::kernels::neon
