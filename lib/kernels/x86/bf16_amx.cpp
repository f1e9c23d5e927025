// BF16 weights on AMX-BF16 tiles: every product of a packed BF16 matrix, prompts and decode
// alike, on CPUs whose OS lets this process use the tiles (core/cpu.cpp's amx_bf16; the
// matrices are packed at load only there, matmul.cpp).
//
// One tdpbf16ps multiplies 16 tokens x 32 bf16 activations (A: the rows of round_acts_bf16's
// buffer as they lie, `cols` apart) by 32 x 16 weights (B: one 1 KiB tile of the packed
// layout, kernels/packed.hpp) into 16 x 16 float sums, 8192 products in about 16 cycles,
// where vdpbf16ps gives 32 at about 0.65 a cycle on these cores. Rows of a tile multiply are
// independent: each (token, row) sum is one chain over the columns in order, the same
// whichever tokens share its tile, so a token's result does not depend on its batch and
// prefill equals decode (which takes a one-row A tile).
//
// Both operands are bf16: the activations rounded the ggml way (round_bf16), and, like
// vdpbf16ps, tdpbf16ps treats bf16 subnormals as zero and flushes subnormal results.
#include "kernels/dispatch.hpp"
#include "kernels/packed.hpp"
#include "kernels/x86/amx_tiles.hpp"

#include <algorithm>
#include <immintrin.h>

namespace qwen::kernels::amx {

namespace {

constexpr size_t kTileToks = 16;   // the rows of an A and a C tile
// Activations of one token block, at most: it stays in L2 (2 MiB a core on every AMX CPU so
// far) while the thread's weight groups pass over it, each group's tiles read from memory
// once a block and then from L2 for the block's other token tiles.
constexpr size_t kActBlockBytes = 1024 * 1024;

// Tiles 0, 1: A (m tokens x 32 bf16); 2, 3: B (16 column pairs x 16 rows); 4 .. 7: C (m
// tokens x 16 rows of float), C 4 + 2 i + j = token tile i, group j.
void configure_tiles(size_t m) {
    TileConfig c;
    for (int t = 0; t < 8; ++t) {
        c.colsb[t] = 64;
        c.rows[t] = uint8_t(t == 2 || t == 3 ? 16 : m);
    }
    load_tile_config(c);
}

// Decode and small batches (one token tile) ask for each B tile this far ahead in its
// group's stream, every line, into L2: with the hardware prefetcher alone a BF16 decode step
// ran below the `vdpbf16ps` kernel's, which prefetches its next rows. `qwen bench -m
// full-bf16-s1.gguf -p 0 -n 128 -r 3 -t 2`, alternating builds: none 24.8-26.0 tok/s, 8 KiB
// 26.6-27.5 (`QWEN_AMX=0`: 27.0-27.9); 4-16 KiB did about as well as 8, every other line
// (8 or 32 KiB ahead) worse than none. The gain needs this loop rolled and the file's loops
// 64-byte aligned (CMakeLists.txt): unrolled, or rolled but unaligned, 23.4-25.7 (reason unknown:
// this VM has no performance counters). Prompts read each B tile once per token block and
// then from L2: no prefetch.
constexpr size_t kFetchAhead = 8192;

// One group's B tiles: the first at `tiles`, the next `stride` bytes on.
struct Group {
    const uint8_t* tiles;
    size_t stride;
};

// TwoT token tiles (A from x, the second 16 tokens on) times TwoG groups, all `chunks` column
// chunks, stored to y (the first token's outputs for the first group's rows) ldy floats apart;
// Fetch: prefetch the groups' tiles kFetchAhead on. The intrinsics want literal tile numbers,
// hence the branches on the template flags.
template <bool TwoT, bool TwoG, bool Fetch = false>
void multiply(const uint16_t* x, size_t cols, Group g0, Group g1, size_t chunks, float* y, size_t ldy) {
    const size_t xs = cols * sizeof(uint16_t), ys = ldy * sizeof(float);
    const uint16_t* x1 = x + kTileToks * cols;
    _tile_zero(4);
    if constexpr (TwoG) _tile_zero(5);
    if constexpr (TwoT) _tile_zero(6);
    if constexpr (TwoT && TwoG) _tile_zero(7);
    for (size_t k = 0; k < chunks; ++k) {
        if constexpr (Fetch)
#pragma GCC unroll 1
            for (size_t o = 0; o < kBf16TileBytes; o += 64) {
                _mm_prefetch(reinterpret_cast<const char*>(g0.tiles + k * g0.stride + kFetchAhead + o), _MM_HINT_T1);
                if constexpr (TwoG)
                    _mm_prefetch(reinterpret_cast<const char*>(g1.tiles + k * g1.stride + kFetchAhead + o), _MM_HINT_T1);
            }
        _tile_loadd(0, x + k * kBf16TileCols, xs);
        _tile_loadd(2, g0.tiles + k * g0.stride, 64);
        _tile_dpbf16ps(4, 0, 2);
        if constexpr (TwoG) {
            _tile_loadd(3, g1.tiles + k * g1.stride, 64);
            _tile_dpbf16ps(5, 0, 3);
        }
        if constexpr (TwoT) {
            _tile_loadd(1, x1 + k * kBf16TileCols, xs);
            _tile_dpbf16ps(6, 1, 2);
            if constexpr (TwoG) _tile_dpbf16ps(7, 1, 3);
        }
    }
    _tile_stored(4, y, ys);
    if constexpr (TwoG) _tile_stored(5, y + 16, ys);
    if constexpr (TwoT) _tile_stored(6, y + kTileToks * ldy, ys);
    if constexpr (TwoT && TwoG) _tile_stored(7, y + kTileToks * ldy + 16, ys);
}

}  // namespace

void bf16_tile_groups(const uint8_t* packed, size_t rows, size_t cols, size_t g0, size_t g1, const uint16_t* x,
                      size_t n_tok, float* y, size_t ldy) {
    if (g0 >= g1 || n_tok == 0) return;
    const size_t m = std::min(n_tok, kTileToks), chunks = cols / kBf16TileCols;
    configure_tiles(m);
    const auto group = [&](size_t g) -> Group {
        size_t stride;
        const uint8_t* tiles = packed + bf16_tile_offset(rows, cols, g, stride);
        return {tiles, stride};
    };
    // Token tiles of m tokens: tile i starts at 16 i, the last at n_tok - 16 when 16 does not
    // divide n_tok (its first tokens are the previous tile's again, computed and stored to the
    // same values).
    const size_t n_tiles = (n_tok + kTileToks - 1) / kTileToks;
    const auto start = [&](size_t i) { return std::min(i * kTileToks, n_tok - m); };
    const size_t block = std::max<size_t>(2, kActBlockBytes / (kTileToks * cols * sizeof(uint16_t)) / 2 * 2);
    for (size_t b0 = 0; b0 < n_tiles; b0 += block) {
        const size_t b1 = std::min(b0 + block, n_tiles);
        for (size_t g = g0; g < g1;) {
            // Two groups where g starts a pair that ends in the range.
            const bool two_g = g % 2 == 0 && g + 1 < g1;
            const Group ga = group(g), gb = two_g ? group(g + 1) : ga;
            for (size_t i = b0; i < b1;) {
                const size_t t = start(i);
                // Two token tiles where they are 16 apart (not the overlapping last one).
                const bool two_t = i + 1 < b1 && start(i + 1) == t + kTileToks;
                float* yt = y + t * ldy + 16 * g;
                const uint16_t* xt = x + t * cols;
                if (n_tok <= kTileToks && two_g) multiply<false, true, true>(xt, cols, ga, gb, chunks, yt, ldy);
                else if (n_tok <= kTileToks) multiply<false, false, true>(xt, cols, ga, gb, chunks, yt, ldy);
                else if (two_t && two_g) multiply<true, true>(xt, cols, ga, gb, chunks, yt, ldy);
                else if (two_t) multiply<true, false>(xt, cols, ga, gb, chunks, yt, ldy);
                else if (two_g) multiply<false, true>(xt, cols, ga, gb, chunks, yt, ldy);
                else multiply<false, false>(xt, cols, ga, gb, chunks, yt, ldy);
                i += two_t ? 2 : 1;
            }
            g += two_g ? 2 : 1;
        }
    }
}

}  // namespace qwen::kernels::amx
