// Dense matmul and attention for AVX-512 (F + BW + VL): 16 floats per vector, F16 widened by vcvtph2ps.
#include "core/aligned_buffer.hpp"
#include "kernels/dispatch.hpp"

#include <algorithm>
#include <cmath>
#include <immintrin.h>
#include <type_traits>
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

#include "kernels/x86/sum_lanes_avx512.hpp"
static inline xsimd::batch<float, Arch> sum_rows(const xsimd::batch<float, Arch>* rows) { return sum_lanes(rows); }
#define QWEN_DENSE_SUM_ROWS

#include "kernels/dense_impl.hpp"
#include "kernels/attention_impl.hpp"
#include "kernels/act_quant_impl.hpp"

}  // namespace qwen::kernels::avx512
