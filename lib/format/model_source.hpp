// What a model file gives the model: Qwen2 hyper-parameters and named tensors, whatever the
// container (GGUF file or Hugging Face folder of safetensors). Tensor names and dimension
// order are GGUF's (`blk.3.attn_q.weight`, dims[0] = the input features), so the model code
// sees one layout; the Hugging Face reader translates names and keeps [out, in] storage,
// which is the same bytes as GGUF's dims {in, out}.
#pragma once

#include "format/hf_generation_config.hpp"
#include "format/tensor_type.hpp"

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace qwen {

struct Qwen2Hparams {
    uint32_t n_vocab = 0;      // rows of token_embd (151,936 for Qwen2.5-0.5B)
    uint32_t n_ctx_train = 0;  // max_position_embeddings
    uint32_t n_embd = 0;       // hidden size
    uint32_t n_layer = 0;
    uint32_t n_head = 0;
    uint32_t n_head_kv = 0;
    uint32_t n_ff = 0;         // intermediate size
    uint32_t head_dim = 0;     // n_embd / n_head
    float rms_eps = 1e-6f;
    float rope_theta = 1000000.0f;
};

struct TensorView {
    std::string name;
    TensorType type;
    std::vector<uint64_t> dims;  // dims[0] fastest
    const uint8_t* data;
    size_t bytes;
    std::string where;  // "file.gguf, tensor 'x' at offset N" for messages
};

// Owns whatever keeps the tensor bytes alive (mappings).
class ModelSource {
public:
    virtual ~ModelSource() = default;
    const Qwen2Hparams& hparams() const { return hparams_; }
    const std::vector<TensorView>& tensors() const { return tensors_; }
    const TensorView* find(std::string_view name) const {
        for (const auto& t : tensors_)
            if (t.name == name) return &t;
        return nullptr;
    }
    // Describes the source for messages: the file or folder path.
    const std::string& path() const { return path_; }
    // The sampling defaults the files declare: a Hugging Face folder's generation_config.json,
    // a GGUF file's general.sampling.* keys. nullopt when they declare none.
    std::optional<GenerationDefaults> generation_defaults() const { return generation_defaults_; }
    // True if the tensor bytes are file mappings (page cache, 4 KiB pages), false if they
    // were read into memory of the source's own.
    virtual bool mapped() const { return false; }
    // Tells the source the model no longer reads these tensor bytes (it keeps a converted
    // copy): a mapped file drops their pages, so they stop counting in the resident size.
    virtual void release(const uint8_t* /*data*/, size_t /*bytes*/) const {}

protected:
    Qwen2Hparams hparams_;
    std::optional<GenerationDefaults> generation_defaults_;
    std::vector<TensorView> tensors_;
    std::string path_;
};

}  // namespace qwen
