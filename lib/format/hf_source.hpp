// A Hugging Face model folder as published for Qwen/Qwen2.5-0.5B-Instruct: config.json,
// model.safetensors (or model-0000x-of-0000y.safetensors + model.safetensors.index.json),
// tokenizer.json, tokenizer_config.json, generation_config.json.
#pragma once

#include "format/model_source.hpp"

#include <memory>
#include <string>

namespace qwen {

// Reads config.json and maps the safetensors files; tensor names are translated to GGUF's
// (model.layers.3.self_attn.q_proj.weight -> blk.3.attn_q.weight) so the model sees one
// layout. Throws Error(QWEN_ERR_IO / QWEN_ERR_FORMAT / QWEN_ERR_UNSUPPORTED) naming the
// file and the field, tensor or byte offset.
std::unique_ptr<ModelSource> open_hf_folder(const std::string& dir, bool use_mmap = true);

// True when `path` is a directory holding a config.json.
bool is_hf_folder(const std::string& path);

}  // namespace qwen
