// The dense (F32 / F16 / BF16 weight) matmul, written once over an xsimd architecture and
// compiled once per instruction set (x86/dense_avx512.cpp, x86/dense_avx2.cpp,
// dense_generic.cpp). The including file defines, inside its own namespace:
//   using Arch = xsimd::<arch>;
//   Batch load_f16(const uint16_t*), Batch load_bf16(const uint16_t*)  (widen to float)
// Nothing here may be an inline function outside that namespace: each copy is compiled
// with different instruction-set flags, and the linker must never mix them.
//
// Register blocking: a tile of up to 4 weight rows x 4 tokens keeps 16 accumulators in
// registers, so each weight vector loaded (and widened) serves 4 tokens and each
// activation vector serves 4 rows; with AVX-512's 32 registers, 6 rows x 4 tokens (24), so
// each activation vector, read from L2, serves 6 rows (F16 896 x 4864 and 4864 x 896 at 512
// tokens on one Xeon core: 93-105 GFLOP/s with 4 rows, 107-122 with 6; 5 x 5, 7 x 3 and
// 4 x 6 were no better). Decode (one token) instead reads one row after the other:
// a thread's rows are contiguous, so it streams one sequential range, which the hardware
// prefetchers follow at full bandwidth, where rows read side by side are as many streams
// (measured on Zen 4 with 2 threads: 2, 4 or 8 rows at once, even with software prefetch,
// reached 40-67% of the bandwidth of one row at a time). Every (row, token)
// sum is the same single chain of FMAs in every tile, so a token's result does not depend
// on the batch it is in.

using Batch = xsimd::batch<float, Arch>;
constexpr size_t kLanes = Batch::size;

template <class Load, int R, int T>
static void tile(Load load, const uint8_t* w, size_t row_bytes, size_t cols, const float* x, size_t ldx,
                 float* y, size_t ldy) {
    Batch acc[R][T];
    for (int r = 0; r < R; ++r)
        for (int t = 0; t < T; ++t) acc[r][t] = Batch(0.0f);
    for (size_t c = 0; c < cols; c += kLanes) {
        Batch xv[T];
        for (int t = 0; t < T; ++t) xv[t] = Batch::load_unaligned(x + t * ldx + c);
        for (int r = 0; r < R; ++r) {
            Batch wv = load(w + r * row_bytes, c);
            for (int t = 0; t < T; ++t) acc[r][t] = xsimd::fma(wv, xv[t], acc[r][t]);
        }
    }
    for (int r = 0; r < R; ++r)
        for (int t = 0; t < T; ++t) y[t * ldy + r] = xsimd::hadd(acc[r][t]);
}

template <class Load, int R>
static void tile_rows(Load load, const uint8_t* w, size_t row_bytes, size_t cols, const float* x, size_t ldx,
                      size_t n_tok, float* y, size_t ldy) {
    size_t t = 0;
    for (; t + 4 <= n_tok; t += 4) tile<Load, R, 4>(load, w, row_bytes, cols, x + t * ldx, ldx, y + t * ldy, ldy);
    switch (n_tok - t) {
    case 3: tile<Load, R, 3>(load, w, row_bytes, cols, x + t * ldx, ldx, y + t * ldy, ldy); break;
    case 2: tile<Load, R, 2>(load, w, row_bytes, cols, x + t * ldx, ldx, y + t * ldy, ldy); break;
    case 1: tile<Load, R, 1>(load, w, row_bytes, cols, x + t * ldx, ldx, y + t * ldy, ldy); break;
    default: break;
    }
}

// Rows [r0, r1) of the product. Tokens go in blocks of at most 256 KiB of activations (72
// tokens of 896 floats, 12 of 4864), a quarter of a Zen 5 core's L2, that stay there while
// the rows pass over them. Blocks of 64 tokens (1.2 MiB of ffn_down's input) left L2 for L3:
// qwen bench pp512 on full-f16-s1, alternating builds, 334-373 -> 379-428 tok/s (512 KiB
// blocks: 373-424). The weights are read once a block, so smaller blocks cost bandwidth.
template <class Load>
static void dense_rows(Load load, const uint8_t* w, size_t row_bytes, size_t cols, size_t r0, size_t r1,
                       const float* x, size_t ldx, size_t n_tok, float* y, size_t ldy) {
    constexpr size_t kBlockBytes = size_t(256) << 10;
    const size_t block = std::clamp<size_t>(kBlockBytes / (cols * sizeof(float)) / 4 * 4, 4, 128);
    for (size_t t0 = 0; t0 < n_tok; t0 += block) {
        const size_t nt = n_tok - t0 < block ? n_tok - t0 : block;
        const float* xb = x + t0 * ldx;
        float* yb = y + t0 * ldy;
        size_t r = r0;
        if constexpr (kLanes == 16)
            for (; nt > 1 && r + 6 <= r1; r += 6)
                tile_rows<Load, 6>(load, w + r * row_bytes, row_bytes, cols, xb, ldx, nt, yb + r, ldy);
        for (; nt > 1 && r + 4 <= r1; r += 4)  // decode (nt == 1) takes the rows one by one, below
            tile_rows<Load, 4>(load, w + r * row_bytes, row_bytes, cols, xb, ldx, nt, yb + r, ldy);
        for (; r < r1; ++r) tile_rows<Load, 1>(load, w + r * row_bytes, row_bytes, cols, xb, ldx, nt, yb + r, ldy);
    }
}

struct LoadF32 {
    Batch operator()(const uint8_t* row, size_t c) const {
        return Batch::load_unaligned(reinterpret_cast<const float*>(row) + c);
    }
};
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
