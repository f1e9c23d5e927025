// The row and token loops of the integer-dot matmul, shared by every instruction set's
// quantized kernels (x86/quant_impl.hpp, arm/quant_neon.cpp). The including file defines,
// inside its own namespace (see dense_impl.hpp for why nothing here may live outside it):
//   the weight formats WQ8_0, WQ4_0, WQ5_0, WIQ4_NL (kQK = 32) and WQ4_K, WQ6_K (256)
//   template <class F, int R, int T> void tile32(w, row_bytes, x, y, ldy), and tile256:
//                      R rows of weight format F times T tokens, into y[t * ldy + r]
//   constexpr int kRows, kToks                      the prefill register tile
//   static void more_rows(...)  (quant_matmul_rows' parameters) for the other formats
//                      quant_act_type() gives an activation format: declared before this
//                      file, defined after it (with rows<F> below, or another path's kernels)
//
// Decode (one token) streams 4 weight rows at a time; prefill reuses each decoded weight
// chunk for kToks tokens and each activation chunk for kRows rows.

template <class F, int R, int T>
static void tile(const uint8_t* w, size_t row_bytes, const QuantActs& x, float* y, size_t ldy) {
    if constexpr (F::kQK == 32)
        tile32<F, R, T>(w, row_bytes, x, y, ldy);
    else
        tile256<F, R, T>(w, row_bytes, x, y, ldy);
}

template <class F, int R>
static void tile_tokens(const uint8_t* w, size_t row_bytes, const QuantActs& x, size_t n_tok, float* y, size_t ldy) {
    size_t t = 0;
    for (; t + kToks <= n_tok; t += kToks)
        tile<F, R, kToks>(w, row_bytes, acts_from_token(x, t), y + t * ldy, ldy);
    const QuantActs rest = acts_from_token(x, t);
    switch (n_tok - t) {
    case 3: tile<F, R, 3>(w, row_bytes, rest, y + t * ldy, ldy); break;
    case 2: tile<F, R, 2>(w, row_bytes, rest, y + t * ldy, ldy); break;
    case 1: tile<F, R, 1>(w, row_bytes, rest, y + t * ldy, ldy); break;
    default: break;
    }
}

template <class F>
static void rows(const uint8_t* w, size_t row_bytes, size_t r0, size_t r1, const QuantActs& x, size_t n_tok,
                 float* y, size_t ldy) {
    size_t r = r0;
    if (n_tok == 1) {  // decode: memory-bound, 4 rows in flight
        for (; r + 4 <= r1; r += 4) tile<F, 4, 1>(w + r * row_bytes, row_bytes, x, y + r, ldy);
        for (; r < r1; ++r) tile<F, 1, 1>(w + r * row_bytes, row_bytes, x, y + r, ldy);
        return;
    }
    // Tokens in blocks of 64 so that their codes stay in L2 while the rows pass over them.
    constexpr size_t kTokenBlock = 64;
    for (size_t t0 = 0; t0 < n_tok; t0 += kTokenBlock) {
        const size_t nt = n_tok - t0 < kTokenBlock ? n_tok - t0 : kTokenBlock;
        const QuantActs xb = acts_from_token(x, t0);
        float* yb = y + t0 * ldy;
        for (r = r0; r + kRows <= r1; r += kRows)
            tile_tokens<F, kRows>(w + r * row_bytes, row_bytes, xb, nt, yb + r, ldy);
        for (; r < r1; ++r) tile_tokens<F, 1>(w + r * row_bytes, row_bytes, xb, nt, yb + r, ldy);
    }
}

void quant_matmul_rows(qwen::TensorType type, const uint8_t* w, size_t row_bytes, size_t r0, size_t r1,
                       const QuantActs& x, size_t n_tok, float* y, size_t ldy) {
    switch (type) {
    case qwen::TensorType::Q8_0: rows<WQ8_0>(w, row_bytes, r0, r1, x, n_tok, y, ldy); break;
    case qwen::TensorType::Q4_0: rows<WQ4_0>(w, row_bytes, r0, r1, x, n_tok, y, ldy); break;
    case qwen::TensorType::Q5_0: rows<WQ5_0>(w, row_bytes, r0, r1, x, n_tok, y, ldy); break;
    case qwen::TensorType::IQ4_NL: rows<WIQ4_NL>(w, row_bytes, r0, r1, x, n_tok, y, ldy); break;
    case qwen::TensorType::Q4_K: rows<WQ4_K>(w, row_bytes, r0, r1, x, n_tok, y, ldy); break;
    case qwen::TensorType::Q6_K: rows<WQ6_K>(w, row_bytes, r0, r1, x, n_tok, y, ldy); break;
    default: more_rows(type, w, row_bytes, r0, r1, x, n_tok, y, ldy); break;
    }
}
