// The integer-dot matmul for quantized weights on x86 (256-bit vectors), written once and
// compiled per instruction set (x86/quant_avx2.cpp, x86/quant_avx512.cpp). The including
// file defines, inside its own namespace:
//   struct SignedDot   the exact sums of 4 adjacent products of two vectors of 32 signed
//                      codes, with each side prepared once (see the including files):
//                      dot(q, weights(q), acts(x)) -> 8 int32 lanes
//   constexpr int kRows, kToks                      the prefill register tile
// and, after including it, one_token_rows() (declared below): its own kernels for one token,
// where it has some.
// Nothing here may be an inline function outside that namespace (see dense_impl.hpp).
//
// The arithmetic is ggml's: per block, the weight codes times the activation's Q8 codes
// summed exactly in integers, then scaled by d_w * d_x and summed in float. Legacy weights
// are decoded to 32 signed codes; the codes of the 256-element formats are unsigned (Q2_K,
// Q4_K, Q5_K) or signed (Q3_K, Q6_K, the IQ formats, whose grid magnitudes get their sign
// bits) and their sub-block scales applied in integers (vpmaddwd) before the float scaling;
// the min terms go through the activation's 16-element code sums, as in ggml.
//
// Decode (one token) streams 4 weight rows at a time; prefill reuses each decoded weight
// chunk for kToks tokens and each activation chunk for kRows rows (the loops are shared with
// the Arm kernels: kernels/quant_rows_impl.hpp).

using namespace qwen::quant;

static inline float f16(const uint8_t* p) {
    uint16_t h;
    std::memcpy(&h, p, 2);
    return _cvtsh_ss(h);
}

static inline float hsum(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    return _mm_cvtss_f32(_mm_add_ss(s, _mm_movehdup_ps(s)));
}

static inline __m256i nibbles(const uint8_t* qs) {  // 16 bytes -> low nibbles, then high ones
    const __m128i b = _mm_loadu_si128(reinterpret_cast<const __m128i*>(qs));
    return _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(b, 4), b), _mm256_set1_epi8(0x0F));
}

static inline __m256i load32(const void* p) { return _mm256_loadu_si256(static_cast<const __m256i*>(p)); }

static inline uint32_t load_u32(const uint8_t* p) {
    uint32_t v;
    std::memcpy(&v, p, 4);
    return v;
}

// Byte j = 0xFF where bit j of `bits` is set, else 0.
static inline __m256i byte_mask(uint32_t bits) {
    const __m256i bit = _mm256_set1_epi64x(0x8040201008040201);
    const __m256i b = _mm256_shuffle_epi8(_mm256_set1_epi32(int(bits)),
                                          _mm256_set_epi64x(0x0303030303030303, 0x0202020202020202,
                                                            0x0101010101010101, 0x0000000000000000));
    return _mm256_cmpeq_epi8(_mm256_and_si256(b, bit), bit);
}

// Sub-block scales for 32 codes as 16 int16 (one per adjacent pair): lo for codes 0-15, hi
// for 16-31.
static inline __m256i per16(int lo, int hi) {
    return _mm256_set_m128i(_mm_set1_epi16(int16_t(hi)), _mm_set1_epi16(int16_t(lo)));
}

// ---------------------------------------------------------------- 32-element formats
// codes(block) -> the 32 signed codes q with x = d * q; the block starts with its f16 d.

struct WQ8_0 {
    static constexpr size_t kQK = 32, kBytes = sizeof(BlockQ8_0);
    static __m256i codes(const uint8_t* b) { return load32(b + offsetof(BlockQ8_0, qs)); }
};
struct WQ4_0 {
    static constexpr size_t kQK = 32, kBytes = sizeof(BlockQ4_0);
    static __m256i codes(const uint8_t* b) {
        return _mm256_sub_epi8(nibbles(b + offsetof(BlockQ4_0, qs)), _mm256_set1_epi8(8));
    }
};
struct WQ5_0 {
    static constexpr size_t kQK = 32, kBytes = sizeof(BlockQ5_0);
    static __m256i codes(const uint8_t* b) {
        const __m256i hi = byte_mask(load_u32(b + offsetof(BlockQ5_0, qh)));  // the codes' bit 4
        // q - 16 is the nibble itself when bit 4 is set, else the nibble with its high bits set.
        return _mm256_or_si256(nibbles(b + offsetof(BlockQ5_0, qs)), _mm256_andnot_si256(hi, _mm256_set1_epi8(-16)));
    }
};
struct WIQ4_NL {
    static constexpr size_t kQK = 32, kBytes = sizeof(BlockIQ4_NL);
    static __m256i codes(const uint8_t* b) {
        const __m256i table =
            _mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(kIq4nlValues)));
        return _mm256_shuffle_epi8(table, nibbles(b + offsetof(BlockIQ4_NL, qs)));
    }
};

template <class F, int R, int T>
static void tile32(const uint8_t* w, size_t row_bytes, const QuantActs& x, float* y, size_t ldy) {
    const size_t nb = x.cols / 32;
    __m256 acc[R][T];
    for (int r = 0; r < R; ++r)
        for (int t = 0; t < T; ++t) acc[r][t] = _mm256_setzero_ps();
    for (size_t b = 0; b < nb; ++b) {
        __m256i xq[T];
        float dx[T];
        for (int t = 0; t < T; ++t) {
            xq[t] = SignedDot::acts(load32(x.q + t * x.cols + b * 32));
            dx[t] = x.d[t * nb + b];
        }
        for (int r = 0; r < R; ++r) {
            const uint8_t* blk = w + r * row_bytes + b * F::kBytes;
            // Decode streams R rows at once, more than the hardware prefetchers follow well.
            if constexpr (T == 1) _mm_prefetch(reinterpret_cast<const char*>(blk) + 512, _MM_HINT_T0);
            const __m256i q = F::codes(blk), wq = SignedDot::weights(q);
            const float dw = f16(blk);
            for (int t = 0; t < T; ++t) {
                const __m256i p = SignedDot::dot(q, wq, xq[t]);
                acc[r][t] = _mm256_fmadd_ps(_mm256_set1_ps(dw * dx[t]), _mm256_cvtepi32_ps(p), acc[r][t]);
            }
        }
    }
    for (int r = 0; r < R; ++r)
        for (int t = 0; t < T; ++t) y[t * ldy + r] = hsum(acc[r][t]);
}

// ---------------------------------------------------------------- K-quants (256 elements)
// head(b): the super-block's scales. chunk(b, k): the codes of elements 32k .. 32k+31,
// signed (Q6_K, whose offset of 32 is folded in) or unsigned (Q4_K, whose value is
// d * sc * q - dmin * m); scales(h, k): their sub-block scales as 16 int16, one per pair of
// adjacent products. Q4_K's min term is the integer sum of m times the activation codes,
// taken from the activation's 16-element sums (offset()).

struct WQ4_K {
    static constexpr size_t kQK = 256, kBytes = sizeof(BlockQ4_K);
    static constexpr bool kSigned = false, kMins = true;
    struct Head {
        float d, dmin;
        int16_t sc[8], mn[8];
    };
    static Head head(const uint8_t* b) { return head_of<BlockQ4_K>(b); }
    // Q4_K's and Q5_K's: d, dmin and the eight 6-bit scales and mins.
    template <class Block>
    static Head head_of(const uint8_t* b) {
        Head h{f16(b + offsetof(Block, d)), f16(b + offsetof(Block, dmin)), {}, {}};
        for (int j = 0; j < 8; ++j) {
            uint8_t sc, m;
            scale_min_k4(j, b + offsetof(Block, scales), sc, m);
            h.sc[j] = sc;
            h.mn[j] = m;
        }
        return h;
    }
    static __m256i chunk(const uint8_t* b, int k) {
        const __m256i q = load32(b + offsetof(BlockQ4_K, qs) + 32 * (k / 2));
        return _mm256_and_si256(k % 2 ? _mm256_srli_epi16(q, 4) : q, _mm256_set1_epi8(0x0F));
    }
    static __m256i scales(const Head& h, int k) { return _mm256_set1_epi16(h.sc[k]); }
    static int32_t offset(const Head& h, const int16_t* bsums) {
        int32_t s = 0;
        for (int j = 0; j < 8; ++j) s += h.mn[j] * (bsums[2 * j] + bsums[2 * j + 1]);
        return s;
    }
};

struct WQ6_K {
    static constexpr size_t kQK = 256, kBytes = sizeof(BlockQ6_K);
    static constexpr bool kSigned = true, kMins = false;
    struct Head {
        float d, dmin;
        const int8_t* sc;
    };
    static Head head(const uint8_t* b) {
        return {f16(b + offsetof(BlockQ6_K, d)), 0.0f, reinterpret_cast<const int8_t*>(b + offsetof(BlockQ6_K, scales))};
    }
    // Chunk k of half k / 4: low nibbles of ql[0..31] / ql[32..63], then their high nibbles,
    // each with the next 2-bit field of qh as bits 4 and 5.
    static __m256i chunk(const uint8_t* b, int k) {
        const int half = k / 4, j = k % 4;
        const __m256i ql = load32(b + offsetof(BlockQ6_K, ql) + 64 * half + 32 * (j % 2));
        const __m256i qh = load32(b + offsetof(BlockQ6_K, qh) + 32 * half);
        const __m256i lo = _mm256_and_si256(j < 2 ? ql : _mm256_srli_epi16(ql, 4), _mm256_set1_epi8(0x0F));
        const __m256i hi = _mm256_and_si256(_mm256_slli_epi16(_mm256_srli_epi16(qh, 2 * j), 4), _mm256_set1_epi8(0x30));
        return _mm256_sub_epi8(_mm256_or_si256(lo, hi), _mm256_set1_epi8(32));
    }
    static __m256i scales(const Head& h, int k) { return per16(h.sc[2 * k], h.sc[2 * k + 1]); }
    static int32_t offset(const Head&, const int16_t*) { return 0; }
};

// Q5_K: Q4_K's scales and low nibbles, bit 4 of chunk k's codes from bit k of qh[0..31].
struct WQ5_K {
    static constexpr size_t kQK = 256, kBytes = sizeof(BlockQ5_K);
    static constexpr bool kSigned = false, kMins = true;
    using Head = WQ4_K::Head;
    static Head head(const uint8_t* b) { return WQ4_K::head_of<BlockQ5_K>(b); }
    static __m256i chunk(const uint8_t* b, int k) {
        const __m256i q = load32(b + offsetof(BlockQ5_K, qs) + 32 * (k / 2));
        const __m256i lo = _mm256_and_si256(k % 2 ? _mm256_srli_epi16(q, 4) : q, _mm256_set1_epi8(0x0F));
        const __m256i hi = _mm256_and_si256(_mm256_srli_epi16(load32(b + offsetof(BlockQ5_K, qh)), k), _mm256_set1_epi8(1));
        return _mm256_or_si256(lo, _mm256_slli_epi16(hi, 4));
    }
    static __m256i scales(const Head& h, int k) { return WQ4_K::scales(h, k); }
    static int32_t offset(const Head& h, const int16_t* bsums) { return WQ4_K::offset(h, bsums); }
};

// Q2_K and Q3_K: chunk k is the 2-bit field k % 4 of qs[32 (k / 4) ...]; scales per 16.
static inline __m256i crumbs(const uint8_t* qs, int k) {
    return _mm256_and_si256(_mm256_srli_epi16(load32(qs + 32 * (k / 4)), 2 * (k % 4)), _mm256_set1_epi8(3));
}

// Q2_K: x = d (sc & 15) q - dmin (sc >> 4), unsigned q; its 16 mins meet the activation's
// 16-element sums.
struct WQ2_K {
    static constexpr size_t kQK = 256, kBytes = sizeof(BlockQ2_K);
    static constexpr bool kSigned = false, kMins = true;
    struct Head {
        float d, dmin;
        const uint8_t* sc;
    };
    static Head head(const uint8_t* b) {
        return {f16(b + offsetof(BlockQ2_K, d)), f16(b + offsetof(BlockQ2_K, dmin)), b + offsetof(BlockQ2_K, scales)};
    }
    static __m256i chunk(const uint8_t* b, int k) { return crumbs(b + offsetof(BlockQ2_K, qs), k); }
    static __m256i scales(const Head& h, int k) { return per16(h.sc[2 * k] & 15, h.sc[2 * k + 1] & 15); }
    static int32_t offset(const Head& h, const int16_t* bsums) {
        int32_t s = 0;
        for (int j = 0; j < 16; ++j) s += (h.sc[j] >> 4) * bsums[j];
        return s;
    }
};

// Q3_K: signed codes q - 4, plus 4 where bit k of hmask[0..31] is set; 6-bit scales - 32.
struct WQ3_K {
    static constexpr size_t kQK = 256, kBytes = sizeof(BlockQ3_K);
    static constexpr bool kSigned = true, kMins = false;
    struct Head {
        float d, dmin;
        int8_t sc[16];
    };
    static Head head(const uint8_t* b) {
        Head h{f16(b + offsetof(BlockQ3_K, d)), 0.0f, {}};
        for (int j = 0; j < 16; ++j) h.sc[j] = int8_t(scale_q3_k(j, b + offsetof(BlockQ3_K, scales)) - 32);
        return h;
    }
    static __m256i chunk(const uint8_t* b, int k) {
        const __m256i hbit =
            _mm256_and_si256(_mm256_srli_epi16(load32(b + offsetof(BlockQ3_K, hmask)), k), _mm256_set1_epi8(1));
        return _mm256_sub_epi8(crumbs(b + offsetof(BlockQ3_K, qs), k),
                               _mm256_andnot_si256(_mm256_slli_epi16(hbit, 2), _mm256_set1_epi8(4)));
    }
    static __m256i scales(const Head& h, int k) { return per16(h.sc[2 * k], h.sc[2 * k + 1]); }
    static int32_t offset(const Head&, const int16_t*) { return 0; }
};

// The IQ formats: signed codes, one scale per 32 (IQ4_XS: ls - 32; IQ2_XXS, IQ3_*: 2 ls + 1)
// or per 16 (IQ2_XS, IQ2_S: 2 ls + 1). ggml scales the IQ2 sums by 1/8 and IQ3_XXS's by 1/4
// after summing; that power of two is folded into d (the same float result).
struct HeadIQ {
    float d, dmin;
    int16_t sc[16];
};

struct WIQ4_XS {
    static constexpr size_t kQK = 256, kBytes = sizeof(BlockIQ4_XS);
    static constexpr bool kSigned = true, kMins = false;
    using Head = HeadIQ;
    static Head head(const uint8_t* b) {
        Head h{f16(b + offsetof(BlockIQ4_XS, d)), 0.0f, {}};
        uint16_t sh;
        std::memcpy(&sh, b + offsetof(BlockIQ4_XS, scales_h), 2);
        for (int k = 0; k < 8; ++k) h.sc[k] = int16_t(scale_iq4_xs(k, b + offsetof(BlockIQ4_XS, scales_l), sh) - 32);
        return h;
    }
    static __m256i chunk(const uint8_t* b, int k) {
        const __m256i table =
            _mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(kIq4nlValues)));
        return _mm256_shuffle_epi8(table, nibbles(b + offsetof(BlockIQ4_XS, qs) + 16 * k));
    }
    static __m256i scales(const Head& h, int k) { return _mm256_set1_epi16(h.sc[k]); }
    static int32_t offset(const Head&, const int16_t*) { return 0; }
};

// The signed grid formats (IQ2_*, IQ3_*) hand the tile their 32 codes as magnitudes (the
// grid bytes, all positive) and sign bytes (+1 or -1): the tile applies the signs to the
// activation (one _mm256_sign_epi8 per token, which the signed path spends anyway), so the
// weights are never negated. Their decode is the cost of these formats (it bounds decode
// at one token), so the signs come from tables, not bit loops.
struct Split {
    __m256i mag, sign;
};

// The sign bytes of a group of 8 from its 7-bit code (quant::kSigns7), as a 64-bit lane.
static inline int64_t signs7(uint32_t code7) { return int64_t(kSigns7.lane[code7]); }

// The sign bytes of 4 groups of 8 from their 7-bit codes (bits 7 l .. 7 l + 6 of code7s).
static inline __m256i signs_4x7(uint32_t code7s) {
    return _mm256_set_epi64x(signs7((code7s >> 21) & 127), signs7((code7s >> 14) & 127), signs7((code7s >> 7) & 127),
                             signs7(code7s & 127));
}

// Sign bytes from 32 explicit sign bits (IQ2_S, IQ3_S): -1 where bit j is set, else +1.
static inline __m256i sign_bytes(uint32_t bits) { return _mm256_or_si256(byte_mask(bits), _mm256_set1_epi8(1)); }

// The IQ2 formats' d with ggml's final 1/8 folded in (exact: a power of two), and the scale
// 2 ls + 1 of a 32-element chunk whose 32-bit sign word holds ls in its top 4 bits (IQ2_XXS,
// IQ3_XXS). Shared with the including files' own kernels.
template <class Block>
static float iq2_d(const uint8_t* b) {
    return f16(b + offsetof(Block, d)) * 0.125f;
}
static inline int32_t chunk_scale(uint32_t word) { return int32_t(2 * (word >> 28) + 1); }

struct WIQ2_XXS {  // per 32: 4 grid indices (bytes), then 4 x 7 sign bits and the scale
    static constexpr size_t kQK = 256, kBytes = sizeof(BlockIQ2_XXS);
    static constexpr bool kSigned = true, kMins = false;
    using Head = HeadIQ;
    static const uint8_t* sub(const uint8_t* b, int k) { return b + offsetof(BlockIQ2_XXS, qs) + 8 * k; }
    static Head head(const uint8_t* b) {
        Head h{iq2_d<BlockIQ2_XXS>(b), 0.0f, {}};
        for (int k = 0; k < 8; ++k) h.sc[k] = int16_t(chunk_scale(load_u32(sub(b, k) + 4)));
        return h;
    }
    static Split split(const uint8_t* b, int k) {
        const uint8_t* q = sub(b, k);
        return {_mm256_set_epi64x(int64_t(kIq2xxsGrid[q[3]]), int64_t(kIq2xxsGrid[q[2]]), int64_t(kIq2xxsGrid[q[1]]),
                                  int64_t(kIq2xxsGrid[q[0]])),
                signs_4x7(load_u32(q + 4))};
    }
    static __m256i scales(const Head& h, int k) { return _mm256_set1_epi16(h.sc[k]); }
    static int32_t offset(const Head&, const int16_t*) { return 0; }
};

// IQ2_XS's and IQ2_S's: d / 8 and two 4-bit scales per 32 (2 ls + 1 each for 16 elements).
template <class Block>
static HeadIQ iq2_head(const uint8_t* b) {
    HeadIQ h{iq2_d<Block>(b), 0.0f, {}};
    const uint8_t* s = b + offsetof(Block, scales);
    for (int k = 0; k < 8; ++k) {
        h.sc[2 * k] = int16_t(2 * (s[k] & 15) + 1);
        h.sc[2 * k + 1] = int16_t(2 * (s[k] >> 4) + 1);
    }
    return h;
}

struct WIQ2_XS {  // per 32: 4 x (9-bit grid index, 7 sign bits); two 4-bit scales
    static constexpr size_t kQK = 256, kBytes = sizeof(BlockIQ2_XS);
    static constexpr bool kSigned = true, kMins = false;
    using Head = HeadIQ;
    static Head head(const uint8_t* b) { return iq2_head<BlockIQ2_XS>(b); }
    static Split split(const uint8_t* b, int k) {
        uint16_t c[4];
        std::memcpy(c, b + offsetof(BlockIQ2_XS, qs) + 8 * k, 8);
        return {_mm256_set_epi64x(int64_t(kIq2xsGrid[c[3] & 511]), int64_t(kIq2xsGrid[c[2] & 511]),
                                  int64_t(kIq2xsGrid[c[1] & 511]), int64_t(kIq2xsGrid[c[0] & 511])),
                _mm256_set_epi64x(signs7(c[3] >> 9), signs7(c[2] >> 9), signs7(c[1] >> 9), signs7(c[0] >> 9))};
    }
    static __m256i scales(const Head& h, int k) { return per16(h.sc[2 * k], h.sc[2 * k + 1]); }
    static int32_t offset(const Head&, const int16_t*) { return 0; }
};

struct WIQ2_S {  // per 32: 4 x (8 + 2 bits of grid index, 8 sign bits); two 4-bit scales
    static constexpr size_t kQK = 256, kBytes = sizeof(BlockIQ2_S);
    static constexpr bool kSigned = true, kMins = false;
    using Head = HeadIQ;
    static Head head(const uint8_t* b) { return iq2_head<BlockIQ2_S>(b); }
    static Split split(const uint8_t* b, int k) {
        const uint8_t* qs = b + offsetof(BlockIQ2_S, qs) + 4 * k;
        const unsigned qh = b[offsetof(BlockIQ2_S, qh) + size_t(k)];
        int64_t g[4];
        for (int l = 0; l < 4; ++l) g[l] = int64_t(kIq2sGrid[qs[l] | ((qh << (8 - 2 * l)) & 0x300)]);
        return {_mm256_set_epi64x(g[3], g[2], g[1], g[0]), sign_bytes(load_u32(qs + kQK_K / 8))};
    }
    static __m256i scales(const Head& h, int k) { return per16(h.sc[2 * k], h.sc[2 * k + 1]); }
    static int32_t offset(const Head&, const int16_t*) { return 0; }
};

struct WIQ3_XXS {  // per 32: 8 grid indices of 4 magnitudes; 4 x 7 sign bits and the scale
    static constexpr size_t kQK = 256, kBytes = sizeof(BlockIQ3_XXS);
    static constexpr bool kSigned = true, kMins = false;
    using Head = HeadIQ;
    static uint32_t meta(const uint8_t* b, int k) { return load_u32(b + offsetof(BlockIQ3_XXS, qs) + kQK_K / 4 + 4 * k); }
    static Head head(const uint8_t* b) {
        Head h{f16(b + offsetof(BlockIQ3_XXS, d)) * 0.25f, 0.0f, {}};
        for (int k = 0; k < 8; ++k) h.sc[k] = int16_t(chunk_scale(meta(b, k)));
        return h;
    }
    static Split split(const uint8_t* b, int k) {
        const uint8_t* q = b + offsetof(BlockIQ3_XXS, qs) + 8 * k;
        int g[8];
        for (int i = 0; i < 8; ++i) g[i] = int(kIq3xxsGrid[q[i]]);
        return {_mm256_setr_epi32(g[0], g[1], g[2], g[3], g[4], g[5], g[6], g[7]), signs_4x7(meta(b, k))};
    }
    static __m256i scales(const Head& h, int k) { return _mm256_set1_epi16(h.sc[k]); }
    static int32_t offset(const Head&, const int16_t*) { return 0; }
};

struct WIQ3_S {  // per 32: 8 x (8 + 1 bits of grid index); 32 sign bits; a 4-bit scale
    static constexpr size_t kQK = 256, kBytes = sizeof(BlockIQ3_S);
    static constexpr bool kSigned = true, kMins = false;
    using Head = HeadIQ;
    static Head head(const uint8_t* b) {
        Head h{f16(b + offsetof(BlockIQ3_S, d)), 0.0f, {}};
        const uint8_t* s = b + offsetof(BlockIQ3_S, scales);
        for (int k = 0; k < 8; ++k) h.sc[k] = int16_t(2 * ((s[k / 2] >> (4 * (k % 2))) & 15) + 1);
        return h;
    }
    static Split split(const uint8_t* b, int k) {
        const uint8_t* q = b + offsetof(BlockIQ3_S, qs) + 8 * k;
        const unsigned qh = b[offsetof(BlockIQ3_S, qh) + size_t(k)];
        int g[8];
        for (int i = 0; i < 8; ++i) g[i] = int(kIq3sGrid[q[i] | ((qh >> i) & 1) << 8]);
        return {_mm256_setr_epi32(g[0], g[1], g[2], g[3], g[4], g[5], g[6], g[7]),
                sign_bytes(load_u32(b + offsetof(BlockIQ3_S, signs) + 4 * k))};
    }
    static __m256i scales(const Head& h, int k) { return _mm256_set1_epi16(h.sc[k]); }
    static int32_t offset(const Head&, const int16_t*) { return 0; }
};

template <class F, int R, int T>
static void tile256(const uint8_t* w, size_t row_bytes, const QuantActs& x, float* y, size_t ldy) {
    const size_t nb = x.cols / 256;
    __m256 acc[R][T];
    float mins[R][T] = {};
    for (int r = 0; r < R; ++r)
        for (int t = 0; t < T; ++t) acc[r][t] = _mm256_setzero_ps();
    for (size_t b = 0; b < nb; ++b) {
        typename F::Head h[R];
        for (int r = 0; r < R; ++r) h[r] = F::head(w + r * row_bytes + b * F::kBytes);
        // The super-block sum stays in integers: per lane at most 8 chunks of 2 pairs of at
        // most 32258, times scales of at most 32 (IQ4_XS, Q6_K): 2^24.
        __m256i sum[R][T];
        for (int r = 0; r < R; ++r)
            for (int t = 0; t < T; ++t) sum[r][t] = _mm256_setzero_si256();
        for (int k = 0; k < 8; ++k) {
            __m256i xq[T];
            for (int t = 0; t < T; ++t) xq[t] = load32(x.q + t * x.cols + b * 256 + k * 32);
            for (int r = 0; r < R; ++r) {
                // u: the codes' magnitudes, sg: their signs (kSigned), taken by the activation.
                __m256i u, sg;
                if constexpr (requires { F::split(w, k); }) {
                    const Split c = F::split(w + r * row_bytes + b * F::kBytes, k);
                    u = c.mag, sg = c.sign;
                } else {
                    sg = F::chunk(w + r * row_bytes + b * F::kBytes, k);
                    u = F::kSigned ? _mm256_sign_epi8(sg, sg) : sg;
                }
                const __m256i s = F::scales(h[r], k);
                for (int t = 0; t < T; ++t) {
                    // Each int16 pair sum stays below 2^15: |u| <= 127 (IQ4_XS) and the
                    // activation codes within [-127, 127] give at most 32258.
                    const __m256i p16 = _mm256_maddubs_epi16(u, F::kSigned ? _mm256_sign_epi8(xq[t], sg) : xq[t]);
                    sum[r][t] = _mm256_add_epi32(sum[r][t], _mm256_madd_epi16(p16, s));
                }
            }
        }
        for (int r = 0; r < R; ++r)
            for (int t = 0; t < T; ++t) {
                const float dx = x.d[t * nb + b];
                acc[r][t] = _mm256_fmadd_ps(_mm256_set1_ps(h[r].d * dx), _mm256_cvtepi32_ps(sum[r][t]), acc[r][t]);
                if constexpr (F::kMins)
                    mins[r][t] += h[r].dmin * dx * float(F::offset(h[r], x.bsums + (t * nb + b) * 16));
            }
    }
    for (int r = 0; r < R; ++r)
        for (int t = 0; t < T; ++t) y[t * ldy + r] = hsum(acc[r][t]) - mins[r][t];
}

// ---------------------------------------------------------------- rows x tokens

static void more_rows(qwen::TensorType type, const uint8_t* w, size_t row_bytes, size_t r0, size_t r1,
                      const QuantActs& x, size_t n_tok, float* y, size_t ldy);

// Rows [r0, r1) of `type` times one token into y[r], by a kernel of the including file's own
// (defined after this file); false if it has none for `type`.
static bool one_token_rows(qwen::TensorType type, const uint8_t* w, size_t row_bytes, size_t r0, size_t r1,
                           const QuantActs& x, float* y);

#include "kernels/quant_rows_impl.hpp"

static void more_rows(qwen::TensorType type, const uint8_t* w, size_t row_bytes, size_t r0, size_t r1,
                      const QuantActs& x, size_t n_tok, float* y, size_t ldy) {
    if (n_tok == 1 && one_token_rows(type, w, row_bytes, r0, r1, x, y)) return;
    switch (type) {
    case qwen::TensorType::Q2_K: rows<WQ2_K>(w, row_bytes, r0, r1, x, n_tok, y, ldy); break;
    case qwen::TensorType::Q3_K: rows<WQ3_K>(w, row_bytes, r0, r1, x, n_tok, y, ldy); break;
    case qwen::TensorType::Q5_K: rows<WQ5_K>(w, row_bytes, r0, r1, x, n_tok, y, ldy); break;
    case qwen::TensorType::IQ4_XS: rows<WIQ4_XS>(w, row_bytes, r0, r1, x, n_tok, y, ldy); break;
    case qwen::TensorType::IQ2_XXS: rows<WIQ2_XXS>(w, row_bytes, r0, r1, x, n_tok, y, ldy); break;
    case qwen::TensorType::IQ2_XS: rows<WIQ2_XS>(w, row_bytes, r0, r1, x, n_tok, y, ldy); break;
    case qwen::TensorType::IQ2_S: rows<WIQ2_S>(w, row_bytes, r0, r1, x, n_tok, y, ldy); break;
    case qwen::TensorType::IQ3_XXS: rows<WIQ3_XXS>(w, row_bytes, r0, r1, x, n_tok, y, ldy); break;
    case qwen::TensorType::IQ3_S: rows<WIQ3_S>(w, row_bytes, r0, r1, x, n_tok, y, ldy); break;
    default: break;
    }
}
