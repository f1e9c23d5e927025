// Matrix products between model weights (any stored type) and float activations.
//
// A weight matrix has `rows` output features, each a row of `cols` input features stored
// contiguously in its TensorType (GGUF order: dims {cols, rows}). Activations are float
// rows. The kernels are chosen once per process from the CPU (core/cpu.hpp).
//
// F32/F16/BF16 weights go through SIMD kernels, in float; except that on CPUs with
// AVX512_BF16, BF16 weights meet activations rounded to bf16 once per call (ggml's rounding)
// in vdpbf16ps, as in llama.cpp (about 0.2% relative error per activation). Q8_0, Q4_0, Q5_0, IQ4_NL, Q4_K and Q6_K
// weights go through integer dot products as in ggml: the activations are quantized once
// per call to Q8_0 (Q8_K for the K-quants), each block's codes are multiplied exactly in
// integers and the block sums scaled by d_w * d_x in float, so results match llama.cpp's
// on the same file rather than the float product of the dequantized weights (they differ
// from it by the activation quantization error, about 0.5% relative per row). The other
// block formats are decoded row by row with the reference dequantizer and multiplied in
// float (exact, slower).
//
// Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, IQ4_NL, Q4_K, Q5_K and Q6_K matrices can be repacked once
// at load (pack_matrix) into the row-interleaved layout of kernels/packed.hpp, which this
// CPU's kernels may multiply much faster; the sums are the same integers, scaled and added
// in a different float order (Q4_1, Q5_1 and Q5_K, which have no kernel on the stored rows,
// thus go from float products to ggml's integer ones).
// IQ2_XXS, IQ2_XS, IQ2_S, IQ3_XXS and Q2_K matrices are not repacked, but on those CPUs a
// call with at least 8 tokens decodes each 16-row group once into the same kind of layout,
// in per-thread scratch (kernels/packed.hpp, "transient"): the same integers again.
//
// Threading: matmul() shares its rows among the threads of the enclosing OpenMP parallel
// region (an orphaned `omp for`), so the forward pass opens one parallel region for a
// whole evaluation; called outside a region it runs on the calling thread.
#pragma once

#include "format/tensor_type.hpp"

#include <cstddef>
#include <cstdint>
#include <functional>
#include <initializer_list>

namespace qwen {

struct Matrix {
    TensorType type;
    const uint8_t* data;
    size_t rows;       // output features
    size_t cols;       // input features
    size_t row_bytes;  // bytes of one stored row
    const uint8_t* packed = nullptr;  // the same weights packed (kernels/packed.hpp), or null
};

// y[t * ldy + r] = dot(w row r, x[t * ldx ...]) for every row r and token t < n_tok.
void matmul(const Matrix& w, const float* x, size_t ldx, size_t n_tok, float* y, size_t ldy);

// The bytes pack_matrix() needs for w: nonzero if this CPU has packed kernels for its type
// and shape (kernels/packed.hpp), else 0 (its kernels take the rows as stored).
size_t packed_bytes(const Matrix& w);

// The bytes pack_matrices() puts w in: packed_bytes(w) if it has a packed layout, else,
// with `copy_stored`, its rows as stored (rows x row_bytes), else 0.
size_t resident_bytes(const Matrix& w, bool copy_stored);

// Repacks w into dst (packed_bytes(w) bytes, 64-byte aligned) and points w.packed at it;
// pack_matrices() does n of them in one parallel region, calling packed_source (if set)
// with each piece of stored rows once it is packed, from the thread that packed it. A
// matrix with no packed layout is copied to its dst as stored instead (resident_bytes with
// copy_stored), and w.data points there. Call them outside a parallel region.
using PackedSource = std::function<void(const uint8_t* data, size_t bytes)>;
void pack_matrix(Matrix& w, uint8_t* dst);
void pack_matrices(Matrix* const* ws, uint8_t* const* dsts, size_t n, const PackedSource& packed_source);

// Several matrices with the same input (q, k and v; gate and up): y of each as matmul() would
// give. When all are packed with the same activation format, the input is quantized once
// and their rows are shared among the threads as one list.
struct MatmulOut {
    const Matrix* w;
    float* y;
    size_t ldy;
};
void matmul_same_input(std::initializer_list<MatmulOut> outs, const float* x, size_t ldx, size_t n_tok);

// True if matmul() handles this weight type: every type quant::can_dequantize() accepts
// (the loader reports the others as unsupported).
bool matmul_supports(TensorType type);

// Dequantizes row r of w into out[0 .. cols), bit-exact with ggml (quant/dequantize.hpp).
void dequantize_row(const Matrix& w, size_t r, float* out);

}  // namespace qwen
