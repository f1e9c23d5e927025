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

// The IQ2 grid formats with 7 stored sign bits per group of 8 (IQ2_XXS, IQ2_XS) times one
// token (decode) with 512-bit vectors. tile256 assembles their grid entries 4 at a time from
// scalar loads and their signs from a table per group (perf: 40% of a decode step on a file
// whose ffn_down is IQ2_XS); here a 64-code quarter of a super-block loads its 8 grid entries
// into one vector (grid_entries), and its 8 groups' sign bits are 8 bytes, byte g holding
// group g's 7 stored bits: as a 64-bit mask, bit 8g + j is the sign of element j of group
// g, and the 8th sign (the parity of the 7) is added by a few scalar shifts. The signs go
// onto the activation (a masked negation), the magnitudes are the unsigned side of
// vpdpbusd. Lane l of a quarter sums codes 4 (l % 8) .. +3 of its 32-code chunk 2q + l / 8,
// so lanes l and l + 8 folded give tile256's 8 lanes exactly (the same integers), and the
// float steps are tile256's: the results are bitwise the shared kernel's (tests/kernels: one
// token alone equals its result in a call of several). bench_kernels '(iq2_xxs|iq2_xs|iq3_xxs)/896x4864/tok:1/int', one
// thread, against tile256: IQ2_XS 21.6 -> 46.1-47.9 GFLOP/s, IQ2_XXS 24.6-25.4 -> 32.5-32.7;
// IQ3_XXS (a gather of 16 dword entries per quarter) gained nothing and keeps tile256.
//
// A format: kBytes; d(b), its scale with ggml's power of two folded in (as tile256's head);
// mag<Q>(b), the magnitudes of quarter Q; bits7(b, out), the quarters' sign-bit bytes;
// scales(b), the 16 sub-block scales (per 16 elements, 2 ls + 1) as int32.

// Grid entries grid[index(0)] .. grid[index(7)] as the 8 lanes of a vector, from 8 loads:
// vpgatherqq did the same in about 2.3 times the time of the rest of the kernel (bench_kernels
// 'iq2_xs/896x4864/tok:1/int' with the gather replaced by a broadcast: 37 -> 85 GFLOP/s; with
// these loads, 47).
template <class Index>
static inline __m512i grid_entries(const uint64_t* grid, Index index) {
    const auto pair = [&](int i) {  // lanes i, i + 1: movq, then movhpd into the high half
        const __m128d lo = _mm_castsi128_pd(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(grid + index(i))));
        return _mm_castpd_si128(_mm_loadh_pd(lo, reinterpret_cast<const double*>(grid + index(i + 1))));
    };
    const __m256i a = _mm256_inserti128_si256(_mm256_castsi128_si256(pair(0)), pair(2), 1);
    const __m256i c = _mm256_inserti128_si256(_mm256_castsi128_si256(pair(4)), pair(6), 1);
    return _mm512_inserti64x4(_mm512_castsi256_si512(a), c, 1);
}

static inline uint32_t sign_bytes_4x7(uint32_t v) {  // 4 fields of 7 bits -> 4 bytes
    return (v & 0x7F) | (v << 1 & 0x7F00) | (v << 2 & 0x7F0000) | (v << 3 & 0x7F000000);
}

struct OneIQ2_XXS {  // per 32: 4 grid index bytes, then 4 x 7 sign bits and the scale
    static constexpr size_t kBytes = sizeof(BlockIQ2_XXS);
    static const uint8_t* chunk(const uint8_t* b, int k) { return WIQ2_XXS::sub(b, k); }
    static float d(const uint8_t* b) { return iq2_d<BlockIQ2_XXS>(b); }
    template <int Q>
    static __m512i mag(const uint8_t* b) {
        const uint8_t *lo = chunk(b, 2 * Q), *hi = chunk(b, 2 * Q + 1);
        return grid_entries(kIq2xxsGrid, [&](int i) { return i < 4 ? lo[i] : hi[i - 4]; });
    }
    static void bits7(const uint8_t* b, uint64_t* out) {
        for (int q = 0; q < 4; ++q)
            out[q] = sign_bytes_4x7(load_u32(chunk(b, 2 * q) + 4)) |
                     uint64_t(sign_bytes_4x7(load_u32(chunk(b, 2 * q + 1) + 4))) << 32;
    }
    static __m512i scales(const uint8_t* b) {  // each chunk's scale for both of its halves
        alignas(64) int32_t sc[16];
        for (int k = 0; k < 8; ++k) sc[2 * k] = sc[2 * k + 1] = chunk_scale(load_u32(chunk(b, k) + 4));
        return _mm512_load_si512(sc);
    }
};

struct OneIQ2_XS {  // per 8: a 9-bit grid index and 7 sign bits; two 4-bit scales per 32
    static constexpr size_t kBytes = sizeof(BlockIQ2_XS);
    static const uint8_t* qs(const uint8_t* b) { return b + offsetof(BlockIQ2_XS, qs); }
    static float d(const uint8_t* b) { return iq2_d<BlockIQ2_XS>(b); }
    template <int Q>
    static __m512i mag(const uint8_t* b) {
        uint16_t ix[8];
        std::memcpy(ix, qs(b) + 16 * Q, 16);
        return grid_entries(kIq2xsGrid, [&](int i) { return ix[i] & 511; });
    }
    static void bits7(const uint8_t* b, uint64_t* out) {
        const __m512i c = _mm512_loadu_si512(qs(b));
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(out), _mm512_cvtepi16_epi8(_mm512_srli_epi16(c, 9)));
    }
    static __m512i scales(const uint8_t* b) {  // low nibble first
        uint64_t packed;
        std::memcpy(&packed, b + offsetof(BlockIQ2_XS, scales), 8);
        const __m128i b8 = _mm_cvtsi64_si128(int64_t(packed)), low = _mm_set1_epi8(0x0F);
        const __m128i nib = _mm_unpacklo_epi8(_mm_and_si128(b8, low), _mm_and_si128(_mm_srli_epi16(b8, 4), low));
        return _mm512_add_epi32(_mm512_slli_epi32(_mm512_cvtepu8_epi32(nib), 1), _mm512_set1_epi32(1));
    }
};

// The signs of 64 elements as a mask (bit 8g + j: element j of group g is negative) from the
// groups' 7 stored sign bits, byte g of `bits7`.
static inline __mmask64 signs_of_groups(uint64_t bits7) {
    uint64_t p = bits7 ^ (bits7 >> 4);  // bit 8g of p ends as the parity of byte g
    p ^= p >> 2;
    p ^= p >> 1;
    return _cvtu64_mask64(bits7 | (p & 0x0101010101010101ull) << 7);
}

template <class F, int Q>
static __m512i one_token_quarter(__m512i total, const uint8_t* blk, const uint64_t* bits7, __m512i sc,
                                 const int8_t* xq) {
    const __m512i x = _mm512_loadu_si512(xq + 64 * Q);
    const __m512i xs = _mm512_mask_sub_epi8(x, signs_of_groups(bits7[Q]), _mm512_setzero_si512(), x);
    const __m512i dot = _mm512_dpbusd_epi32(_mm512_setzero_si512(), F::template mag<Q>(blk), xs);
    // Lane l's 16-element sub-block is 4Q + l / 4.
    const __m512i spread = _mm512_set_epi32(4 * Q + 3, 4 * Q + 3, 4 * Q + 3, 4 * Q + 3, 4 * Q + 2, 4 * Q + 2, 4 * Q + 2,
                                            4 * Q + 2, 4 * Q + 1, 4 * Q + 1, 4 * Q + 1, 4 * Q + 1, 4 * Q, 4 * Q, 4 * Q, 4 * Q);
    return _mm512_add_epi32(total, _mm512_mullo_epi32(dot, _mm512_permutexvar_epi32(spread, sc)));
}

template <class F>
static void one_token(const uint8_t* w, size_t row_bytes, size_t r0, size_t r1, const QuantActs& x, float* y) {
    const size_t nb = x.cols / 256;
    for (size_t r = r0; r < r1; ++r) {
        const uint8_t* row = w + r * row_bytes;
        __m256 acc = _mm256_setzero_ps();
        for (size_t b = 0; b < nb; ++b) {
            const uint8_t* blk = row + b * F::kBytes;
            _mm_prefetch(reinterpret_cast<const char*>(blk) + 1024, _MM_HINT_T0);
            alignas(32) uint64_t bits7[4];
            F::bits7(blk, bits7);
            const __m512i sc = F::scales(blk);
            const int8_t* xq = x.q + b * 256;
            __m512i total = _mm512_setzero_si512();
            total = one_token_quarter<F, 0>(total, blk, bits7, sc, xq);
            total = one_token_quarter<F, 1>(total, blk, bits7, sc, xq);
            total = one_token_quarter<F, 2>(total, blk, bits7, sc, xq);
            total = one_token_quarter<F, 3>(total, blk, bits7, sc, xq);
            const __m256i sum = _mm256_add_epi32(_mm512_castsi512_si256(total), _mm512_extracti64x4_epi64(total, 1));
            acc = _mm256_fmadd_ps(_mm256_set1_ps(F::d(blk) * x.d[b]), _mm256_cvtepi32_ps(sum), acc);
        }
        y[r] = hsum(acc);
    }
}

static bool one_token_rows(qwen::TensorType type, const uint8_t* w, size_t row_bytes, size_t r0, size_t r1,
                           const QuantActs& x, float* y) {
    switch (type) {
    case qwen::TensorType::IQ2_XXS: one_token<OneIQ2_XXS>(w, row_bytes, r0, r1, x, y); return true;
    case qwen::TensorType::IQ2_XS: one_token<OneIQ2_XS>(w, row_bytes, r0, r1, x, y); return true;
    default: return false;
    }
}

}  // namespace qwen::kernels::avx512
