#include "model/context.hpp"

#include "core/error.hpp"
#include "model/ops.hpp"

#include <algorithm>
#include <cmath>
#include <omp.h>

namespace qwen {

Context::Context(const Model& model, const ContextParams& params)
    : model_(model),
      n_threads_(params.n_threads > 0 ? params.n_threads : omp_get_num_procs()),
      batch_cap_(std::min(params.n_ctx, kMaxBatch)),
      kv_(model.hparams().n_layer, params.n_ctx, model.hparams().n_head_kv * model.hparams().head_dim,
          params.kv_f16) {
    const Qwen2Hparams& h = model.hparams();
    if (params.n_ctx == 0 || params.n_ctx > h.n_ctx_train)
        fail(QWEN_ERR_INVALID_ARGUMENT, "n_ctx ", params.n_ctx, " is outside [1, ", h.n_ctx_train,
             "] (the model's context length)");
    const size_t B = batch_cap_, E = h.n_embd, Q = size_t(h.n_head) * h.head_dim,
                 KV = size_t(h.n_head_kv) * h.head_dim;
    x_.resize(B * E);
    xn_.resize(B * E);
    q_.resize(B * Q);
    k_.resize(B * KV);
    v_.resize(B * KV);
    att_.resize(B * Q);
    tmp_.resize(B * E);
    gate_.resize(B * h.n_ff);
    up_.resize(B * h.n_ff);
    rope_.resize(B * h.head_dim);  // cos and sin for each pair of each token
    scores_.resize(size_t(n_threads_) * (h.n_head / h.n_head_kv) * params.n_ctx);
    tokens_.reserve(params.n_ctx);
}

void Context::eval(const int32_t* tokens, size_t n, bool all_logits) {
    const Qwen2Hparams& h = model_.hparams();
    if (n == 0) fail(QWEN_ERR_INVALID_ARGUMENT, "qwen_eval: no tokens given");
    if (!tokens) fail(QWEN_ERR_INVALID_ARGUMENT, "qwen_eval: tokens is NULL");
    for (size_t i = 0; i < n; ++i)
        if (tokens[i] < 0 || uint32_t(tokens[i]) >= h.n_vocab)
            fail(QWEN_ERR_INVALID_ARGUMENT, "token ", i, " has id ", tokens[i], ", outside [0, ", h.n_vocab, ")");
    if (n > size_t(kv_.n_ctx() - kv_.n_past()))
        fail(QWEN_ERR_CONTEXT_FULL, "context full: ", kv_.n_past(), " tokens cached + ", n, " new > n_ctx ",
             kv_.n_ctx());
    const size_t rows = all_logits ? n : 1;
    if (logits_.size() < rows * h.n_vocab) logits_.resize(rows * h.n_vocab);
    n_rows_ = 0;
    const uint32_t n_past0 = kv_.n_past();
    for (size_t done = 0; done < n;) {
        if (take_abort()) {
            kv_.set_n_past(n_past0);
            fail(QWEN_ERR_ABORTED, "evaluation aborted by qwen_context_abort() after ", done, " of ", n, " tokens");
        }
        const uint32_t nb = uint32_t(std::min<size_t>(batch_cap_, n - done));
        const bool last = done + nb == n;
        float* out = all_logits ? logits_.data() + done * h.n_vocab : (last ? logits_.data() : nullptr);
        forward(tokens + done, nb, kv_.n_past(), out, all_logits);
        kv_.set_n_past(kv_.n_past() + nb);
        done += nb;
    }
    // NaN or Inf weights (or activations that overflow) would silently poison sampling:
    // refuse them here, where it costs one pass over the logits, and forget the tokens.
    for (size_t i = 0; i < rows * h.n_vocab; ++i)
        if (!std::isfinite(logits_[i])) {
            kv_.set_n_past(n_past0);
            fail(QWEN_ERR_FORMAT, "the model produced a non-finite logit (row ", i / h.n_vocab, ", token id ",
                 i % h.n_vocab, "): its weights hold NaN or Inf values, or overflow float");
        }
    n_rows_ = rows;
    tokens_.insert(tokens_.end(), tokens, tokens + n);
}

void Context::truncate(uint32_t n_keep) {
    if (n_keep > kv_.n_past())
        fail(QWEN_ERR_INVALID_ARGUMENT, "truncate to ", n_keep, " tokens but only ", kv_.n_past(), " are cached");
    kv_.set_n_past(n_keep);
    tokens_.resize(n_keep);
    n_rows_ = 0;
}

// The Qwen2 decoder over a batch of n tokens at positions pos0 .. pos0+n-1. One parallel
// region for the whole pass; every step below is shared among its threads.
void Context::forward(const int32_t* tokens, uint32_t n, uint32_t pos0, float* logits, bool all_logits) {
    const Qwen2Hparams& h = model_.hparams();
    const size_t E = h.n_embd, D = h.head_dim, Q = size_t(h.n_head) * D, KV = size_t(h.n_head_kv) * D, F = h.n_ff;
    float *x = x_.data(), *xn = xn_.data(), *q = q_.data(), *k = k_.data(), *v = v_.data(), *att = att_.data(),
          *tmp = tmp_.data(), *gate = gate_.data(), *up = up_.data(), *rope = rope_.data();

    AttentionShape shape{h.n_head, h.n_head_kv, uint32_t(D), pos0, n};

#pragma omp parallel num_threads(n_threads_)
    {
        float* scores = scores_.data() + size_t(omp_get_thread_num()) * (h.n_head / h.n_head_kv) * kv_.n_ctx();
        embed_tokens(model_.token_embd(), tokens, n, x);
        rope_table(pos0, n, uint32_t(D), h.rope_theta, rope);

        for (uint32_t il = 0; il < h.n_layer; ++il) {
            const LayerWeights& L = model_.layers()[il];
            // Attention block.
            rms_norm(x, E, n, L.attn_norm, h.rms_eps, xn);
            matmul(L.wq, xn, E, n, q, Q);
            matmul(L.wk, xn, E, n, k, KV);
            matmul(L.wv, xn, E, n, v, KV);
            qkv_bias_rope_store(shape, L.bq, L.bk, L.bv, rope, q, k, v, kv_, il);
            attention(shape, q, kv_, il, scores, att);
            matmul(L.wo, att, Q, n, tmp, E);
            add_rows(x, tmp, E, n);
            // Feed-forward block (SwiGLU).
            rms_norm(x, E, n, L.ffn_norm, h.rms_eps, xn);
            matmul(L.gate, xn, E, n, gate, F);
            matmul(L.up, xn, E, n, up, F);
            silu_mul(gate, up, F, n);
            matmul(L.down, gate, F, n, tmp, E);
            add_rows(x, tmp, E, n);
        }

        if (logits) {
            // Only the rows whose logits are wanted go through the final norm and LM head.
            const uint32_t first = all_logits ? 0 : n - 1, rows = n - first;
            rms_norm(x + first * E, E, rows, model_.output_norm(), h.rms_eps, xn);
            matmul(model_.output(), xn, E, rows, logits, h.n_vocab);
        }
    }
}

}  // namespace qwen
