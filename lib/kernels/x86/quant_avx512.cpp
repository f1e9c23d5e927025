// Integer-dot matmul for quantized weights with AVX-512 VNNI: vpdpbusd on 256-bit vectors
// (AVX512VL), which sums four u8 * s8 products into each int32 lane in one instruction,
// with the 32 vector registers of AVX-512 for a 4-row x 4-token tile. Only dispatched when
// the CPU reports AVX512_VNNI (dispatch.cpp).
#include "kernels/dispatch.hpp"
#include "quant/blocks.hpp"
#include "quant/iq_grids.hpp"

#include <cstring>
#include <immintrin.h>

namespace qwen::kernels::avx512 {

constexpr int kRows = 4, kToks = 4;

// vpdpbusd multiplies unsigned by signed bytes: the activation is offset to x + 128 (one
// xor per token, shared by every row), and the accumulator starts at -128 * sum(q) (once
// per weight block, shared by every token), so one instruction gives sum(x * q) exactly.
struct SignedDot {
    static __m256i weights(__m256i q) {
        const __m256i s = _mm256_dpbusd_epi32(_mm256_setzero_si256(), _mm256_set1_epi8(-128), q);
        return _mm256_sub_epi32(_mm256_setzero_si256(), s);
    }
    static __m256i acts(__m256i x) { return _mm256_xor_si256(x, _mm256_set1_epi8(-128)); }
    static __m256i dot(__m256i q, __m256i minus_128_sum_q, __m256i x_plus_128) {
        return _mm256_dpbusd_epi32(minus_128_sum_q, x_plus_128, q);
    }
};

#include "kernels/x86/quant_impl.hpp"

}  // namespace qwen::kernels::avx512
