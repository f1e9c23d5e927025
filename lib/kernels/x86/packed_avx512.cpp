// The row-interleaved integer-dot kernels (layout in kernels/packed.hpp) with AVX-512 VNNI:
// one vpdpbusd per 4 codes of 16 rows and token. Only in the table when the CPU reports
// AVX512_VNNI (dispatch.cpp), and only used for matrices the model packed at load, or (the
// transient layout) for groups of the low-bit formats decoded per multi-token call.
//
// Per block and token the 16 integer sums start at -offset * sum(activation codes), so
// after the 8 vpdpbusd steps they are exactly ggml's sum(q * x) for each row; they are
// then scaled by d_w * d_x in float and accumulated per row in block order (Q4_1 / Q5_1
// add m * d_x * sum(activation codes), where ggml rounds d_x * sum to f16 in its Q8_1).
#include "kernels/dispatch.hpp"
#include "kernels/packed.hpp"
#include "kernels/x86/packed_steps.hpp"

#include <cstring>
#include <immintrin.h>
#include <type_traits>
#include <utility>

namespace qwen::kernels::avx512 {

namespace {

// Asks for the lines of bytes [p + kPrefetchAhead, p + kPrefetchAhead + n) of a weight
// stream. Where a group's weights are used by one tile of tokens (decode, and several
// sequences decoding together), the tile waits on each block coming from memory otherwise:
// a quarter of a batched decode step's tile time sat on the first loads of each block.
// 4 KiB ahead: alternating `qwen bench -p 0 -n 64 -s 8` runs of builds with 2, 4 and 8 KiB
// gave tg64x8 510-536, 538-560 and 528-537 tok/s (tg64 121-132, 128-137, 129-130).
constexpr size_t kPrefetchAhead = 4096;
inline void prefetch_ahead(const uint8_t* p, size_t n) {
    for (size_t at = 0; at < n; at += 64) _mm_prefetch(reinterpret_cast<const char*>(p + kPrefetchAhead + at), _MM_HINT_T0);
}

// The same at byte `at` of a group whose tile takes `G` adjacent groups at once: past the
// group's end its stream goes on in the group that takes its place in the next tile, G - 1
// groups further. (Ahead into the next group in memory, as for one group, the second of two
// groups started every tile on blocks never asked for.)
template <int G>
inline void prefetch_ahead(const uint8_t* p, size_t at, size_t group_bytes, size_t n) {
    if (G > 1 && at + kPrefetchAhead >= group_bytes) p += (G - 1) * group_bytes;
    prefetch_ahead(p, n);
}

inline __m512i broadcast4(const int8_t* p) {
    int32_t v;
    std::memcpy(&v, p, 4);
    return _mm512_set1_epi32(v);
}

// G groups (16 rows each, the first at `w`, the next `group_bytes` after it) times tokens
// t0 .. t0+T-1: y[t * ldy + 16 g + 0 .. 15]. Each code vector goes to T tokens and each
// broadcast activation to G groups; the G x T sums are independent chains of 8 vpdpbusd,
// and each (group, token) result is the same arithmetic in the same order whatever G and T.
template <class P, int G, int T>
void tile(const uint8_t* w, size_t group_bytes, size_t nb, const QuantActs& x, size_t t0, float* y, size_t ldy) {
    __m512 acc[G][T];
    for (int g = 0; g < G; ++g)
        for (int t = 0; t < T; ++t) acc[g][t] = _mm512_setzero_ps();
    for (size_t b = 0; b < nb; ++b) {
        const uint8_t* blk[G];
        for (int g = 0; g < G; ++g) {
            blk[g] = w + g * group_bytes + b * P::kBytes;
            if (t0 == 0) prefetch_ahead<G>(blk[g], b * P::kBytes, group_bytes, P::kBytes);
        }
        const int8_t* xq = x.q + t0 * x.cols + b * 32;
        // Groups [g0, g0 + S) (compile-time constants): their S x T sums at once, each
        // broadcast serving S groups. (Each call makes its own starting sums: kept across
        // both calls of one group at a time, they took 8 registers and the tile spilled.)
        const auto block = [&](auto g0, auto groups) __attribute__((always_inline)) {
            constexpr int S = decltype(groups)::value;
            __m512i sum[S][T];
            for (int t = 0; t < T; ++t) {
                __m512i start = _mm512_setzero_si512();
                if constexpr (P::kShift >= 0)  // -offset * sum(activation codes), in vector registers
                    start = _mm512_sub_epi32(start, _mm512_slli_epi32(_mm512_set1_epi32(x.sums[(t0 + t) * nb + b]),
                                                                      P::kShift));
                for (int g = 0; g < S; ++g) sum[g][t] = start;
            }
            unrolled<8>([&](auto s) {
                __m512i codes[S];
                for (int g = 0; g < S; ++g) codes[g] = P::step(blk[g0 + g], s);
                for (int t = 0; t < T; ++t) {
                    const __m512i xb = broadcast4(xq + t * x.cols + 4 * s);
                    for (int g = 0; g < S; ++g) sum[g][t] = _mm512_dpbusd_epi32(sum[g][t], codes[g], xb);
                }
            });
            for (int g = 0; g < S; ++g) {
                const uint8_t* bg = blk[g0 + g];
                const __m512 dw = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(bg)));
                for (int t = 0; t < T; ++t) {
                    __m512& a = acc[g0 + g][t];
                    const float dx = x.d[(t0 + t) * nb + b];
                    a = _mm512_fmadd_ps(_mm512_cvtepi32_ps(sum[g][t]), _mm512_mul_ps(dw, _mm512_set1_ps(dx)), a);
                    if constexpr (P::kMins) {  // + m * (the activation block's sum, d_x * sum(codes))
                        const __m512 m = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(bg + 2 * kR)));
                        a = _mm512_fmadd_ps(m, _mm512_set1_ps(dx * float(x.sums[(t0 + t) * nb + b])), a);
                    }
                }
            }
        };
        // All G groups' sums where they fit in registers beside the accumulators (G x T <= 8),
        // else one group's after the other.
        if constexpr (G * T <= 8)
            block(std::integral_constant<int, 0>{}, std::integral_constant<int, G>{});
        else
            unrolled<G>([&](auto g) {
                // A compiler barrier between the groups: without it, GCC kept the 64
                // broadcasts of the first group's 8 tokens for the second on the stack (a store
                // and a load each, where a vpbroadcastd from memory is one load).
                if constexpr (g > 0) __asm__ __volatile__("" ::: "memory");
                block(g, std::integral_constant<int, 1>{});
            });
    }
    for (int g = 0; g < G; ++g)
        for (int t = 0; t < T; ++t) _mm512_storeu_ps(y + (t0 + t) * ldy + g * kR, acc[g][t]);
}

// ---------------------------------------------------------------- K-quants
// 32 code vectors per super-block, low nibbles step 2v and high nibbles step 2v + 1 (elements
// 8v .. 8v+7); a sub-block k is vectors kVecs k .. kVecs (k + 1) - 1. Its sums start at the
// code offset's correction (Q6_K and Q3_K: -32 times the activation's 16-element sum;
// IQ4_XS and IQ3_S: -128 and -16 times its 32-element sum), are multiplied by the rows'
// sub-block scales in integers, and the super-block total is scaled by d * d_x in float, as
// ggml does; Q4_K subtracts dmin * d_x * sum(m * activation sums) (vpdpwssd).

struct PQ4_K {
    static constexpr size_t kElems = 256, kBytes = 2496;
    static constexpr int kSubs = 8, kVecs = 4, kGroups = 2;
    static constexpr bool kMins = true;
    static const uint8_t* codes(const uint8_t* blk) { return blk + 448; }
    static __m512i scales(const uint8_t* blk, int k) {
        return _mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(blk + 64 + 16 * k)));
    }
    static int32_t start(const int16_t*, int) { return 0; }
    static __m512i step(const uint8_t*, int, __m512i n) { return n; }
};

struct PQ5_K : PQ4_K {
    static constexpr size_t kBytes = 3008;
    static constexpr int kGroups = 1;
    // Bit 4 of the codes of step s, from the 64 masks after the nibbles.
    static __m512i step(const uint8_t* codes, int s, __m512i n) {
        __mmask64 b4;
        std::memcpy(&b4, codes + 2048 + 8 * s, 8);
        return _mm512_mask_add_epi8(n, b4, n, _mm512_set1_epi8(16));
    }
};

struct PQ6_K {
    static constexpr size_t kElems = 256, kBytes = 3360;
    static constexpr int kSubs = 16, kVecs = 2, kGroups = 1;
    static constexpr bool kMins = false;
    static const uint8_t* codes(const uint8_t* blk) { return blk + 288; }
    static __m512i scales(const uint8_t* blk, int k) {
        return _mm512_cvtepi8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(blk + 32 + 16 * k)));
    }
    static int32_t start(const int16_t* bsums, int k) { return -32 * bsums[k]; }
    // Bits 4 and 5 of the codes of step s, from their bit planes after the nibbles.
    static __m512i step(const uint8_t* codes, int s, __m512i n) {
        __mmask64 b4, b5;
        std::memcpy(&b4, codes + 2048 + 8 * s, 8);
        std::memcpy(&b5, codes + 2048 + 512 + 8 * s, 8);
        n = _mm512_mask_add_epi8(n, b4, n, _mm512_set1_epi8(16));
        return _mm512_mask_add_epi8(n, b5, n, _mm512_set1_epi8(32));
    }
};

// IQ4_XS: levels offset by 128, so each 32-element sub-block starts at -128 * its
// activation sum; scales ls - 32 per sub-block.
struct PIQ4_XS {
    static constexpr size_t kElems = 256, kBytes = 2208;
    static constexpr int kSubs = 8, kVecs = 4, kGroups = 2;
    static constexpr bool kMins = false;
    static const uint8_t* codes(const uint8_t* blk) { return blk + 160; }
    static __m512i scales(const uint8_t* blk, int k) {
        return _mm512_cvtepi8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(blk + 32 + 16 * k)));
    }
    static int32_t start(const int16_t* bsums, int k) { return -128 * (bsums[2 * k] + bsums[2 * k + 1]); }
    static __m512i step(const uint8_t*, int, __m512i n) { return iq4_levels(n); }
};

// IQ3_S: codes q + 16 with bit 4 as Q5_K's, so each 32-element sub-block starts at -16 *
// its activation sum; scales 2 ls + 1 per sub-block.
struct PIQ3_S {
    static constexpr size_t kElems = 256, kBytes = 2720;
    static constexpr int kSubs = 8, kVecs = 4, kGroups = 1;
    static constexpr bool kMins = false;
    static const uint8_t* codes(const uint8_t* blk) { return blk + 160; }
    static __m512i scales(const uint8_t* blk, int k) { return PIQ4_XS::scales(blk, k); }
    static int32_t start(const int16_t* bsums, int k) { return -16 * (bsums[2 * k] + bsums[2 * k + 1]); }
    static __m512i step(const uint8_t* codes, int s, __m512i n) { return PQ5_K::step(codes, s, n); }
};

template <class P, int G, int T>
void tile_k(const uint8_t* w, size_t group_bytes, size_t nb, const QuantActs& x, size_t t0, float* y, size_t ldy) {
    const __m512i low = _mm512_set1_epi8(0x0F);
    __m512 acc[G][T];
    for (int g = 0; g < G; ++g)
        for (int t = 0; t < T; ++t) acc[g][t] = _mm512_setzero_ps();
    for (size_t b = 0; b < nb; ++b) {
        const uint8_t* blk[G];
        const uint8_t* codes[G];
        for (int g = 0; g < G; ++g) {
            blk[g] = w + g * group_bytes + b * P::kBytes;
            if (t0 == 0) prefetch_ahead<G>(blk[g], b * P::kBytes, group_bytes, P::kBytes);
            codes[g] = P::codes(blk[g]);
        }
        __m512i total[G][T];
        for (int g = 0; g < G; ++g)
            for (int t = 0; t < T; ++t) total[g][t] = _mm512_setzero_si512();
        for (int k = 0; k < P::kSubs; ++k) {
            __m512i sum[G][T];
            for (int t = 0; t < T; ++t) {
                const __m512i start = _mm512_set1_epi32(P::start(x.bsums + ((t0 + t) * nb + b) * 16, k));
                for (int g = 0; g < G; ++g) sum[g][t] = start;
            }
            for (int v = k * P::kVecs; v < (k + 1) * P::kVecs; ++v) {
                __m512i c0[G], c1[G];
                for (int g = 0; g < G; ++g) {
                    const __m512i raw = _mm512_loadu_si512(codes[g] + 64 * v);
                    c0[g] = P::step(codes[g], 2 * v, _mm512_and_si512(raw, low));
                    c1[g] = P::step(codes[g], 2 * v + 1, _mm512_and_si512(_mm512_srli_epi16(raw, 4), low));
                }
                for (int t = 0; t < T; ++t) {
                    const int8_t* xq = x.q + (t0 + t) * x.cols + b * 256 + 8 * v;
                    const __m512i x0 = broadcast4(xq), x1 = broadcast4(xq + 4);
                    for (int g = 0; g < G; ++g) {
                        sum[g][t] = _mm512_dpbusd_epi32(sum[g][t], c0[g], x0);
                        sum[g][t] = _mm512_dpbusd_epi32(sum[g][t], c1[g], x1);
                    }
                }
            }
            for (int g = 0; g < G; ++g) {
                const __m512i sc = P::scales(blk[g], k);
                for (int t = 0; t < T; ++t) total[g][t] = _mm512_add_epi32(total[g][t], _mm512_mullo_epi32(sum[g][t], sc));
            }
        }
        for (int g = 0; g < G; ++g) {
            const __m512 d = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk[g])));
            for (int t = 0; t < T; ++t) {
                const __m512 dx = _mm512_set1_ps(x.d[(t0 + t) * nb + b]);
                acc[g][t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(total[g][t]), _mm512_mul_ps(d, dx), acc[g][t]);
                if constexpr (P::kMins) {
                    // sum over sub-blocks k of m[k] * (the activation's sum over sub-block k), as
                    // int16 pairs of sub-blocks (2j, 2j + 1) against the rows' pairs of mins.
                    const int16_t* bs = x.bsums + ((t0 + t) * nb + b) * 16;
                    __m512i mins = _mm512_setzero_si512();
                    for (int j = 0; j < 4; ++j) {
                        const uint32_t lo = uint16_t(bs[4 * j] + bs[4 * j + 1]), hi = uint16_t(bs[4 * j + 2] + bs[4 * j + 3]);
                        mins = _mm512_dpwssd_epi32(mins, _mm512_loadu_si512(blk[g] + 192 + 64 * j),
                                                   _mm512_set1_epi32(int(lo | hi << 16)));
                    }
                    const __m512 dmin = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk[g] + 32)));
                    acc[g][t] = _mm512_fnmadd_ps(_mm512_cvtepi32_ps(mins), _mm512_mul_ps(dmin, dx), acc[g][t]);
                }
            }
        }
    }
    for (int g = 0; g < G; ++g)
        for (int t = 0; t < T; ++t) _mm512_storeu_ps(y + (t0 + t) * ldy + g * kR, acc[g][t]);
}

// ---------------------------------------------------------------- transient layout
// The low-bit formats decoded per call (packed.hpp): 64 step vectors of u = q + 64, four per
// 16-element sub-block k, whose sums start at -64 times the activation's sum over k (so they
// end at ggml's sum(q * x)), are multiplied by the rows' int8 scales and summed over the
// super-block in int32 (at most 16 x 16 x 62 x 128 x 31 < 2^26 in magnitude), then scaled by
// d * d_x in float, as ggml does; Q2_K subtracts dmin * d_x * sum(m * activation sums).
template <bool kMins, int T>
void tile_t(const uint8_t* w, size_t nb, const QuantActs& x, size_t t0, float* y, size_t ldy) {
    constexpr TransientLayout L = kMins ? kTransientQ2K : kTransientIq;
    __m512 acc[T];
    for (int t = 0; t < T; ++t) acc[t] = _mm512_setzero_ps();
    for (size_t b = 0; b < nb; ++b) {
        const uint8_t* blk = w + b * L.bytes;
        const int16_t* bsums[T];
        for (int t = 0; t < T; ++t) bsums[t] = x.bsums + ((t0 + t) * nb + b) * 16;
        __m512i total[T];
        for (int t = 0; t < T; ++t) total[t] = _mm512_setzero_si512();
        for (int k = 0; k < 16; ++k) {
            __m512i sum[T];
            for (int t = 0; t < T; ++t) sum[t] = _mm512_set1_epi32(-64 * bsums[t][k]);
            for (int i = 0; i < 4; ++i) {  // a constant count: unrolled, the sums stay in registers
                const int s = 4 * k + i;
                const __m512i codes = _mm512_loadu_si512(blk + L.codes + 64 * s);
                for (int t = 0; t < T; ++t)
                    sum[t] = _mm512_dpbusd_epi32(sum[t], codes, broadcast4(x.q + (t0 + t) * x.cols + b * 256 + 4 * s));
            }
            const __m512i sc =
                _mm512_cvtepi8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(blk + L.sc + 16 * k)));
            for (int t = 0; t < T; ++t) total[t] = _mm512_add_epi32(total[t], _mm512_mullo_epi32(sum[t], sc));
        }
        const __m512 d = _mm512_loadu_ps(blk);
        for (int t = 0; t < T; ++t) {
            const __m512 dx = _mm512_set1_ps(x.d[(t0 + t) * nb + b]);
            acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(total[t]), _mm512_mul_ps(d, dx), acc[t]);
            if constexpr (kMins) {  // int16 pairs of sub-blocks (2j, 2j + 1), as PQ4_K's
                __m512i mins = _mm512_setzero_si512();
                for (int j = 0; j < 8; ++j) {
                    const uint32_t pair = uint16_t(bsums[t][2 * j]) | uint32_t(uint16_t(bsums[t][2 * j + 1])) << 16;
                    mins = _mm512_dpwssd_epi32(mins, _mm512_loadu_si512(blk + L.mins + 64 * j),
                                               _mm512_set1_epi32(int(pair)));
                }
                const __m512 dmin = _mm512_loadu_ps(blk + 64);
                acc[t] = _mm512_fnmadd_ps(_mm512_cvtepi32_ps(mins), _mm512_mul_ps(dmin, dx), acc[t]);
            }
        }
    }
    for (int t = 0; t < T; ++t) _mm512_storeu_ps(y + (t0 + t) * ldy, acc[t]);
}

// Tokens [0, n_tok) in tiles of kToks, then at most one tile each of 4, 2 and 1 for the rest:
// tile(T, t0) for tokens t0 .. t0+T-1, T a std::integral_constant (a template argument there).
template <int kToks, class Tile>
void token_tiles(size_t n_tok, Tile&& tile) {
    size_t t = 0;
    for (; t + kToks <= n_tok; t += kToks) tile(std::integral_constant<int, kToks>{}, t);
    if (n_tok - t >= 4) tile(std::integral_constant<int, 4>{}, t), t += 4;
    if (n_tok - t >= 2) tile(std::integral_constant<int, 2>{}, t), t += 2;
    if (n_tok - t >= 1) tile(std::integral_constant<int, 1>{}, t);
}

// Each group is decoded once into this thread's scratch (at most 19 x 4992 bytes for 4864
// columns, so it stays in L2 while the tokens pass over it 8 at a time).
template <bool kMins>
void transient_groups(TensorType type, const uint8_t* w, size_t row_bytes, size_t cols, size_t g0, size_t g1,
                      const QuantActs& x, size_t n_tok, float* y, size_t ldy) {
    const size_t nb = cols / 256;
    uint8_t* scratch = transient_scratch(nb * transient_block_bytes(type));
    for (size_t g = g0; g < g1; ++g) {
        transient_pack(type, w + g * kR * row_bytes, row_bytes, cols, scratch);
        float* yg = y + g * kR;
        token_tiles<8>(n_tok, [&](auto T, size_t t) { tile_t<kMins, T>(scratch, nb, x, t, yg, ldy); });
    }
}

// Groups [g0, g1) times every token: each group's weights (16 rows, at most 16 * 5.2 KiB for
// the widest rows) stay in L1/L2 while the tokens pass over them, 8 at a time. The K-quant
// tiles hold 3 x 8 accumulators then, and unpack each group's codes half as often as with 4
// (bench_kernels, 896x4864 at 64 tokens, alternating: Q4_K 380-399 -> 420-456 GFLOP/s, Q6_K
// 271-282 -> 283-316).
// Prompts of more than 8 tokens take the 32-element formats two groups at a time, 4 tokens
// a tile: a core that issues two 512-bit vpdpbusd a cycle (Zen 5: this machine, family 26)
// kept half of that rate idle on one group's 8 chains, each waiting on the previous sum and
// on its own broadcast. bench_kernels, one thread, 64 tokens: Q4_0 4864x896 468 -> 658
// GFLOP/s, 896x4864 480 -> 618; Q8_0 458 -> 617 and 444 -> 535; IQ4_NL 473 -> 641 and 464
// -> 619. Of the K-quants, Q4_K and IQ4_XS too (896x4864: 434-491 -> 552-584 and 406-494
// -> 430-532); Q5_K, Q3_K and IQ3_S gained nothing beyond the noise and Q6_K lost 5-15%
// (their bit-plane steps want the registers), so they keep one group (P::kGroups).
// Decode and up to 8 sequences decoding together take those formats two groups at a time
// too, all their tokens in one tile (two tiles of 4 tokens read and unpack the weights
// twice: tg64x8 5% slower): two weight streams side by side, where one group's stream left
// the Xeon's memory idle between blocks. `qwen bench -p 0 -n 64 -s 1,4,8 -t 2` there,
// alternating with one group: tg64 57-58 -> 63-65 tok/s (synth-Q4_K_M), 48 -> 53 (Q8_0), 67-68
// -> 77 (IQ4_NL); tg64x4 172-175 -> 212-221, 145 -> 185, 198-205 -> 257-259; tg64x8 the same
// (291-295 -> 287-303: bound by the tiles' arithmetic there).
template <class P, int G, int T>
void tile_any(const uint8_t* w, size_t group_bytes, size_t nb, const QuantActs& x, size_t t0, float* y, size_t ldy) {
    if constexpr (P::kElems == 32)
        tile<P, G, T>(w, group_bytes, nb, x, t0, y, ldy);
    else
        tile_k<P, G, T>(w, group_bytes, nb, x, t0, y, ldy);
}

template <class P>
void groups(const uint8_t* w, size_t cols, size_t g0, size_t g1, const QuantActs& x, size_t n_tok, float* y,
            size_t ldy) {
    const size_t nb = cols / P::kElems, group_bytes = nb * P::kBytes;
    size_t g = g0;
    if constexpr (P::kGroups == 2)
        for (; g + 2 <= g1; g += 2) {
            const auto pair = [&](auto T, size_t t) {
                tile_any<P, 2, T>(w + g * group_bytes, group_bytes, nb, x, t, y + g * kR, ldy);
            };
            if (n_tok <= 8)
                token_tiles<8>(n_tok, pair);
            else
                token_tiles<4>(n_tok, pair);
        }
    for (; g < g1; ++g)
        token_tiles<8>(n_tok, [&](auto T, size_t t) {
            tile_any<P, 1, T>(w + g * group_bytes, group_bytes, nb, x, t, y + g * kR, ldy);
        });
}

}  // namespace

void transient_matmul_groups(TensorType type, const uint8_t* w, size_t row_bytes, size_t cols, size_t g0, size_t g1,
                             const QuantActs& x, size_t n_tok, float* y, size_t ldy) {
    // The caller has checked transient_packable() (matmul.cpp's takes_transient); a type
    // without a transient layout still does nothing here, as in packed_matmul_groups().
    switch (type) {
    case TensorType::Q2_K: transient_groups<true>(type, w, row_bytes, cols, g0, g1, x, n_tok, y, ldy); break;
    case TensorType::IQ2_XXS:
    case TensorType::IQ2_XS:
    case TensorType::IQ2_S:
    case TensorType::IQ3_XXS: transient_groups<false>(type, w, row_bytes, cols, g0, g1, x, n_tok, y, ldy); break;
    default: break;
    }
}

void packed_matmul_groups(TensorType type, const uint8_t* w, size_t cols, size_t g0, size_t g1, const QuantActs& x,
                          size_t n_tok, float* y, size_t ldy) {
    if (with_steps32(type, [&](auto p) { groups<decltype(p)>(w, cols, g0, g1, x, n_tok, y, ldy); })) return;
    switch (type) {
    case TensorType::Q4_K: groups<PQ4_K>(w, cols, g0, g1, x, n_tok, y, ldy); break;
    case TensorType::Q5_K: groups<PQ5_K>(w, cols, g0, g1, x, n_tok, y, ldy); break;
    case TensorType::Q6_K:
    case TensorType::Q3_K: groups<PQ6_K>(w, cols, g0, g1, x, n_tok, y, ldy); break;
    case TensorType::IQ4_XS: groups<PIQ4_XS>(w, cols, g0, g1, x, n_tok, y, ldy); break;
    case TensorType::IQ3_S: groups<PIQ3_S>(w, cols, g0, g1, x, n_tok, y, ldy); break;
    default: break;
    }
}

}  // namespace qwen::kernels::avx512
