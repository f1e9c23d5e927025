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

// IQ2_XS rows times one token (decode) with 512-bit vectors: a super-block's 32 grid entries
// come by 4 gathers, where tile256 assembles 4 entries at a time from scalar loads (perf:
// that assembly, and its sign-table look-ups, were 40% of a decode step on a file whose
// ffn_down is IQ2_XS). The 7 stored sign bits of the 8 groups of a 64-code quarter are 8
// bytes, one per group: as a 64-bit mask they are bit j of byte g = the sign of element j of
// group g, and the 8th sign (the parity of the 7) is added with a few scalar shifts. The
// signs go onto the activation (a masked negation), the magnitudes are the unsigned side of
// vpdpbusd. Lane l of a quarter sums codes 4 (l % 8) .. +3 of its 32-code chunk 2q + l / 8,
// so lanes l and l + 8 folded give tile256's 8 lanes exactly (the same integers), and the
// float steps are tile256's: the result is bitwise the shared kernel's (tested).
template <int Q>
static __m256i quarter_indices(__m512i lo, __m512i hi) {  // dword indices of groups 8Q .. 8Q+7
    const __m512i half = Q < 2 ? lo : hi;
    return Q % 2 ? _mm512_extracti64x4_epi64(half, 1) : _mm512_castsi512_si256(half);
}

// The signs of 64 elements as a mask (bit 8g + j: element j of group g is negative) from the
// groups' 7 stored sign bits, byte g of `bits7`.
static inline __mmask64 iq2_signs(uint64_t bits7) {
    uint64_t p = bits7 ^ (bits7 >> 4);  // bit 8g of p ends as the parity of byte g
    p ^= p >> 2;
    p ^= p >> 1;
    return _cvtu64_mask64(bits7 | (p & 0x0101010101010101ull) << 7);
}

template <int Q>
static __m512i iq2_xs_quarter(__m512i total, __m512i glo, __m512i ghi, const uint64_t* bits7, __m512i sc,
                              const int8_t* xq) {
    const __m512i mag = _mm512_i32gather_epi64(quarter_indices<Q>(glo, ghi), kIq2xsGrid, 8);
    const __m512i x = _mm512_loadu_si512(xq + 64 * Q);
    const __m512i xs = _mm512_mask_sub_epi8(x, iq2_signs(bits7[Q]), _mm512_setzero_si512(), x);
    const __m512i dot = _mm512_dpbusd_epi32(_mm512_setzero_si512(), mag, xs);
    // Lane l's 16-element sub-block is 4Q + l / 4.
    const __m512i spread = _mm512_set_epi32(4 * Q + 3, 4 * Q + 3, 4 * Q + 3, 4 * Q + 3, 4 * Q + 2, 4 * Q + 2, 4 * Q + 2,
                                            4 * Q + 2, 4 * Q + 1, 4 * Q + 1, 4 * Q + 1, 4 * Q + 1, 4 * Q, 4 * Q, 4 * Q, 4 * Q);
    return _mm512_add_epi32(total, _mm512_mullo_epi32(dot, _mm512_permutexvar_epi32(spread, sc)));
}

static void iq2_xs_one_token(const uint8_t* w, size_t row_bytes, size_t r0, size_t r1, const QuantActs& x, float* y) {
    const size_t nb = x.cols / 256;
    for (size_t r = r0; r < r1; ++r) {
        const uint8_t* row = w + r * row_bytes;
        __m256 acc = _mm256_setzero_ps();
        for (size_t b = 0; b < nb; ++b) {
            const uint8_t* blk = row + b * sizeof(BlockIQ2_XS);
            _mm_prefetch(reinterpret_cast<const char*>(blk) + 1024, _MM_HINT_T0);
            const __m512i qs = _mm512_loadu_si512(blk + offsetof(BlockIQ2_XS, qs));
            const __m512i g = _mm512_and_si512(qs, _mm512_set1_epi16(511));
            const __m512i glo = _mm512_cvtepu16_epi32(_mm512_castsi512_si256(g));
            const __m512i ghi = _mm512_cvtepu16_epi32(_mm512_extracti64x4_epi64(g, 1));
            alignas(32) uint64_t bits7[4];  // byte g of bits7[q]: group 8q + g's stored sign bits
            _mm256_store_si256(reinterpret_cast<__m256i*>(bits7), _mm512_cvtepi16_epi8(_mm512_srli_epi16(qs, 9)));
            // The 16 sub-block scales 2 ls + 1 (low nibble first), as int32.
            uint64_t packed;
            std::memcpy(&packed, blk + offsetof(BlockIQ2_XS, scales), 8);
            const __m128i b8 = _mm_cvtsi64_si128(int64_t(packed)), low = _mm_set1_epi8(0x0F);
            const __m128i nib = _mm_unpacklo_epi8(_mm_and_si128(b8, low), _mm_and_si128(_mm_srli_epi16(b8, 4), low));
            const __m512i sc = _mm512_add_epi32(_mm512_slli_epi32(_mm512_cvtepu8_epi32(nib), 1), _mm512_set1_epi32(1));
            const int8_t* xq = x.q + b * 256;
            __m512i total = _mm512_setzero_si512();
            total = iq2_xs_quarter<0>(total, glo, ghi, bits7, sc, xq);
            total = iq2_xs_quarter<1>(total, glo, ghi, bits7, sc, xq);
            total = iq2_xs_quarter<2>(total, glo, ghi, bits7, sc, xq);
            total = iq2_xs_quarter<3>(total, glo, ghi, bits7, sc, xq);
            const __m256i sum = _mm256_add_epi32(_mm512_castsi512_si256(total), _mm512_extracti64x4_epi64(total, 1));
            const float d = f16(blk + offsetof(BlockIQ2_XS, d)) * 0.125f;  // as iq2_head
            acc = _mm256_fmadd_ps(_mm256_set1_ps(d * x.d[b]), _mm256_cvtepi32_ps(sum), acc);
        }
        y[r] = hsum(acc);
    }
}

static bool one_token_rows(qwen::TensorType type, const uint8_t* w, size_t row_bytes, size_t r0, size_t r1,
                           const QuantActs& x, float* y) {
    if (type != qwen::TensorType::IQ2_XS) return false;
    iq2_xs_one_token(w, row_bytes, r0, r1, x, y);
    return true;
}

}  // namespace qwen::kernels::avx512
