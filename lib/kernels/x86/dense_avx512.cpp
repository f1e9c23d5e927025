// Dense matmul and attention for AVX-512 (F + BW + VL): 16 floats per vector, F16 widened by vcvtph2ps.
#include "kernels/dispatch.hpp"

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

// Vector i = the sum of the lanes of rows[i], for 16 rows: a transposing tree of adds.
// (xsimd 8.1's haddp for AVX-512 swaps lanes 2-3 with 4-5 and 10-11 with 12-13.)
static inline xsimd::batch<float, Arch> sum_lanes(const xsimd::batch<float, Arch>* r) {
    __m512 s1[8], s2[4];
    for (int i = 0; i < 8; ++i)
        s1[i] = _mm512_add_ps(_mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]), _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]));
    for (int i = 0; i < 4; ++i)  // within each 128-bit lane: rows 4i .. 4i+3
        s2[i] = _mm512_add_ps(_mm512_shuffle_ps(s1[2 * i], s1[2 * i + 1], _MM_SHUFFLE(1, 0, 1, 0)),
                              _mm512_shuffle_ps(s1[2 * i], s1[2 * i + 1], _MM_SHUFFLE(3, 2, 3, 2)));
    const __m512 m01 = _mm512_add_ps(_mm512_shuffle_f32x4(s2[0], s2[1], _MM_SHUFFLE(1, 0, 1, 0)),
                                     _mm512_shuffle_f32x4(s2[0], s2[1], _MM_SHUFFLE(3, 2, 3, 2)));
    const __m512 m23 = _mm512_add_ps(_mm512_shuffle_f32x4(s2[2], s2[3], _MM_SHUFFLE(1, 0, 1, 0)),
                                     _mm512_shuffle_f32x4(s2[2], s2[3], _MM_SHUFFLE(3, 2, 3, 2)));
    return _mm512_add_ps(_mm512_shuffle_f32x4(m01, m23, _MM_SHUFFLE(2, 0, 2, 0)),
                         _mm512_shuffle_f32x4(m01, m23, _MM_SHUFFLE(3, 1, 3, 1)));
}

#include "kernels/dense_impl.hpp"
#include "kernels/attention_impl.hpp"

}  // namespace qwen::kernels::avx512
