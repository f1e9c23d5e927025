// Dense matmul and attention for AVX-512 (F + BW + VL): 16 floats per vector, F16 widened by vcvtph2ps.
#include "kernels/dispatch.hpp"

#include <algorithm>
#include <cmath>
#include <immintrin.h>
#include <xsimd/xsimd.hpp>

namespace qwen::kernels::avx512 {

using Arch = xsimd::avx512bw;

static inline xsimd::batch<float, Arch> load_f16(const uint16_t* p) {
    return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
}
static inline xsimd::batch<float, Arch> load_bf16(const uint16_t* p) {
    __m512i w = _mm512_cvtepu16_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
    return _mm512_castsi512_ps(_mm512_slli_epi32(w, 16));
}

// The sums of 16 vectors' lanes, in order: every vector by the same tree (its halves added,
// then the halves of those, down to one lane), 30 shuffles and 15 adds for all 16. xsimd
// 8.1's haddp for AVX-512 returns its sums out of order (rows 2, 3 where 4, 5 belong, ...).
// The folds leave row s(p) at position p, s = 0 2 1 3 8 10 9 11 4 6 5 7 12 14 13 15, and s is
// its own inverse, so the rows go in at those positions.
static inline xsimd::batch<float, Arch> sum_rows(const xsimd::batch<float, Arch>* row) {
    constexpr int s[16] = {0, 2, 1, 3, 8, 10, 9, 11, 4, 6, 5, 7, 12, 14, 13, 15};
    __m512 t[8], u[4], v[2];
    for (int i = 0; i < 8; ++i) {  // [row lo8 + hi8 | row' lo8 + hi8]
        const __m512 a = row[s[i]], b = row[s[i + 8]];
        t[i] = _mm512_add_ps(_mm512_shuffle_f32x4(a, b, _MM_SHUFFLE(1, 0, 1, 0)),
                             _mm512_shuffle_f32x4(a, b, _MM_SHUFFLE(3, 2, 3, 2)));
    }
    for (int i = 0; i < 4; ++i)  // 4 lanes of a row in each quarter
        u[i] = _mm512_add_ps(_mm512_shuffle_f32x4(t[i], t[i + 4], _MM_SHUFFLE(2, 0, 2, 0)),
                             _mm512_shuffle_f32x4(t[i], t[i + 4], _MM_SHUFFLE(3, 1, 3, 1)));
    for (int i = 0; i < 2; ++i)  // 2 lanes of a row, two rows a quarter
        v[i] = _mm512_add_ps(_mm512_shuffle_ps(u[i], u[i + 2], _MM_SHUFFLE(1, 0, 1, 0)),
                             _mm512_shuffle_ps(u[i], u[i + 2], _MM_SHUFFLE(3, 2, 3, 2)));
    return _mm512_add_ps(_mm512_shuffle_ps(v[0], v[1], _MM_SHUFFLE(2, 0, 2, 0)),
                         _mm512_shuffle_ps(v[0], v[1], _MM_SHUFFLE(3, 1, 3, 1)));
}
#define QWEN_DENSE_SUM_ROWS

#include "kernels/dense_impl.hpp"
#include "kernels/attention_impl.hpp"
#include "kernels/act_quant_impl.hpp"

}  // namespace qwen::kernels::avx512
