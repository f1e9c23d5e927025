// The integer-dot matmul for quantized weights on x86 (256-bit vectors), written once and
// compiled per instruction set (x86/quant_avx2.cpp, x86/quant_avx512.cpp). The including
// file defines, inside its own namespace:
//   struct SignedDot   the exact sums of 4 adjacent products of two vectors of 32 signed
//                      codes, with each side prepared once (see the including files):
//                      dot(q, weights(q), acts(x)) -> 8 int32 lanes
//   constexpr int kRows, kToks                      the prefill register tile
// Nothing here may be an inline function outside that namespace (see dense_impl.hpp).
//
// The arithmetic is ggml's: per block, the weight codes times the activation's Q8 codes
// summed exactly in integers, then scaled by d_w * d_x and summed in float. Legacy weights
// are decoded to 32 signed codes; K-quant codes are unsigned (Q4_K) or made signed (Q6_K)
// and their sub-block scales applied in integers (vpmaddwd) before the float scaling; Q4_K's
// min term goes through the activation's 16-element code sums, as in ggml.
//
// Decode (one token) streams 4 weight rows at a time; prefill reuses each decoded weight
// chunk for kToks tokens and each activation chunk for kRows rows (the loops are shared with
// the Arm kernels: kernels/quant_rows_impl.hpp).

using namespace qwen::quant;

static inline float f16(const uint8_t* p) {
    uint16_t h;
    std::memcpy(&h, p, 2);
    return _cvtsh_ss(h);
}

static inline float hsum(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    return _mm_cvtss_f32(_mm_add_ss(s, _mm_movehdup_ps(s)));
}

static inline __m256i nibbles(const uint8_t* qs) {  // 16 bytes -> low nibbles, then high ones
    const __m128i b = _mm_loadu_si128(reinterpret_cast<const __m128i*>(qs));
    return _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(b, 4), b), _mm256_set1_epi8(0x0F));
}

static inline __m256i load32(const void* p) { return _mm256_loadu_si256(static_cast<const __m256i*>(p)); }

// ---------------------------------------------------------------- 32-element formats
// codes(block) -> the 32 signed codes q with x = d * q; the block starts with its f16 d.

struct WQ8_0 {
    static constexpr size_t kQK = 32, kBytes = sizeof(BlockQ8_0);
    static __m256i codes(const uint8_t* b) { return load32(b + offsetof(BlockQ8_0, qs)); }
};
struct WQ4_0 {
    static constexpr size_t kQK = 32, kBytes = sizeof(BlockQ4_0);
    static __m256i codes(const uint8_t* b) {
        return _mm256_sub_epi8(nibbles(b + offsetof(BlockQ4_0, qs)), _mm256_set1_epi8(8));
    }
};
struct WQ5_0 {
    static constexpr size_t kQK = 32, kBytes = sizeof(BlockQ5_0);
    static __m256i codes(const uint8_t* b) {
        uint32_t qh;
        std::memcpy(&qh, b + offsetof(BlockQ5_0, qh), 4);
        // Byte j = 0xFF where bit j of qh (the code's bit 4) is set.
        const __m256i bit = _mm256_set1_epi64x(0x8040201008040201);
        __m256i hi = _mm256_shuffle_epi8(_mm256_set1_epi32(int(qh)),
                                         _mm256_set_epi64x(0x0303030303030303, 0x0202020202020202,
                                                           0x0101010101010101, 0x0000000000000000));
        hi = _mm256_cmpeq_epi8(_mm256_and_si256(hi, bit), bit);
        // q - 16 is the nibble itself when bit 4 is set, else the nibble with its high bits set.
        return _mm256_or_si256(nibbles(b + offsetof(BlockQ5_0, qs)), _mm256_andnot_si256(hi, _mm256_set1_epi8(-16)));
    }
};
struct WIQ4_NL {
    static constexpr size_t kQK = 32, kBytes = sizeof(BlockIQ4_NL);
    static __m256i codes(const uint8_t* b) {
        const __m256i table =
            _mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(kIq4nlValues)));
        return _mm256_shuffle_epi8(table, nibbles(b + offsetof(BlockIQ4_NL, qs)));
    }
};

template <class F, int R, int T>
static void tile32(const uint8_t* w, size_t row_bytes, const QuantActs& x, float* y, size_t ldy) {
    const size_t nb = x.cols / 32;
    __m256 acc[R][T];
    for (int r = 0; r < R; ++r)
        for (int t = 0; t < T; ++t) acc[r][t] = _mm256_setzero_ps();
    for (size_t b = 0; b < nb; ++b) {
        __m256i xq[T];
        float dx[T];
        for (int t = 0; t < T; ++t) {
            xq[t] = SignedDot::acts(load32(x.q + t * x.cols + b * 32));
            dx[t] = x.d[t * nb + b];
        }
        for (int r = 0; r < R; ++r) {
            const uint8_t* blk = w + r * row_bytes + b * F::kBytes;
            // Decode streams R rows at once, more than the hardware prefetchers follow well.
            if constexpr (T == 1) _mm_prefetch(reinterpret_cast<const char*>(blk) + 512, _MM_HINT_T0);
            const __m256i q = F::codes(blk), wq = SignedDot::weights(q);
            const float dw = f16(blk);
            for (int t = 0; t < T; ++t) {
                const __m256i p = SignedDot::dot(q, wq, xq[t]);
                acc[r][t] = _mm256_fmadd_ps(_mm256_set1_ps(dw * dx[t]), _mm256_cvtepi32_ps(p), acc[r][t]);
            }
        }
    }
    for (int r = 0; r < R; ++r)
        for (int t = 0; t < T; ++t) y[t * ldy + r] = hsum(acc[r][t]);
}

// ---------------------------------------------------------------- K-quants (256 elements)
// head(b): the super-block's scales. chunk(b, k): the codes of elements 32k .. 32k+31,
// signed (Q6_K, whose offset of 32 is folded in) or unsigned (Q4_K, whose value is
// d * sc * q - dmin * m); scales(h, k): their sub-block scales as 16 int16, one per pair of
// adjacent products. Q4_K's min term is the integer sum of m times the activation codes,
// taken from the activation's 16-element sums (offset()).

struct WQ4_K {
    static constexpr size_t kQK = 256, kBytes = sizeof(BlockQ4_K);
    static constexpr bool kSigned = false, kMins = true;
    struct Head {
        float d, dmin;
        int16_t sc[8], mn[8];
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
    static __m256i chunk(const uint8_t* b, int k) {
        const __m256i q = load32(b + offsetof(BlockQ4_K, qs) + 32 * (k / 2));
        return _mm256_and_si256(k % 2 ? _mm256_srli_epi16(q, 4) : q, _mm256_set1_epi8(0x0F));
    }
    static __m256i scales(const Head& h, int k) { return _mm256_set1_epi16(h.sc[k]); }
    static int32_t offset(const Head& h, const int16_t* bsums) {
        int32_t s = 0;
        for (int j = 0; j < 8; ++j) s += h.mn[j] * (bsums[2 * j] + bsums[2 * j + 1]);
        return s;
    }
};

struct WQ6_K {
    static constexpr size_t kQK = 256, kBytes = sizeof(BlockQ6_K);
    static constexpr bool kSigned = true, kMins = false;
    struct Head {
        float d, dmin;
        const int8_t* sc;
    };
    static Head head(const uint8_t* b) {
        return {f16(b + offsetof(BlockQ6_K, d)), 0.0f, reinterpret_cast<const int8_t*>(b + offsetof(BlockQ6_K, scales))};
    }
    // Chunk k of half k / 4: low nibbles of ql[0..31] / ql[32..63], then their high nibbles,
    // each with the next 2-bit field of qh as bits 4 and 5.
    static __m256i chunk(const uint8_t* b, int k) {
        const int half = k / 4, j = k % 4;
        const __m256i ql = load32(b + offsetof(BlockQ6_K, ql) + 64 * half + 32 * (j % 2));
        const __m256i qh = load32(b + offsetof(BlockQ6_K, qh) + 32 * half);
        const __m256i lo = _mm256_and_si256(j < 2 ? ql : _mm256_srli_epi16(ql, 4), _mm256_set1_epi8(0x0F));
        const __m256i hi = _mm256_and_si256(_mm256_slli_epi16(_mm256_srli_epi16(qh, 2 * j), 4), _mm256_set1_epi8(0x30));
        return _mm256_sub_epi8(_mm256_or_si256(lo, hi), _mm256_set1_epi8(32));
    }
    static __m256i scales(const Head& h, int k) {
        return _mm256_set_m128i(_mm_set1_epi16(h.sc[2 * k + 1]), _mm_set1_epi16(h.sc[2 * k]));
    }
    static int32_t offset(const Head&, const int16_t*) { return 0; }
};

template <class F, int R, int T>
static void tile256(const uint8_t* w, size_t row_bytes, const QuantActs& x, float* y, size_t ldy) {
    const size_t nb = x.cols / 256;
    __m256 acc[R][T];
    float mins[R][T] = {};
    for (int r = 0; r < R; ++r)
        for (int t = 0; t < T; ++t) acc[r][t] = _mm256_setzero_ps();
    for (size_t b = 0; b < nb; ++b) {
        typename F::Head h[R];
        for (int r = 0; r < R; ++r) h[r] = F::head(w + r * row_bytes + b * F::kBytes);
        // The super-block sum stays in integers: per lane at most 32 * 128 * 32 * 127 (Q6_K).
        __m256i sum[R][T];
        for (int r = 0; r < R; ++r)
            for (int t = 0; t < T; ++t) sum[r][t] = _mm256_setzero_si256();
        for (int k = 0; k < 8; ++k) {
            __m256i xq[T];
            for (int t = 0; t < T; ++t) xq[t] = load32(x.q + t * x.cols + b * 256 + k * 32);
            for (int r = 0; r < R; ++r) {
                const __m256i q = F::chunk(w + r * row_bytes + b * F::kBytes, k), s = F::scales(h[r], k);
                const __m256i u = F::kSigned ? _mm256_sign_epi8(q, q) : q;
                for (int t = 0; t < T; ++t) {
                    // Each int16 pair sum stays below 2^15: |u| <= 32 (Q6_K) or 15 (Q4_K).
                    const __m256i p16 = _mm256_maddubs_epi16(u, F::kSigned ? _mm256_sign_epi8(xq[t], q) : xq[t]);
                    sum[r][t] = _mm256_add_epi32(sum[r][t], _mm256_madd_epi16(p16, s));
                }
            }
        }
        for (int r = 0; r < R; ++r)
            for (int t = 0; t < T; ++t) {
                const float dx = x.d[t * nb + b];
                acc[r][t] = _mm256_fmadd_ps(_mm256_set1_ps(h[r].d * dx), _mm256_cvtepi32_ps(sum[r][t]), acc[r][t]);
                if constexpr (F::kMins)
                    mins[r][t] += h[r].dmin * dx * float(F::offset(h[r], x.bsums + (t * nb + b) * 16));
            }
    }
    for (int r = 0; r < R; ++r)
        for (int t = 0; t < T; ++t) y[t * ldy + r] = hsum(acc[r][t]) - mins[r][t];
}

// ---------------------------------------------------------------- rows x tokens

#include "kernels/quant_rows_impl.hpp"
