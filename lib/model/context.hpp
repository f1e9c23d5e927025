// One conversation on a Model: the KV cache, the scratch memory planned up front (nothing
// is allocated per token) and the logits of the last evaluation.
#pragma once

#include "core/aligned_buffer.hpp"
#include "core/team.hpp"
#include "kv/kv_cache.hpp"
#include "model/model.hpp"
#include "model/ops.hpp"

#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

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
    // everything first: on error the context is unchanged. A pending abort request makes it
    // throw Error(QWEN_ERR_ABORTED) between batches, also leaving the context unchanged.
    void eval(const int32_t* tokens, size_t n, bool all_logits);

    // One decode step of several sequences in one pass, so each weight matrix is read once for
    // all of them: tokens[i] is appended to ctxs[i] with the logits qwen_eval would give it.
    // The contexts must be distinct and on the same model; the pass uses ctxs[0]'s threads
    // and scratch. Validates everything first; on any error no context changes.
    static void eval_batch(Context* const* ctxs, const int32_t* tokens, size_t n);

    // The tokens in the cache, in order (n_past of them).
    const std::vector<int32_t>& tokens() const { return tokens_; }

    // Asks a running (or the next) eval() to stop; safe from any thread.
    void request_abort() { abort_.store(true, std::memory_order_relaxed); }
    // Consumes a pending abort request: true if there was one.
    bool take_abort() { return abort_.exchange(false, std::memory_order_relaxed); }

    // Saved state (context_state.cpp): tokens, the KV rows in use and the last logits row, as
    // a versioned little-endian byte string that names the model's shape and fingerprint.
    size_t state_size() const;
    void save_state(std::string& out) const;
    // Checks `n` bytes as a state of this model that fits this context; throws
    // Error(QWEN_ERR_FORMAT) naming what is wrong, changing nothing.
    void check_state(const uint8_t* data, size_t n) const;
    // Replaces the context's state by checked bytes (check_state() first; cannot fail after).
    void load_state(const uint8_t* data, size_t n);

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
    void forward(const int32_t* tokens, const Sequence* seqs, size_t n_seqs, float* logits, bool all_logits);

    const Model& model_;
    int n_threads_;
    uint32_t batch_cap_;
    KvCache kv_;
    // Scratch, sized for batch_cap_ tokens.
    AlignedBuffer<float> x_, xn_, q_, k_, v_, att_, tmp_, gate_, up_, rope_;
    AlignedBuffer<float> scores_;  // per thread: group heads x n_ctx
    // A decode step of one sequence: the residual's other buffer, and each thread's normed row
    // (model/ops.hpp's add_rms_norm_each).
    AlignedBuffer<float> x_other_, xn_each_;
    TeamBarrier barrier_;          // the forward pass's barriers (core/team.hpp)
    AlignedBuffer<float> logits_;
    AlignedBuffer<float> next_logits_;   // eval() writes here and swaps it in when it succeeds
    AlignedBuffer<float> batch_logits_;  // eval_batch(): one row per sequence, copied out at the end
    size_t n_rows_ = 0;
    std::vector<int32_t> tokens_;  // reserved to n_ctx at creation: eval() never allocates it
    std::atomic<bool> abort_{false};
};

}  // namespace qwen
