// The metadata of a quantized file: what the input says about the model, as GGUF keys.
#pragma once

#include "format/gguf.hpp"
#include "format/model_source.hpp"

#include <string>

namespace qwen::quantizer {

// ggml's GGML_QNT_VERSION: the block layouts of the legacy formats since 2023.
inline constexpr uint32_t kQuantizationVersion = 2;

// Every key of a GGUF input, value and type as they are, except those the quantizer sets
// (general.file_type, general.quantization_version) and those describing the input's layout
// (general.alignment, split.*).
void gguf_metadata(const GgufFile& input, GgufWriter& out);

// The qwen2.* hyper-parameter keys, as llama.cpp's converter writes them (GgufSource reads them).
void write_qwen2_hparams(const Qwen2Hparams& h, GgufWriter& out);

// The keys llama.cpp's converter writes for a Hugging Face folder of a Qwen2 model:
// architecture and hyper-parameters, sampling defaults from generation_config.json, and the
// tokenizer (tokenizer.json, with the chat template of tokenizer_config.json).
// Throws Error(QWEN_ERR_IO / QWEN_ERR_FORMAT) naming the file.
void hf_metadata(const ModelSource& source, const std::string& dir, GgufWriter& out);

}  // namespace qwen::quantizer
