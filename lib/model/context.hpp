// One conversation on a Model: the KV cache, the scratch memory planned up front (nothing
// is allocated per token) and the logits of the last evaluation.
#pragma once

#include "core/aligned_buffer.hpp"
#include "kv/kv_cache.hpp"
#include "model/model.hpp"

#include <cstdint>

namespace qwen {

struct ContextParams {
    uint32_t n_ctx = 4096;
    int n_threads = 0;  // 0: one per core
    bool kv_f16 = true;
};

class Context {
public:
    // Throws Error(QWEN_ERR_INVALID_ARGUMENT) for an n_ctx beyond the model's, bad_alloc.
    Context(const Model& model, const ContextParams& params);

    // Evaluates tokens at positions n_past.. and appends them to the cache. Validates
    // everything first: on error the context is unchanged.
    void eval(const int32_t* tokens, size_t n, bool all_logits);

    const float* logits() const { return n_rows_ ? logits_.data() : nullptr; }
    size_t n_logit_rows() const { return n_rows_; }
    uint32_t n_past() const { return kv_.n_past(); }
    uint32_t n_ctx() const { return kv_.n_ctx(); }
    int n_threads() const { return n_threads_; }
    const Model& model() const { return model_; }

    void truncate(uint32_t n_keep);

    // Tokens evaluated at once; longer inputs are split into batches of this size.
    static constexpr uint32_t kMaxBatch = 512;

private:
    void forward(const int32_t* tokens, uint32_t n, uint32_t pos0, float* logits, bool all_logits);

    const Model& model_;
    int n_threads_;
    uint32_t batch_cap_;
    KvCache kv_;
    // Scratch, sized for batch_cap_ tokens.
    AlignedBuffer<float> x_, xn_, q_, k_, v_, att_, tmp_, gate_, up_, rope_;
    AlignedBuffer<float> scores_;  // per thread: group heads x n_ctx
    AlignedBuffer<float> logits_;
    size_t n_rows_ = 0;
};

}  // namespace qwen
