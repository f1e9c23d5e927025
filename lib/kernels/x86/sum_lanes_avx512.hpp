// Reductions across the lanes of 16 vectors at once for AVX-512: sums for x86/bf16_avx512.cpp,
// x86/dense_avx512.cpp and the activation quantizers (act_quant_impl.hpp), maxima for the latter.
// Included inside the including file's namespace after its `using Arch = xsimd::avx512bw`, so each
// copy is internal to a file compiled with that file's flags (see dense_impl.hpp).
// (x86/dense_avx512.cpp includes it twice: itself, and through act_quant_impl.hpp.)
#pragma once

// Lane i = op over the lanes of rows[i], for 16 rows: a transposing tree, each lane of each
// row taken once (op: an associative, commutative vector operation such as add or max).
// (xsimd 8.1's haddp for AVX-512 swaps lanes 2-3 with 4-5 and 10-11 with 12-13.)
template <class Op>
static inline __m512 fold_lanes(const __m512* r, Op op) {
    __m512 s1[8], s2[4];
    for (int i = 0; i < 8; ++i)
        s1[i] = op(_mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]), _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]));
    for (int i = 0; i < 4; ++i)  // within each 128-bit lane: rows 4i .. 4i+3
        s2[i] = op(_mm512_shuffle_ps(s1[2 * i], s1[2 * i + 1], _MM_SHUFFLE(1, 0, 1, 0)),
                   _mm512_shuffle_ps(s1[2 * i], s1[2 * i + 1], _MM_SHUFFLE(3, 2, 3, 2)));
    const __m512 m01 = op(_mm512_shuffle_f32x4(s2[0], s2[1], _MM_SHUFFLE(1, 0, 1, 0)),
                          _mm512_shuffle_f32x4(s2[0], s2[1], _MM_SHUFFLE(3, 2, 3, 2)));
    const __m512 m23 = op(_mm512_shuffle_f32x4(s2[2], s2[3], _MM_SHUFFLE(1, 0, 1, 0)),
                          _mm512_shuffle_f32x4(s2[2], s2[3], _MM_SHUFFLE(3, 2, 3, 2)));
    return op(_mm512_shuffle_f32x4(m01, m23, _MM_SHUFFLE(2, 0, 2, 0)),
              _mm512_shuffle_f32x4(m01, m23, _MM_SHUFFLE(3, 1, 3, 1)));
}

// Lane i = the sum, or the maximum, of the lanes of rows[i], for 16 rows.
static inline __m512 sum_lanes(const __m512* r) {
    return fold_lanes(r, [](__m512 a, __m512 b) { return _mm512_add_ps(a, b); });
}
static inline __m512 max_lanes(const __m512* r) {
    return fold_lanes(r, [](__m512 a, __m512 b) { return _mm512_max_ps(a, b); });
}
static inline xsimd::batch<float, Arch> sum_lanes(const xsimd::batch<float, Arch>* r) {
    __m512 rows[16];
    for (int i = 0; i < 16; ++i) rows[i] = r[i];
    return sum_lanes(rows);
}
