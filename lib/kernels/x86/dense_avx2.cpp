// Dense matmul and attention for AVX2 + FMA + F16C: 8 floats per vector.
#include "core/aligned_buffer.hpp"
#include "kernels/dispatch.hpp"

#include <algorithm>
#include <cmath>
#include <immintrin.h>
#include <type_traits>
#include <xsimd/xsimd.hpp>

namespace qwen::kernels::avx2 {

using Arch = xsimd::fma3<xsimd::avx2>;

static inline xsimd::batch<float, Arch> load_f16(const uint16_t* p) {
    return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
}
static inline xsimd::batch<float, Arch> load_bf16(const uint16_t* p) {
    __m256i w = _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
    return _mm256_castsi256_ps(_mm256_slli_epi32(w, 16));
}

#include "kernels/dense_impl.hpp"
#include "kernels/attention_impl.hpp"
#include "kernels/act_quant_impl.hpp"

}  // namespace qwen::kernels::avx2
