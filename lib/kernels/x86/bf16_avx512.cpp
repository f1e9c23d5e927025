// BF16 weights times activations rounded to bf16, by AVX512_BF16's vdpbf16ps: each 512-bit
// instruction multiplies 32 bf16 pairs and adds each two neighbouring products into one of
// 16 float lanes, twice the rate of float FMAs on widened weights. This is llama.cpp's BF16
// arithmetic (ggml_vec_dot_bf16 after ggml_cpu_fp32_to_bf16), so results match it the more
// closely; vdpbf16ps treats bf16 subnormals as zero and flushes subnormal results (DAZ/FTZ).
#include "kernels/dispatch.hpp"

#include <algorithm>
#include <immintrin.h>
#include <xsimd/xsimd.hpp>

namespace qwen::kernels::avx512bf16 {

using Arch = xsimd::avx512bw;
using Batch = xsimd::batch<float, Arch>;

#include "kernels/x86/sum_lanes_avx512.hpp"

// GGML_FP32_TO_BF16 (core/half.hpp's f32_to_bf16) on 16 floats at a time, in integers:
// vcvtneps2bf16 would also round to nearest even, but it flushes subnormal floats to zero,
// where ggml rounds them (the largest ones up to the smallest normal bf16). The last partial
// vector is masked rather than left to half.hpp, whose inline function this file's flags
// must not compile (see dense_impl.hpp).
void round_bf16(const float* x, uint16_t* out, size_t n) {
    const __m512i abs_mask = _mm512_set1_epi32(0x7fffffff), inf = _mm512_set1_epi32(0x7f800000);
    const __m512i half_ulp = _mm512_set1_epi32(0x7fff), one = _mm512_set1_epi32(1), quiet = _mm512_set1_epi32(64);
    for (size_t i = 0; i < n; i += 16) {
        const __mmask16 live = n - i >= 16 ? __mmask16(0xffff) : __mmask16((1u << (n - i)) - 1);
        const __m512i u = _mm512_maskz_loadu_epi32(live, x + i);
        const __mmask16 nan = _mm512_cmpgt_epu32_mask(_mm512_and_si512(u, abs_mask), inf);
        const __m512i high = _mm512_srli_epi32(u, 16);
        // Ties go to the even neighbour: add 0x7fff, plus 1 if the kept part is odd.
        const __m512i bias = _mm512_add_epi32(half_ulp, _mm512_and_si512(high, one));
        __m512i r = _mm512_srli_epi32(_mm512_add_epi32(u, bias), 16);
        r = _mm512_mask_or_epi32(r, nan, high, quiet);  // NaN: truncated, made quiet
        _mm512_mask_cvtepi32_storeu_epi16(out + i, live, r);
    }
}

// A tile of R weight rows x T tokens: R * T accumulators (at most 16, all in registers, with
// the T activation vectors and one weight vector of the 32 zmm), so each weight vector loaded
// serves T tokens and each activation vector R rows. Accumulator t * R + r is row r, token t;
// one transposing sum turns all of them into a vector of the tile's results. With kFetch
// (decode, small batches), the tile also prefetches the R rows after its own as one range, as
// dense_impl.hpp's tiles do.
template <int R, int T, bool kFetch>
static inline void accumulate(const uint8_t* w, size_t row_bytes, size_t cols, const uint16_t* x, size_t ldx,
                              Batch* acc) {
    static_assert(R * T <= 16);
    const uint8_t* next = w + R * row_bytes;
    const size_t next_step = R * row_bytes / (cols / kBf16Cols);  // bytes of the next rows a step
    for (size_t c = 0; c < cols; c += kBf16Cols) {
        if constexpr (kFetch) {
            for (size_t o = 0; o < next_step; o += 64) _mm_prefetch(reinterpret_cast<const char*>(next + o), _MM_HINT_T0);
            next += next_step;
        }
        __m512bh xv[T];
        for (int t = 0; t < T; ++t) xv[t] = (__m512bh)_mm512_loadu_si512(x + t * ldx + c);
        for (int r = 0; r < R; ++r) {
            const __m512bh wv = (__m512bh)_mm512_loadu_si512(w + r * row_bytes + 2 * c);
            for (int t = 0; t < T; ++t) acc[t * R + r] = _mm512_dpbf16_ps(acc[t * R + r], wv, xv[t]);
        }
    }
}

template <int R, int T, bool kFetch = false>
static void tile(const uint8_t* w, size_t row_bytes, size_t cols, const uint16_t* x, size_t ldx, float* y,
                 size_t ldy) {
    Batch acc[16];
    for (int i = 0; i < 16; ++i) acc[i] = Batch(0.0f);
    accumulate<R, T, kFetch>(w, row_bytes, cols, x, ldx, acc);
    alignas(64) float sums[16];
    _mm512_store_ps(sums, sum_lanes(acc));
    for (int t = 0; t < T; ++t)
        for (int r = 0; r < R; ++r) y[t * ldy + r] = sums[t * R + r];
}

// Decode: one row after the other (a thread's rows are one sequential stream, the next row
// prefetched), 16 rows' accumulators summed at once.
static void decode_rows(const uint8_t* w, size_t row_bytes, size_t cols, size_t r0, size_t r1, const uint16_t* x,
                        float* y) {
    for (size_t r = r0; r < r1; r += 16) {
        const size_t n = std::min<size_t>(16, r1 - r);
        Batch acc[16];
        for (size_t i = 0; i < 16; ++i) {
            acc[i] = Batch(0.0f);
            if (i < n) accumulate<1, 1, true>(w + (r + i) * row_bytes, row_bytes, cols, x, 0, acc + i);
        }
        alignas(64) float sums[16];
        _mm512_store_ps(sums, sum_lanes(acc));
        for (size_t i = 0; i < n; ++i) y[r + i] = sums[i];
    }
}

// Several sequences decoding together (2 to 8 tokens): 2 rows x all the tokens, the rows read
// once from memory.
template <int T>
static void small_batch_rows(const uint8_t* w, size_t row_bytes, size_t cols, size_t r0, size_t r1,
                             const uint16_t* x, size_t ldx, float* y, size_t ldy) {
    size_t r = r0;
    for (; r + 2 <= r1; r += 2) tile<2, T, true>(w + r * row_bytes, row_bytes, cols, x, ldx, y + r, ldy);
    for (; r < r1; ++r) tile<1, T, true>(w + r * row_bytes, row_bytes, cols, x, ldx, y + r, ldy);
}

// Prompts: as dense_impl.hpp's dense_rows, each 4 tokens (their activations in L1) pass over
// all the rows in 4 x 4 tiles; decode and small batches as above.
template <int T>
static void prompt_rows(const uint8_t* w, size_t row_bytes, size_t cols, size_t r0, size_t r1, const uint16_t* x,
                        size_t ldx, float* y, size_t ldy) {
    size_t r = r0;
    for (; r + 4 <= r1; r += 4) tile<4, T>(w + r * row_bytes, row_bytes, cols, x, ldx, y + r, ldy);
    for (; r < r1; ++r) tile<1, T>(w + r * row_bytes, row_bytes, cols, x, ldx, y + r, ldy);
}

void bf16_matmul_rows(const uint8_t* w, size_t row_bytes, size_t cols, size_t r0, size_t r1, const uint16_t* x,
                      size_t ldx, size_t n_tok, float* y, size_t ldy) {
    switch (n_tok) {
    case 1: return decode_rows(w, row_bytes, cols, r0, r1, x, y);
    case 2: return small_batch_rows<2>(w, row_bytes, cols, r0, r1, x, ldx, y, ldy);
    case 3: return small_batch_rows<3>(w, row_bytes, cols, r0, r1, x, ldx, y, ldy);
    case 4: return small_batch_rows<4>(w, row_bytes, cols, r0, r1, x, ldx, y, ldy);
    case 5: return small_batch_rows<5>(w, row_bytes, cols, r0, r1, x, ldx, y, ldy);
    case 6: return small_batch_rows<6>(w, row_bytes, cols, r0, r1, x, ldx, y, ldy);
    case 7: return small_batch_rows<7>(w, row_bytes, cols, r0, r1, x, ldx, y, ldy);
    case 8: return small_batch_rows<8>(w, row_bytes, cols, r0, r1, x, ldx, y, ldy);
    default: break;
    }
    for (size_t t = 0; t < n_tok; t += 4) {
        const uint16_t* xt = x + t * ldx;
        float* yt = y + t * ldy;
        switch (std::min<size_t>(n_tok - t, 4)) {
        case 4: prompt_rows<4>(w, row_bytes, cols, r0, r1, xt, ldx, yt, ldy); break;
        case 3: prompt_rows<3>(w, row_bytes, cols, r0, r1, xt, ldx, yt, ldy); break;
        case 2: prompt_rows<2>(w, row_bytes, cols, r0, r1, xt, ldx, yt, ldy); break;
        default: prompt_rows<1>(w, row_bytes, cols, r0, r1, xt, ldx, yt, ldy); break;
        }
    }
}

}  // namespace qwen::kernels::avx512bf16
