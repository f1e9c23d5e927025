// Writes a Hugging Face model folder laid out like Qwen/Qwen2.5-0.5B-Instruct's:
// config.json (every field of the published file, values from the hyper-parameters),
// generation_config.json (the published sampling defaults) and model.safetensors -- or
// model-0000k-of-0000n.safetensors shards + model.safetensors.index.json. Tokenizer files
// are not written here: copy tokenizer.json / tokenizer_config.json next to them.
//
// The tensors come in with GGUF names and dims (the same TensorViews a GgufWriter call
// would use), so one set of weights can be written both ways and the two load paths
// compared: names are mapped by hf_names, dims reversed to safetensors' [out, in] order,
// and the bytes are written unchanged when the tensor already has the requested dtype.
#pragma once

#include "format/model_source.hpp"

#include <cstdint>
#include <string>
#include <vector>

namespace qwen {

struct HfWriteOptions {
    // Storage type of every tensor (F32, F16 or BF16; the published files are BF16) and
    // config.json's torch_dtype. Tensors of another of those types are converted with
    // round-to-nearest-even; pass tensors already in this type for bit-identical files.
    TensorType dtype = TensorType::BF16;
    // 0: a single model.safetensors. Otherwise shards holding at most this many bytes of
    // tensor data each (a larger tensor gets a shard to itself), plus the index file.
    uint64_t max_shard_bytes = 0;
    bool write_generation_config = true;
};

// Creates `dir` if needed and (re)writes the files above; a weights file of the other
// layout left over from an earlier write (model.safetensors vs the index) is removed so
// the folder is never ambiguous. `tensors` hold GGUF names (token_embd.weight,
// blk.{i}.attn_q.weight, ...), dims fastest first, types F32/F16/BF16; `output.weight`
// must be present exactly when `tied` is false. Every tensor's data must stay valid for
// the call. Throws Error(QWEN_ERR_INVALID_ARGUMENT) for a name outside the Qwen2 table, a
// bad type or a size mismatch; Error(QWEN_ERR_IO) when a file cannot be written.
void write_hf_folder(const std::string& dir, const Qwen2Hparams& hp, bool tied,
                     const std::vector<TensorView>& tensors, const HfWriteOptions& opts = {});

// The config.json text write_hf_folder writes (indent 2, keys sorted, as transformers
// writes it). Tests edit it to produce hostile configs.
std::string hf_config_json(const Qwen2Hparams& hp, bool tied, TensorType dtype);

// The generation_config.json text of Qwen2.5-0.5B-Instruct.
std::string hf_generation_config_json();

}  // namespace qwen
