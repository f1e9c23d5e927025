// Qwen2 weights, checked against the hyper-parameters and ready for the forward pass.
// Matrices the CPU's kernels multiply faster in the row-interleaved layout
// (kernels/packed.hpp) are repacked once into memory the model owns (huge pages where
// offered); from a mapped file the others are copied there as stored, so that decode never
// streams weights through 4 KiB file pages. The token embedding is looked up in the file.
// Norms and biases, which are tiny, are widened to float once at load.
#pragma once

#include "core/aligned_buffer.hpp"
#include "core/page_buffer.hpp"
#include "format/model_source.hpp"
#include "kernels/matmul.hpp"

#include <memory>
#include <vector>

namespace qwen {

struct LayerWeights {
    const float* attn_norm;
    Matrix wq, wk, wv;
    const float *bq, *bk, *bv;
    Matrix wo;
    const float* ffn_norm;
    Matrix gate, up, down;
};

class Model {
public:
    // Validates every tensor's presence, type and dimensions. Throws Error naming the tensor.
    explicit Model(std::unique_ptr<ModelSource> source);

    const Qwen2Hparams& hparams() const { return source_->hparams(); }
    const std::vector<LayerWeights>& layers() const { return layers_; }
    const Matrix& token_embd() const { return token_embd_; }
    const Matrix& output() const { return output_; }  // token_embd when the embeddings are tied
    const float* output_norm() const { return output_norm_; }
    bool tied() const { return tied_; }
    const ModelSource& source() const { return *source_; }

private:
    Matrix matrix(const std::string& name, uint64_t cols, uint64_t rows);
    const float* vector(const std::string& name, uint64_t n);

    std::unique_ptr<ModelSource> source_;
    std::vector<LayerWeights> layers_;
    Matrix token_embd_{}, output_{};
    const float* output_norm_ = nullptr;
    bool tied_ = true;
    std::vector<AlignedBuffer<float>> vectors_;  // widened norms and biases
    PageBuffer packed_;  // the repacked and copied matrices, one after the other
};

}  // namespace qwen
