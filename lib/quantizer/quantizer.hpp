// Model quantization: an F32/F16/BF16 Qwen2 model (GGUF file or Hugging Face folder) to a GGUF
// file of one of llama.cpp's file types, as `llama-quantize` writes it without an importance
// matrix: the tensor types of tensor_types.hpp, ggml's bytes (quant::quantize_row), the
// input's metadata plus general.file_type and general.quantization_version, tensors in
// llama.cpp's order.
//
// Streaming: the input is mapped and converted tensor by tensor, a slab of rows at a time
// (rows in parallel with OpenMP), straight into the output file; the file is written under a
// temporary name and renamed when complete (see GgufStream).
#pragma once

#include "format/tensor_type.hpp"

#include <qwen/qwen.h>

#include <cstdint>
#include <functional>
#include <string>

namespace qwen::quantizer {

struct TensorProgress {
    size_t index, count;
    const std::string& name;
    TensorType from, to;
    uint64_t from_bytes, to_bytes;
};

struct QuantizeOptions {
    qwen_ftype ftype = QWEN_FTYPE_Q8_0;
    int n_threads = 0;  // <= 0: OpenMP's default
    bool pure = false;
    bool allow_requantize = false;
    // Called before each tensor; returning false cancels (Error(QWEN_ERR_ABORTED), no file).
    std::function<bool(const TensorProgress&)> progress;
};

// Throws Error: QWEN_ERR_INVALID_ARGUMENT (bad ftype, dst the same file as src), the reader's
// QWEN_ERR_IO / QWEN_ERR_FORMAT / QWEN_ERR_UNSUPPORTED, QWEN_ERR_UNSUPPORTED naming a tensor
// that cannot be converted, QWEN_ERR_ABORTED. On any error there is no file at dst.
void quantize_model(const std::string& src, const std::string& dst, const QuantizeOptions& options);

}  // namespace qwen::quantizer
