// The packed 32-element formats (Q8_0, Q4_0, Q5_0, Q4_1, Q5_1, IQ4_NL; layout in
// kernels/packed.hpp) on AMX-INT8 tiles, for prompts. Only in the table when the OS lets this
// process use the tiles (core/cpu.cpp's amx_int8, dispatch.cpp).
//
// A packed block's 8 step vectors (16 rows x 4 codes each, one after the other) are exactly
// the B operand of a tile multiply in AMX's VNNI layout, and 16 tokens' 32 activation codes,
// `cols` bytes apart in QuantActs, are its A operand as they lie. So one tdpbssd gives the
// block's integer sums for 16 rows x 16 tokens (about 16 cycles), where the VNNI tiles take
// 8 vpdpbusd a token, 128 in all (one a cycle on these cores).
// The sums are exact integers, equal to the VNNI tiles' (those start at -offset x the codes'
// sum and add the offset codes; here the codes are decoded to signed q first), and each is
// then scaled and accumulated with the same instructions in the same block order, so every
// (row, token) result is bit for bit the VNNI kernel's, and prefill still equals decode.
//
// Each group's codes are decoded once per token block into this thread's scratch (as signed
// bytes, the scales as floats), and the tokens of the block pass over it 16 at a time. The
// last n_tok % 16 tokens, and calls of fewer than 16, take the VNNI tiles.
#include "kernels/dispatch.hpp"
#include "kernels/packed.hpp"
#include "kernels/x86/amx_tiles.hpp"
#include "kernels/x86/packed_steps.hpp"

#include <algorithm>
#include <immintrin.h>

namespace qwen::kernels::amx {

namespace {

constexpr size_t kTileToks = 16;        // the rows of a C and an A tile
constexpr size_t kBlockCodes = 8 * 64;  // a block's 16 rows x 32 codes: one B tile
// Activation codes of one token block, at most: the block is read once per group from L2.
// (An AMX core has 2 MiB of it: Sapphire Rapids, Emerald Rapids, Granite Rapids.)
constexpr size_t kActBlockBytes = 768 * 1024;

// Tile registers, two slots s = 0, 1 for alternate blocks: C = 3s (16 tokens x 16 rows of
// int32), A = 3s + 1 (16 tokens x 32 codes), B = 3s + 2 (8 x 64 bytes: the block's step
// vectors). The sums of block b are stored into a ring of 4 buffers and scaled after block
// b + 2's multiply is issued: bench_kernels, Q4_0 at 64 tokens, one Xeon core: 460-500
// GFLOP/s with each block scaled right after its own multiply, 527-570 so; rings of 8 and 12
// and four C tiles were no better. About 60 cycles a block and 16 tokens: the tile work alone
// takes 36 and the vector work alone 24, and the two hardly overlap.
void configure_tiles() {
    TileConfig c;
    for (int s = 0; s < 2; ++s) {
        c.rows[3 * s] = 16, c.colsb[3 * s] = 64;
        c.rows[3 * s + 1] = 16, c.colsb[3 * s + 1] = 32;
        c.rows[3 * s + 2] = 8, c.colsb[3 * s + 2] = 64;
    }
    load_tile_config(c);
}

// GCC's tile intrinsics are asm statements that do not tell the compiler which memory they
// read or write. The scratch is written before any tile load (a full barrier after
// decode_group()); a C tile's buffer is pinned by an empty asm that "modifies" it, before the
// tile store (the previous block's reads of it stay before) and after (reads of the new sums
// stay after).
using Sums = int32_t[kTileToks * 16];
inline void touch(Sums& c) { __asm__ __volatile__("" : "+m"(c)); }

// The sums of one block for 16 tokens (A: codes `cols` apart) and 16 rows (B) into out[16][16]
// (token-major: out[16 t + r]), in slot S's tiles (the intrinsics want literal tile numbers).
template <int S>
inline void multiply(const int8_t* xq, size_t cols, const int8_t* codes, Sums& out) {
    touch(out);
    if constexpr (S == 0) {
        _tile_zero(0);
        _tile_loadd(1, xq, cols);
        _tile_loadd(2, codes, 64);
        _tile_dpbssd(0, 1, 2);
        _tile_stored(0, out, 64);
    } else {
        _tile_zero(3);
        _tile_loadd(4, xq, cols);
        _tile_loadd(5, codes, 64);
        _tile_dpbssd(3, 4, 5);
        _tile_stored(3, out, 64);
    }
    touch(out);
}

// A group's decoded blocks: block b's signed codes at codes + 512 b (its 8 step vectors),
// its scales (and minimums) as floats at d + 16 b (m + 16 b).
struct Decoded {
    int8_t* codes;
    float* d;
    float* m;
};

template <class P>
void decode_group(const uint8_t* w, size_t nb, const Decoded& out) {
    for (size_t b = 0; b < nb; ++b) {
        const uint8_t* blk = w + b * P::kBytes;
        unrolled<8>([&](auto s) {
            __m512i u = P::step(blk, s);
            if constexpr (P::kShift >= 0) u = _mm512_sub_epi8(u, _mm512_set1_epi8(char(1 << P::kShift)));
            _mm512_store_si512(out.codes + b * kBlockCodes + 64 * s, u);
        });
        _mm512_store_ps(out.d + 16 * b, _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk))));
        if constexpr (P::kMins)
            _mm512_store_ps(out.m + 16 * b,
                            _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk + 2 * kR))));
    }
    __asm__ __volatile__("" ::: "memory");
}

// A token tile's activation scales, block-major: dx[16 b + t] is token t's scale of block b,
// and for the formats with minimums dxs[16 b + t] = that scale times the block's code sum (the
// VNNI tile's dx * float(sum)). Made once per token block, for every group.
struct TileScales {
    float* dx;
    float* dxs;
};

template <class P>
void transpose_scales(const QuantActs& x, size_t nb, size_t t0, const TileScales& out) {
    for (size_t t = 0; t < kTileToks; ++t)
        for (size_t b = 0; b < nb; ++b) {
            const float dx = x.d[(t0 + t) * nb + b];
            out.dx[16 * b + t] = dx;
            if constexpr (P::kMins) out.dxs[16 * b + t] = dx * float(x.sums[(t0 + t) * nb + b]);
        }
}

// One group's 16 rows times the 16 tokens of a tile (codes xq, `cols` apart): y[t * ldy + 0 ..
// 15]. Block b's sums c[t] (16 rows) for token t are scaled and added as the VNNI tile does it
// (packed_avx512.cpp): acc_t = fma(float(c[t]), d * dx_t, acc_t), then for Q4_1 and Q5_1
// fma(m, dx_t * sum_t, acc_t). The 16 accumulators are named variables: GCC kept an array
// of them on the stack (the tile asm statements in the loop defeat its scalarization), which
// cost a store and a load per multiply-add.
template <class P>
void token_tile(const Decoded& w, size_t nb, const int8_t* xq, size_t cols, const TileScales& sc, float* y,
                size_t ldy) {
    constexpr size_t kAhead = 2, kRing = 2 * kAhead;
    alignas(64) Sums c[kRing];
#define QWEN_AMX_TOKENS(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(10) X(11) X(12) X(13) X(14) X(15)
#define QWEN_AMX_ZERO(t) __m512 acc##t = _mm512_setzero_ps();
#define QWEN_AMX_ADD(t)                                                                                              \
    acc##t = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_load_si512(cb + 16 * t)),                                     \
                             _mm512_mul_ps(d, _mm512_set1_ps(sc.dx[16 * b + t])), acc##t);                          \
    if constexpr (P::kMins) acc##t = _mm512_fmadd_ps(m, _mm512_set1_ps(sc.dxs[16 * b + t]), acc##t);
#define QWEN_AMX_STORE(t) _mm512_storeu_ps(y + t * ldy, acc##t);
    QWEN_AMX_TOKENS(QWEN_AMX_ZERO)
    const auto add = [&](const int32_t* cb, size_t b) __attribute__((always_inline)) {
        const __m512 d = _mm512_load_ps(w.d + 16 * b);
        [[maybe_unused]] const __m512 m = P::kMins ? _mm512_load_ps(w.m + 16 * b) : d;
        QWEN_AMX_TOKENS(QWEN_AMX_ADD)
    };
    const auto mul = [&](auto slot, size_t b) __attribute__((always_inline)) {
        multiply<slot>(xq + 32 * b, cols, w.codes + b * kBlockCodes, c[b % kRing]);
    };
    for (size_t b = 0; b < std::min(nb, kAhead); b += 2) {
        mul(std::integral_constant<int, 0>{}, b);
        if (b + 1 < nb) mul(std::integral_constant<int, 1>{}, b + 1);
    }
    for (size_t b = 0; b < nb; b += 2) {
        if (b + kAhead < nb) mul(std::integral_constant<int, 0>{}, b + kAhead);
        add(c[b % kRing], b);
        if (b + kAhead + 1 < nb) mul(std::integral_constant<int, 1>{}, b + kAhead + 1);
        if (b + 1 < nb) add(c[(b + 1) % kRing], b + 1);
    }
    QWEN_AMX_TOKENS(QWEN_AMX_STORE)
#undef QWEN_AMX_STORE
#undef QWEN_AMX_ADD
#undef QWEN_AMX_ZERO
#undef QWEN_AMX_TOKENS
}

template <class P>
void groups(const uint8_t* w, size_t cols, size_t g0, size_t g1, const QuantActs& x, size_t n_amx, float* y,
            size_t ldy) {
    const size_t nb = cols / P::kElems, group_bytes = nb * P::kBytes;
    const size_t block_toks = std::max(kTileToks, kActBlockBytes / cols / kTileToks * kTileToks);
    const size_t tiles = std::min(n_amx, block_toks) / kTileToks;
    // This thread's scratch: the decoded group, then the token block's tile scales.
    const size_t dec_bytes = nb * (kBlockCodes + 2 * 16 * sizeof(float)), tile_floats = nb * kTileToks;
    uint8_t* scratch = transient_scratch(dec_bytes + 2 * tiles * tile_floats * sizeof(float));
    const Decoded dec{reinterpret_cast<int8_t*>(scratch), reinterpret_cast<float*>(scratch + nb * kBlockCodes),
                      reinterpret_cast<float*>(scratch + nb * (kBlockCodes + 64))};
    float* scales = reinterpret_cast<float*>(scratch + dec_bytes);
    const auto tile_scales = [&](size_t i) {
        return TileScales{scales + 2 * i * tile_floats, scales + (2 * i + 1) * tile_floats};
    };
    configure_tiles();
    for (size_t lo = 0; lo < n_amx; lo += block_toks) {
        const size_t hi = std::min(n_amx, lo + block_toks);
        for (size_t t0 = lo; t0 < hi; t0 += kTileToks) transpose_scales<P>(x, nb, t0, tile_scales((t0 - lo) / kTileToks));
        for (size_t g = g0; g < g1; ++g) {
            decode_group<P>(w + g * group_bytes, nb, dec);
            for (size_t t0 = lo; t0 < hi; t0 += kTileToks)
                token_tile<P>(dec, nb, x.q + t0 * x.cols, x.cols, tile_scales((t0 - lo) / kTileToks),
                              y + t0 * ldy + g * kR, ldy);
        }
    }
    _tile_release();
}

}  // namespace

void packed_matmul_groups(TensorType type, const uint8_t* w, size_t cols, size_t g0, size_t g1, const QuantActs& x,
                          size_t n_tok, float* y, size_t ldy) {
    const size_t n_amx = n_tok / kTileToks * kTileToks;
    // The K-quants, and calls of fewer than 16 tokens: all on VNNI.
    if (n_amx == 0 || !with_steps32(type, [&](auto p) { groups<decltype(p)>(w, cols, g0, g1, x, n_amx, y, ldy); }))
        return avx512::packed_matmul_groups(type, w, cols, g0, g1, x, n_tok, y, ldy);
    if (n_amx < n_tok)  // the last tokens on VNNI
        avx512::packed_matmul_groups(type, w, cols, g0, g1, acts_from_token(x, n_amx), n_tok - n_amx,
                                     y + n_amx * ldy, ldy);
}

}  // namespace qwen::kernels::amx
