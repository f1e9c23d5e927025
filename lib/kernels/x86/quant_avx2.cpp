// Integer-dot matmul for quantized weights with AVX2: vpmaddubsw + vpmaddwd.
#include "kernels/dispatch.hpp"
#include "quant/blocks.hpp"
#include "quant/iq_grids.hpp"

#include <cstring>
#include <immintrin.h>

namespace qwen::kernels::avx2 {

// 16 registers: a 2-row x 4-token tile keeps 8 accumulators and 4 activation chunks.
constexpr int kRows = 2, kToks = 4;

// vpmaddubsw takes one unsigned operand: the weight's sign moves onto the activation,
// |q| * sign(x, q), exact because activation codes stay within [-127, 127]; no pair
// saturates (|q| <= 128, so a pair sums to at most 32512).
struct SignedDot {
    static __m256i weights(__m256i q) { return _mm256_sign_epi8(q, q); }
    static __m256i acts(__m256i x) { return x; }
    static __m256i dot(__m256i q, __m256i abs_q, __m256i x) {
        return _mm256_madd_epi16(_mm256_maddubs_epi16(abs_q, _mm256_sign_epi8(x, q)), _mm256_set1_epi16(1));
    }
};

#include "kernels/x86/quant_impl.hpp"

static bool one_token_rows(qwen::TensorType, const uint8_t*, size_t, size_t, size_t, const QuantActs&, float*) {
    return false;
}

}  // namespace qwen::kernels::avx2
