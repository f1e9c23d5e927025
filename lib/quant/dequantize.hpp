// Reference (scalar) dequantization of every block format of blocks.hpp.
//
// The results are bit-exact with ggml's to_float for the same bytes (tests/python/
// test_quant_parity.py checks it against the llama.cpp libraries): each element is
// computed with the same float operations in the same order, including for zero,
// subnormal, infinite and NaN scales (only the payload bits of a NaN may differ). The fast
// per-format kernels in kernels/ are tested against these.
#pragma once

#include "format/tensor_type.hpp"

#include <cstddef>

namespace qwen::quant {

// True for F32, F16, BF16 and every quantized type blocks.hpp describes.
bool can_dequantize(TensorType type);

// Decodes n elements (a whole number of blocks of `type`) from src into dst[0 .. n).
// src needs no alignment. Throws qwen::Error (QWEN_ERR_UNSUPPORTED) for a type without a
// dequantizer and (QWEN_ERR_INVALID_ARGUMENT) when n is not a whole number of blocks.
void dequantize_row(TensorType type, const void* src, float* dst, size_t n);

}  // namespace qwen::quant
