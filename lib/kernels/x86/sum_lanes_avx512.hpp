// sum_lanes for AVX-512, used by x86/bf16_avx512.cpp (the dense and attention kernels no
// longer sum across lanes). Included
// inside the including file's namespace after its `using Arch = xsimd::avx512bw`, so each
// copy is internal to a file compiled with that file's flags (see dense_impl.hpp).

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
