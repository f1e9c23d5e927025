// The dense (F32 / F16 / BF16 weight) matmul, written once over an xsimd architecture and
// compiled once per instruction set (x86/dense_avx512.cpp, x86/dense_avx2.cpp,
// dense_generic.cpp). The including file defines, inside its own namespace:
//   using Arch = xsimd::<arch>;
//   Batch load_f16(const uint16_t*), Batch load_bf16(const uint16_t*)  (widen to float)
//   and, defining QWEN_DENSE_SUM_ROWS, Batch sum_rows(const Batch* rows)  (xsimd::haddp's job)
// Nothing here may be an inline function outside that namespace: each copy is compiled
// with different instruction-set flags, and the linker must never mix them.
//
// Register blocking: a tile of up to 4 weight rows x 4 tokens keeps 16 accumulators in
// registers, so each weight vector loaded (and widened) serves 4 tokens and each
// activation vector serves 4 rows; with AVX-512's 32 registers, 6 rows x 4 tokens (24), so
// each activation vector serves 6 rows (F16 896 x 4864 and 4864 x 896 at 512
// tokens on one Xeon core: 93-105 GFLOP/s with 4 rows, 107-122 with 6; 5 x 5, 7 x 3 and
// 4 x 6 were no better). Decode (one token) instead reads two rows at a time from two
// sequential ranges of 8 rows (decode_rows), where short rows read side by side are as many
// streams (measured on Zen 4 with 2 threads: 2, 4 or 8 adjacent rows at once, even with
// software prefetch, reached 40-67% of the bandwidth of one row at a time); a
// few sequences decoding together take 2 rows x all their tokens, with the next rows
// prefetched as one range (small_batch_tile). Every (row, token) sum is the same single
// chain of FMAs in every tile, so a token's result does not depend on the batch it is in.

using Batch = xsimd::batch<float, Arch>;
constexpr size_t kLanes = Batch::size;

#ifndef QWEN_DENSE_SUM_ROWS
// Lane i: the sum of rows[i]'s lanes, each row by the same tree.
static inline Batch sum_rows(const Batch* rows) { return xsimd::haddp(rows); }
#endif

// The lanes of every accumulator summed, kLanes accumulators at a time by sum_rows (which
// sums each of its rows by the same tree, whatever its position: every (row, token) result
// the same bits in any tile), the last group padded with zeros that only fill the other
// positions. One transposed reduction of 16 accumulators costs about what 3 of xsimd::hadd
// did: a 6 x 4 tile spent ~110 TSC cycles of its ~930 (896 columns) in 24 of those, ~50 now
// (`qwen bench -m full-f16-s1.gguf -p 512` on the Xeon, alternating: 275-284 -> 286-291).
template <int R, int T>
static inline void store_sums(const Batch (&acc)[R][T], float* y, size_t ldy) {
    constexpr int kN = R * T, kPadded = (kN + int(kLanes) - 1) / int(kLanes) * int(kLanes);
    alignas(64) float sums[kPadded];
    for (int g = 0; g < kN; g += int(kLanes)) {
        Batch rows[kLanes];
        for (int i = 0; i < int(kLanes); ++i) rows[i] = g + i < kN ? acc[(g + i) / T][(g + i) % T] : Batch(0.0f);
        sum_rows(rows).store_aligned(sums + g);
    }
    for (int r = 0; r < R; ++r)
        for (int t = 0; t < T; ++t) y[t * ldy + r] = sums[r * T + t];
}

// With kFetch, the tile also asks for the R rows after its own, a share at each step: they
// are one sequential range, where R rows read side by side are R short streams that the
// hardware prefetchers pick up late (one Xeon core, F16 4864 x 896 from memory: 4 tokens
// 6.8 -> 9.1 GB/s, one token 8.8 -> 9.7). A prefetch past the matrix is harmless.
template <class Load, int R, int T, bool kFetch>
static inline void accumulate(Load load, const uint8_t* w, size_t row_bytes, size_t cols, const float* x, size_t ldx,
                              Batch (&acc)[R][T]) {
    for (int r = 0; r < R; ++r)
        for (int t = 0; t < T; ++t) acc[r][t] = Batch(0.0f);
    const uint8_t* next = w + R * row_bytes;
    const size_t next_step = R * row_bytes / (cols / kLanes);  // bytes of the next rows a step
    for (size_t c = 0; c < cols; c += kLanes) {
        if constexpr (kFetch) {
            for (size_t o = 0; o < next_step; o += 64) __builtin_prefetch(next + o);
            next += next_step;
        }
        Batch xv[T];
        for (int t = 0; t < T; ++t) xv[t] = Batch::load_unaligned(x + t * ldx + c);
        for (int r = 0; r < R; ++r) {
            Batch wv = load(w + r * row_bytes, c);
            for (int t = 0; t < T; ++t) acc[r][t] = xsimd::fma(wv, xv[t], acc[r][t]);
        }
    }
}

template <class Load, int R, int T, bool kFetch>
static void tile(Load load, const uint8_t* w, size_t row_bytes, size_t cols, const float* x, size_t ldx,
                 float* y, size_t ldy) {
    Batch acc[R][T];
    accumulate<Load, R, T, kFetch>(load, w, row_bytes, cols, x, ldx, acc);
    store_sums<R, T>(acc, y, ldy);
}

// Two rows, a and b, each one chain over its columns as accumulate<Load, 1, 1> makes it (the
// same bits), read side by side, each prefetching the row after it.
template <class Load>
static void accumulate_pair(Load load, const uint8_t* a, const uint8_t* b, size_t row_bytes, size_t cols,
                            const float* x, Batch& acc_a, Batch& acc_b) {
    acc_a = Batch(0.0f), acc_b = Batch(0.0f);
    const size_t step = row_bytes / (cols / kLanes);  // bytes of the next row a step
    const uint8_t* next_a = a + row_bytes;
    const uint8_t* next_b = b + row_bytes;
    for (size_t c = 0; c < cols; c += kLanes) {
        for (size_t o = 0; o < step; o += 64) __builtin_prefetch(next_a + o), __builtin_prefetch(next_b + o);
        next_a += step, next_b += step;
        const Batch xv = Batch::load_unaligned(x + c);
        acc_a = xsimd::fma(load(a, c), xv, acc_a);
        acc_b = xsimd::fma(load(b, c), xv, acc_b);
    }
}

// Decode: kLanes rows at a time, summed together; row i of them read side by side with row
// i + h (h = half of them), so the rows stream as two sequential ranges, each prefetching its
// next row. One range a time left a Xeon's memory idle between rows (as one 16-row group
// did the quantized kernels, packed_avx512.cpp): `qwen bench -m full-f16-s1.gguf -p 0 -n 64
// -t 2`, alternating: 26.2-27.2 -> 27.1-27.6 tok/s, and 19.8-20.2 -> 23.7-24.6 in a slow
// phase of the shared machine (its memory busier). (Not measured on Zen 4, where adjacent
// rows read side by side were slower, see the top of this file.)
template <class Load>
static void decode_rows(Load load, const uint8_t* w, size_t row_bytes, size_t cols, size_t r0, size_t r1,
                        const float* x, float* y) {
    for (size_t r = r0; r < r1; r += kLanes) {
        const size_t n = std::min(kLanes, r1 - r), h = (n + 1) / 2;
        Batch acc[kLanes];
        for (size_t i = 0; i < kLanes; ++i) acc[i] = Batch(0.0f);
        for (size_t i = 0; i < h; ++i) {
            if (i + h < n) {
                accumulate_pair(load, w + (r + i) * row_bytes, w + (r + i + h) * row_bytes, row_bytes, cols, x, acc[i],
                                acc[i + h]);
            } else {
                Batch row[1][1];
                accumulate<Load, 1, 1, true>(load, w + (r + i) * row_bytes, row_bytes, cols, x, 0, row);
                acc[i] = row[0][0];
            }
        }
        alignas(64) float sums[kLanes];
        sum_rows(acc).store_aligned(sums);
        for (size_t i = 0; i < n; ++i) y[r + i] = sums[i];
    }
}

// One tile of R rows x n (1 to 4) tokens.
template <class Load, int R, bool kFetch>
static void tile_n(Load load, const uint8_t* w, size_t row_bytes, size_t cols, const float* x, size_t ldx, size_t n,
                   float* y, size_t ldy) {
    switch (n) {
    case 4: tile<Load, R, 4, kFetch>(load, w, row_bytes, cols, x, ldx, y, ldy); break;
    case 3: tile<Load, R, 3, kFetch>(load, w, row_bytes, cols, x, ldx, y, ldy); break;
    case 2: tile<Load, R, 2, kFetch>(load, w, row_bytes, cols, x, ldx, y, ldy); break;
    case 1: tile<Load, R, 1, kFetch>(load, w, row_bytes, cols, x, ldx, y, ldy); break;
    default: break;
    }
}

// R rows x the tokens, 4 at a time. The first tile reads the rows from memory (with kFetch,
// a small batch, also prefetching the next ones); the others find them in L1.
template <class Load, int R, bool kFetch>
static void tile_rows(Load load, const uint8_t* w, size_t row_bytes, size_t cols, const float* x, size_t ldx,
                      size_t n_tok, float* y, size_t ldy) {
    tile_n<Load, R, kFetch>(load, w, row_bytes, cols, x, ldx, std::min<size_t>(n_tok, 4), y, ldy);
    for (size_t t = 4; t < n_tok; t += 4)
        tile_n<Load, R, false>(load, w, row_bytes, cols, x + t * ldx, ldx, std::min<size_t>(n_tok - t, 4), y + t * ldy,
                               ldy);
}

// Several sequences decoding together (2 to 8 tokens, AVX-512): 2 rows x all the tokens in
// one tile, so the rows are read from memory once, in one pass. The prompt tiles (6 rows x
// 4 tokens) read them once per 4 tokens, and 6 rows at a time are 6 short streams even
// with the prefetch. `qwen bench -m full-f16-s1.gguf -p 0 -n 64 -s 4,8 -t 2` on a Xeon,
// alternating: 4 sequences 74-77 -> 78-79 tok/s, 8 sequences 111-112 -> 136-137.
constexpr size_t kSmallBatch = 8;

template <class Load>
static void small_batch_tile(Load load, const uint8_t* w, size_t row_bytes, size_t cols, const float* x, size_t ldx,
                             size_t n_tok, float* y, size_t ldy) {
    switch (n_tok) {
    case 2: tile<Load, 2, 2, true>(load, w, row_bytes, cols, x, ldx, y, ldy); break;
    case 3: tile<Load, 2, 3, true>(load, w, row_bytes, cols, x, ldx, y, ldy); break;
    case 4: tile<Load, 2, 4, true>(load, w, row_bytes, cols, x, ldx, y, ldy); break;
    case 5: tile<Load, 2, 5, true>(load, w, row_bytes, cols, x, ldx, y, ldy); break;
    case 6: tile<Load, 2, 6, true>(load, w, row_bytes, cols, x, ldx, y, ldy); break;
    case 7: tile<Load, 2, 7, true>(load, w, row_bytes, cols, x, ldx, y, ldy); break;
    case 8: tile<Load, 2, 8, true>(load, w, row_bytes, cols, x, ldx, y, ldy); break;
    default: break;
    }
}

// One pass of the rows [r0, r1) over tokens that stay in cache.
template <class Load, bool kFetch>
static void pass_rows(Load load, const uint8_t* w, size_t row_bytes, size_t cols, size_t r0, size_t r1,
                      const float* x, size_t ldx, size_t n_tok, float* y, size_t ldy) {
    if (n_tok == 1) return decode_rows(load, w, row_bytes, cols, r0, r1, x, y);
    size_t r = r0;
    if constexpr (kLanes == 16) {
        for (; kFetch && r + 2 <= r1; r += 2)  // a small batch
            small_batch_tile<Load>(load, w + r * row_bytes, row_bytes, cols, x, ldx, n_tok, y + r, ldy);
        for (; r + 6 <= r1; r += 6)
            tile_rows<Load, 6, kFetch>(load, w + r * row_bytes, row_bytes, cols, x, ldx, n_tok, y + r, ldy);
    }
    for (; r + 4 <= r1; r += 4)
        tile_rows<Load, 4, kFetch>(load, w + r * row_bytes, row_bytes, cols, x, ldx, n_tok, y + r, ldy);
    for (; r < r1; ++r) tile_rows<Load, 1, kFetch>(load, w + r * row_bytes, row_bytes, cols, x, ldx, n_tok, y + r, ldy);
}

// A prompt's rows [r0, r1): the tokens 4 at a time, and each group of 4 passes over all the
// rows: its activations (14 KiB at 896 columns) stay in L1 while the weights stream from L2,
// where blocks of up to 256 KiB of activations in L2 with the rows passing over them had
// each tile read 4 activation vectors (256 bytes) from L2 per step instead of 6 weight
// vectors (192 bytes of F16): 2 threads on one Xeon, F16 4864 x 896 at 512 tokens, 193-196
// -> 210-211 GFLOP/s (896 x 4864: the same). The prefetches would only take issue slots from
// the FMAs there (pp512 on full-f16-s1, Xeon: 280 -> 267 tok/s with them).
template <class Load>
static void prompt_rows(Load load, const uint8_t* w, size_t row_bytes, size_t cols, size_t r0, size_t r1,
                        const float* x, size_t ldx, size_t n_tok, float* y, size_t ldy) {
    for (size_t t0 = 0; t0 < n_tok; t0 += 4) {
        const size_t nt = std::min<size_t>(n_tok - t0, 4);
        pass_rows<Load, false>(load, w, row_bytes, cols, r0, r1, x + t0 * ldx, ldx, nt, y + t0 * ldy, ldy);
    }
}

struct LoadF32 {
    Batch operator()(const uint8_t* row, size_t c) const {
        return Batch::load_unaligned(reinterpret_cast<const float*>(row) + c);
    }
};

// Rows [r0, r1) of the product. Decode and small batches read the rows from memory once, with
// the prefetch. Prompts on AVX-512 first widen F16 and BF16 rows to float in a per-thread
// scratch (at most 64 rows: 1.2 MiB at 4864 columns), once per call, where every 4 tokens
// would widen them again: vcvtph2ps is two of the FMA ports' micro-ops on Intel cores, a third
// of a 6 x 4 tile's issue slots. The float rows are the same values, so the sums are the same
// bits. `qwen bench -m full-f16-s1.gguf -p 512 -n 0 -r 2 -t 2` on the Xeon, alternating:
// 289-292 -> 303-308 tok/s. (Rows interleaved into 6-row panels, one stream per tile, did
// 287-298; prefetching the next panel into L1, worse again.) AVX2's 4 x 4 tiles read more
// weight bytes per FMA, and twice as many from L2 there cost more than the conversions save
// (QWEN_ISA=avx2 on the Xeon: 168-170 -> 164 tok/s), so only AVX-512 widens first.
template <class Load>
static void dense_rows(Load load, const uint8_t* w, size_t row_bytes, size_t cols, size_t r0, size_t r1,
                       const float* x, size_t ldx, size_t n_tok, float* y, size_t ldy) {
    if (n_tok <= kSmallBatch) return pass_rows<Load, true>(load, w, row_bytes, cols, r0, r1, x, ldx, n_tok, y, ldy);
    if constexpr (std::is_same_v<Load, LoadF32> || kLanes != 16) {
        prompt_rows(load, w, row_bytes, cols, r0, r1, x, ldx, n_tok, y, ldy);
    } else {
        thread_local AlignedBuffer<float> wide;
        const size_t n = r1 - r0;
        if (wide.size() < n * cols) wide.resize(n * cols);
        for (size_t r = 0; r < n; ++r)
            for (size_t c = 0; c < cols; c += kLanes)
                load(w + (r0 + r) * row_bytes, c).store_aligned(wide.data() + r * cols + c);
        prompt_rows(LoadF32{}, reinterpret_cast<const uint8_t*>(wide.data()), cols * sizeof(float), cols, 0, n, x, ldx,
                    n_tok, y + r0, ldy);
    }
}

struct LoadF16 {
    Batch operator()(const uint8_t* row, size_t c) const { return load_f16(reinterpret_cast<const uint16_t*>(row) + c); }
};
struct LoadBF16 {
    Batch operator()(const uint8_t* row, size_t c) const { return load_bf16(reinterpret_cast<const uint16_t*>(row) + c); }
};

// SwiGLU's gate: gate[i] = silu(gate[i]) * up[i] = gate[i] / (1 + exp(-gate[i])) * up[i],
// with xsimd's vector exp (within an ulp or so of std::exp, as ggml's own vector exp is).
void silu_mul(float* gate, const float* up, size_t n) {
    size_t i = 0;
    for (; i + kLanes <= n; i += kLanes) {
        const Batch g = Batch::load_unaligned(gate + i);
        (g / (Batch(1.0f) + xsimd::exp(-g)) * Batch::load_unaligned(up + i)).store_unaligned(gate + i);
    }
    for (; i < n; ++i) gate[i] = gate[i] / (1.0f + std::exp(-gate[i])) * up[i];
}

// Entry point with a C-like signature, taken into the dispatch table.
void dense_matmul_rows(qwen::TensorType type, const uint8_t* w, size_t row_bytes, size_t cols, size_t r0, size_t r1,
                       const float* x, size_t ldx, size_t n_tok, float* y, size_t ldy) {
    switch (type) {
    case qwen::TensorType::F32: dense_rows(LoadF32{}, w, row_bytes, cols, r0, r1, x, ldx, n_tok, y, ldy); break;
    case qwen::TensorType::F16: dense_rows(LoadF16{}, w, row_bytes, cols, r0, r1, x, ldx, n_tok, y, ldy); break;
    case qwen::TensorType::BF16: dense_rows(LoadBF16{}, w, row_bytes, cols, r0, r1, x, ldx, n_tok, y, ldy); break;
    default: break;
    }
}
