// The activation quantizer of the integer-dot kernels, written once over an xsimd
// architecture and compiled per instruction set (included by the dense_*.cpp files, which
// define `using Arch`; nothing here may be an inline function outside their namespace, see
// dense_impl.hpp). A token row of floats becomes ggml's Q8_0 or Q8_K codes, bit for bit
// what quant::quantize_row writes (tests/kernels/test_act_quant.cpp), laid out as QuantActs
// wants them: codes contiguous, block scales, code sums. The reference quantizer is scalar
// and costs ~6 us per 896 floats; this runs once per token and matrix input, ~100 times
// per decoded token and on one thread while the others wait.
//
// Blocks whose result the vector path does not reproduce -- a NaN or an infinity, or a
// scale whose reciprocal overflows -- make the whole row return false; the caller then
// takes the reference quantizer, which defines those cases (quant/quantize.hpp).
//
// Rounding must see the product exactly as the reference computes it (one float multiply,
// rounded): opaque() keeps the compiler from fusing that multiply into the following
// subtraction (-ffp-contract=fast is GCC's default, and these files may have FMA).

using ActBatch = xsimd::batch<float, Arch>;
using ActInts = xsimd::batch<int32_t, Arch>;
constexpr size_t kActLanes = ActBatch::size;

// Codes in [-128, 127] as int8: one vpmovdb on AVX-512, else a lane at a time (the scalar
// loops over each block's codes were most of this quantizer's time).
static inline void store_codes(ActInts v, int8_t* q) {
#if defined(__AVX512F__)
    static_assert(kActLanes == 16, "a vector of 16 int32");
    _mm_storeu_si128(reinterpret_cast<__m128i*>(q), _mm512_cvtepi32_epi8(v));
#else
    alignas(64) int32_t c[kActLanes];
    v.store_aligned(c);
    for (size_t j = 0; j < kActLanes; ++j) q[j] = int8_t(c[j]);
#endif
}

static inline ActBatch opaque(ActBatch v) {
    typename ActBatch::register_type r = v;
#if defined(__x86_64__)
    asm("" : "+v"(r));
#elif defined(__aarch64__)
    asm("" : "+w"(r));
#endif
    return r;
}

static inline float max_lane(ActBatch v) {
    alignas(64) float lanes[kActLanes];
    v.store_aligned(lanes);
    float m = lanes[0];
    for (size_t i = 1; i < kActLanes; ++i) m = lanes[i] > m ? lanes[i] : m;
    return m;
}

// The largest |x[i]| of n values (a multiple of the lanes); false if one is NaN or infinite.
static inline bool block_absmax(const float* x, size_t n, float& amax) {
    ActBatch m(0.0f), z(0.0f);
    for (size_t i = 0; i < n; i += kActLanes) {
        const ActBatch v = ActBatch::load_unaligned(x + i);
        m = xsimd::max(m, xsimd::abs(v));
        z += v - v;  // 0, or NaN for a NaN or an infinity
    }
    amax = max_lane(m);
    return xsimd::hadd(z) == 0.0f;
}

// The codes of one Q8_0 block of 32 for the reciprocal scale id: round(x * id) half away
// from zero, stored as int8. Returns them as floats added lane by lane: whole numbers of
// magnitude <= 32 x 127, so any order of summing them is exact.
static inline ActBatch q8_0_codes(const float* x, ActBatch id, int8_t* q) {
    const ActBatch half(0.5f), one(1.0f), zero(0.0f);
    ActBatch total(0.0f);
    for (size_t i = 0; i < 32; i += kActLanes) {
        const ActBatch p = opaque(ActBatch::load_unaligned(x + i) * id);
        const ActBatch t = xsimd::trunc(p);
        const ActBatch away = xsimd::select(p < zero, -one, one);
        const ActBatch r = t + xsimd::select(xsimd::abs(p - t) >= half, away, zero);
        total += r;
        store_codes(xsimd::batch_cast<int32_t>(r), q + i);
    }
    return total;
}

// Q8_0 (32 elements): d = amax / 127 (the caller rounds it to f16 as the block stores it),
// codes round(x / d) half away from zero, and their sum for the packed kernels.
static inline bool act_q8_0(const float* x, int8_t* q, float& d_out, int32_t& sum) {
    float amax;
    if (!block_absmax(x, 32, amax)) return false;
    const float d = amax / 127.0f, id = d != 0.0f ? 1.0f / d : 0.0f;
    if (!(id - id == 0.0f)) return false;  // the reciprocal overflowed
    const ActBatch total = q8_0_codes(x, ActBatch(id), q);
    d_out = d;
    sum = int32_t(xsimd::hadd(total));
    return true;
}

#if defined(__AVX512F__)
#include "kernels/x86/sum_lanes_avx512.hpp"

// A row of Q8_0 blocks on AVX-512, 16 blocks at a time: their largest magnitudes and code
// sums are reduced across lanes for all 16 at once (max_lanes, sum_lanes: ~3 vector
// operations a block), where act_q8_0's reductions per block (a horizontal add, a scalar
// scan for the maximum) were two thirds of this quantizer's time in perf on a 512-token
// prompt. The same arithmetic on each element, so the same bytes; false for the same rows.
static inline bool act_q8_0_row(const float* x, size_t nb, int8_t* q, float* d, int32_t* sums) {
    const __m512 zero = _mm512_setzero_ps(), one = _mm512_set1_ps(1.0f);
    __m512 z = zero;  // 0, or NaN once the row has had a NaN or an infinity
    for (size_t b0 = 0; b0 < nb; b0 += 16) {
        const size_t n = std::min<size_t>(16, nb - b0);
        const __mmask16 live = __mmask16((1u << n) - 1);
        const float* xb = x + 32 * b0;
        __m512 v[16];
        for (size_t b = 0; b < 16; ++b) {
            v[b] = zero;
            if (b >= n) continue;
            const __m512 lo = _mm512_loadu_ps(xb + 32 * b), hi = _mm512_loadu_ps(xb + 32 * b + 16);
            z = _mm512_add_ps(z, _mm512_add_ps(_mm512_sub_ps(lo, lo), _mm512_sub_ps(hi, hi)));
            v[b] = _mm512_max_ps(_mm512_abs_ps(lo), _mm512_abs_ps(hi));
        }
        const __m512 dv = _mm512_div_ps(max_lanes(v), _mm512_set1_ps(127.0f));
        const __m512 idv = _mm512_maskz_div_ps(_mm512_cmp_ps_mask(dv, zero, _CMP_NEQ_UQ), one, dv);
        if (_mm512_mask_cmp_ps_mask(live, _mm512_sub_ps(idv, idv), zero, _CMP_NEQ_UQ)) return false;  // overflowed
        alignas(64) float ids[16];
        _mm512_store_ps(ids, idv);
        for (size_t b = 0; b < 16; ++b)
            v[b] = b < n ? __m512(q8_0_codes(xb + 32 * b, ActBatch(ids[b]), q + 32 * (b0 + b))) : zero;
        _mm512_mask_storeu_ps(d + b0, live, dv);
        _mm512_mask_storeu_epi32(sums + b0, live, _mm512_cvttps_epi32(sum_lanes(v)));
    }
    return _mm512_cmp_ps_mask(z, zero, _CMP_NEQ_UQ) == 0;
}
#endif

// Q8_K (256 elements): the signed value of largest magnitude (the first one), iscale =
// -127 / max, codes min(127, round(iscale * x)) ties to even, d = 1 / iscale, and the
// sixteen 16-element code sums.
static inline bool act_q8_k(const float* x, int8_t* q, float& d_out, int16_t* bsums) {
    float amax;
    if (!block_absmax(x, 256, amax)) return false;
    if (amax == 0.0f) {
        for (size_t j = 0; j < 256; ++j) q[j] = 0;
        for (size_t j = 0; j < 16; ++j) bsums[j] = 0;
        d_out = 0.0f;
        return true;
    }
    float max = 0.0f;
#if defined(__AVX512F__)
    // The scan and the 16-element sums a vector at a time (scalar, they were most of this
    // block's time): perf on synth-Q4_K_M pp512, 3.3% of the time -> 1.3%.
    for (size_t i = 0; i < 256; i += 16) {
        const __mmask16 hit =
            _mm512_cmp_ps_mask(_mm512_abs_ps(_mm512_loadu_ps(x + i)), _mm512_set1_ps(amax), _CMP_EQ_OQ);
        if (hit) {
            max = x[i + size_t(__builtin_ctz(hit))];
            break;
        }
    }
    const float iscale = -127.0f / max;
    if (!(iscale - iscale == 0.0f)) return false;
    __m512 sixteens[16];  // codes as floats: sums of 16 of them are exact
    for (size_t i = 0; i < 256; i += 16) {
        const ActInts v = xsimd::min(
            xsimd::nearbyint_as_int(opaque(ActBatch::load_unaligned(x + i) * ActBatch(iscale))), ActInts(127));
        store_codes(v, q + i);
        sixteens[i / 16] = _mm512_cvtepi32_ps(v);
    }
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(bsums),
                        _mm512_cvtepi32_epi16(_mm512_cvttps_epi32(sum_lanes(sixteens))));
#else
    for (size_t j = 0; j < 256; ++j)
        if (x[j] == amax || x[j] == -amax) {
            max = x[j];
            break;
        }
    const float iscale = -127.0f / max;
    if (!(iscale - iscale == 0.0f)) return false;
    static_assert(16 % kActLanes == 0, "a 16-element sum is whole vectors");
    int32_t s = 0;
    for (size_t i = 0; i < 256; i += kActLanes) {
        const ActInts v = xsimd::min(
            xsimd::nearbyint_as_int(opaque(ActBatch::load_unaligned(x + i) * ActBatch(iscale))), ActInts(127));
        store_codes(v, q + i);
        s += xsimd::hadd(v);
        if ((i + kActLanes) % 16 == 0) {
            bsums[i / 16] = int16_t(s);
            s = 0;
        }
    }
#endif
    d_out = 1.0f / iscale;
    return true;
}

bool quantize_act_row(TensorType act, const float* x, size_t cols, int8_t* q, float* d, int16_t* bsums,
                      int32_t* sums) {
    if (cols % kActLanes) return false;
    if (act == TensorType::Q8_K) {
        for (size_t b = 0; b < cols / 256; ++b)
            if (!act_q8_k(x + 256 * b, q + 256 * b, d[b], bsums + 16 * b)) return false;
        return true;
    }
#if defined(__AVX512F__)
    return act_q8_0_row(x, cols / 32, q, d, sums);
#else
    for (size_t b = 0; b < cols / 32; ++b)
        if (!act_q8_0(x + 32 * b, q + 32 * b, d[b], sums[b])) return false;
    return true;
#endif
}
