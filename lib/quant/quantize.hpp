// Reference (scalar) quantization of float rows into block formats.
//
// The algorithms are ggml's without an importance matrix, i.e. what `llama-quantize` does
// when given none (ggml_quantize_chunk with imatrix = NULL): round-to-nearest with the
// block's absolute maximum for the legacy formats and Q8_*, ggml's iterative scale/min
// search (make_qkx2_quants / make_qx_quants) for Q4_K / Q5_K / Q6_K, and the codebook
// search with 7 refinement steps for IQ4_NL / IQ4_XS. Every float operation is the one ggml
// performs, in its order, so the bytes are identical to ggml's for every finite input
// (tests/python/test_quant_parity.py checks this against the llama.cpp libraries).
//
// Non-finite input (defined here; ggml's result is unspecified): a block that contains a
// NaN or an infinity is written with every scale field NaN and every code zero, so all of
// its elements dequantize to NaN -- the bad value propagates through a product as it would
// in float arithmetic, and a model converted from such weights visibly fails instead of
// silently computing with clipped values. Finite values too large for the block's f16
// scale saturate to an infinite scale exactly as in ggml.
#pragma once

#include "format/tensor_type.hpp"

#include <cstddef>

namespace qwen::quant {

// True for F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q8_1, Q8_K, Q4_K, Q5_K, Q6_K,
// IQ4_NL and IQ4_XS.
bool can_quantize(TensorType type);

// Encodes src[0 .. n) (a whole number of blocks of `type`) into dst, which receives
// tensor_row_bytes(type, n) bytes and needs no alignment. Rows are independent, so a matrix
// is quantized row by row (or all at once: blocks never straddle rows). Throws qwen::Error
// (QWEN_ERR_UNSUPPORTED) for a type without a quantizer and (QWEN_ERR_INVALID_ARGUMENT) when
// n is not a whole number of blocks.
void quantize_row(TensorType type, const float* src, void* dst, size_t n);

}  // namespace qwen::quant
