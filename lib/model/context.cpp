#include "model/context.hpp"

#include "core/error.hpp"
#include "kernels/dispatch.hpp"
#include "model/ops.hpp"

#include <algorithm>
#include <bit>
#include <cmath>
#include <utility>
#include <omp.h>

namespace qwen {

// Floats between the threads' rows in xn_each_: whole cache lines, no line shared.
static size_t xn_stride(size_t cols) { return (cols + 15) / 16 * 16; }

// NaN or Inf weights (or activations that overflow) would silently poison sampling, so every
// evaluation checks its logits (one pass over them) before it commits anything.
// The pass goes in chunks with a test the compiler vectorizes (an exponent of all ones:
// Inf or NaN), and finds the index only in a chunk that fails: the loop that stopped at the
// first one did not vectorize, ~0.35 ms for the 8 x 151,936 logits of an 8-sequence step.
static size_t first_non_finite(const float* logits, size_t n) {
    constexpr size_t kChunk = 1024;
    constexpr uint32_t kExp = 0x7f800000u;
    for (size_t c = 0; c < n; c += kChunk) {
        const size_t end = std::min(n, c + kChunk);
        uint32_t bad = 0;
        for (size_t i = c; i < end; ++i) bad |= uint32_t((std::bit_cast<uint32_t>(logits[i]) & kExp) == kExp);
        if (bad)
            for (size_t i = c; i < end; ++i)
                if (!std::isfinite(logits[i])) return i;
    }
    return n;
}

[[noreturn]] static void fail_non_finite(size_t i, uint32_t n_vocab, const char* row_kind) {
    fail(QWEN_ERR_FORMAT, "the model produced a non-finite logit (", row_kind, " ", i / n_vocab, ", token id ",
         i % n_vocab, "): its weights hold NaN or Inf values, or overflow float");
}

Context::Context(const Model& model, const ContextParams& params)
    : model_(model),
      n_threads_(params.n_threads > 0 ? params.n_threads : omp_get_num_procs()),
      batch_cap_(std::min(params.n_ctx, kMaxBatch)),
      kv_(model.hparams().n_layer, params.n_ctx, model.hparams().n_head_kv, model.hparams().head_dim, params.kv_f16) {
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
    x_other_.resize(E);
    xn_each_.resize(size_t(n_threads_) * xn_stride(E));
    scores_.resize(size_t(n_threads_) * kernels::attend_scores_floats(h.n_head / h.n_head_kv, params.n_ctx));
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
    // This call's logits go to a second buffer, swapped in when it succeeds: an aborted or
    // failed call leaves the previous logits readable, like the rest of the context.
    if (next_logits_.size() < rows * h.n_vocab) next_logits_.resize(rows * h.n_vocab);
    const uint32_t n_past0 = kv_.n_past();
    for (size_t done = 0; done < n;) {
        if (take_abort()) {
            kv_.set_n_past(n_past0);
            fail(QWEN_ERR_ABORTED, "evaluation aborted by qwen_context_abort() after ", done, " of ", n, " tokens");
        }
        const uint32_t nb = uint32_t(std::min<size_t>(batch_cap_, n - done));
        const bool last = done + nb == n;
        float* out = all_logits ? next_logits_.data() + done * h.n_vocab : (last ? next_logits_.data() : nullptr);
        const Sequence seq{&kv_, 0, kv_.n_past(), nb};
        forward(tokens + done, &seq, 1, out, all_logits);
        kv_.set_n_past(kv_.n_past() + nb);
        done += nb;
    }
    if (const size_t bad = first_non_finite(next_logits_.data(), rows * h.n_vocab); bad < rows * h.n_vocab) {
        kv_.set_n_past(n_past0);  // forget the tokens
        fail_non_finite(bad, h.n_vocab, "row");
    }
    std::swap(logits_, next_logits_);
    n_rows_ = rows;
    tokens_.insert(tokens_.end(), tokens, tokens + n);
}

void Context::eval_batch(Context* const* ctxs, const int32_t* tokens, size_t n) {
    if (n == 0) fail(QWEN_ERR_INVALID_ARGUMENT, "qwen_eval_batch: no contexts given");
    if (!ctxs || !tokens) fail(QWEN_ERR_INVALID_ARGUMENT, "qwen_eval_batch: contexts or tokens is NULL");
    Context& lead = *ctxs[0];
    const Qwen2Hparams& h = lead.model_.hparams();
    for (size_t i = 0; i < n; ++i) {
        const Context* c = ctxs[i];
        if (!c) fail(QWEN_ERR_INVALID_ARGUMENT, "qwen_eval_batch: context ", i, " is NULL");
        if (&c->model_ != &lead.model_)
            fail(QWEN_ERR_INVALID_ARGUMENT, "qwen_eval_batch: context ", i, " is on another model than context 0");
        for (size_t j = 0; j < i; ++j)
            if (ctxs[j] == c) fail(QWEN_ERR_INVALID_ARGUMENT, "qwen_eval_batch: contexts ", j, " and ", i, " are the same");
        if (tokens[i] < 0 || uint32_t(tokens[i]) >= h.n_vocab)
            fail(QWEN_ERR_INVALID_ARGUMENT, "qwen_eval_batch: token ", i, " has id ", tokens[i], ", outside [0, ",
                 h.n_vocab, ")");
        if (c->kv_.n_past() >= c->kv_.n_ctx())
            fail(QWEN_ERR_CONTEXT_FULL, "qwen_eval_batch: context ", i, " is full (", c->kv_.n_ctx(), " tokens)");
    }
    bool aborted = false;
    for (size_t i = 0; i < n; ++i) aborted |= ctxs[i]->take_abort();
    if (aborted) fail(QWEN_ERR_ABORTED, "qwen_eval_batch: aborted by qwen_context_abort() before it started");

    // Every chunk first (rows past n_past are not part of a cache until committed), then the
    // checks, then the commit: a failure anywhere leaves all contexts as they were.
    if (lead.batch_logits_.size() < n * h.n_vocab) lead.batch_logits_.resize(n * h.n_vocab);
    for (size_t i = 0; i < n; ++i)
        if (ctxs[i]->logits_.size() < h.n_vocab) ctxs[i]->logits_.resize(h.n_vocab);
    std::vector<Sequence> seqs(std::min<size_t>(n, lead.batch_cap_));
    for (size_t done = 0; done < n;) {
        const size_t m = std::min<size_t>(lead.batch_cap_, n - done);
        for (size_t i = 0; i < m; ++i) {
            KvCache& kv = ctxs[done + i]->kv_;
            seqs[i] = Sequence{&kv, uint32_t(i), kv.n_past(), 1};
        }
        lead.forward(tokens + done, seqs.data(), m, lead.batch_logits_.data() + done * h.n_vocab, false);
        done += m;
    }
    if (const size_t bad = first_non_finite(lead.batch_logits_.data(), n * h.n_vocab); bad < n * h.n_vocab)
        fail_non_finite(bad, h.n_vocab, "sequence");
    for (size_t i = 0; i < n; ++i) {
        Context& c = *ctxs[i];
        std::copy_n(lead.batch_logits_.data() + i * h.n_vocab, h.n_vocab, c.logits_.data());
        c.n_rows_ = 1;
        c.kv_.set_n_past(c.kv_.n_past() + 1);
        c.tokens_.push_back(tokens[i]);
    }
}

void Context::truncate(uint32_t n_keep) {
    if (n_keep > kv_.n_past())
        fail(QWEN_ERR_INVALID_ARGUMENT, "truncate to ", n_keep, " tokens but only ", kv_.n_past(), " are cached");
    kv_.set_n_past(n_keep);
    tokens_.resize(n_keep);
    n_rows_ = 0;
}

// The Qwen2 decoder over the rows of one or more sequences (one sequence: a prompt batch or
// a decode step; several: one decode step of each, from qwen_eval_batch). One parallel region
// for the whole pass; every step below is shared among its threads. Logits: every row if
// all_logits or if there are several sequences (one row each), else the last row only.
void Context::forward(const int32_t* tokens, const Sequence* seqs, size_t n_seqs, float* logits, bool all_logits) {
    const Qwen2Hparams& h = model_.hparams();
    const size_t E = h.n_embd, D = h.head_dim, Q = size_t(h.n_head) * D, KV = size_t(h.n_head_kv) * D, F = h.n_ff;
    float *x = x_.data(), *xn = xn_.data(), *q = q_.data(), *k = k_.data(), *v = v_.data(), *att = att_.data(),
          *tmp = tmp_.data(), *gate = gate_.data(), *up = up_.data(), *rope = rope_.data();
    const uint32_t n = seqs[n_seqs - 1].row0 + seqs[n_seqs - 1].n;
    const HeadShape shape{h.n_head, h.n_head_kv, uint32_t(D)};
    uint32_t longest = 0;
    bool one_row_each = true;  // decode: the attention items prepare their own q, k and v
    for (size_t i = 0; i < n_seqs; ++i) {
        longest = std::max(longest, seqs[i].kv->n_ctx());
        one_row_each &= seqs[i].n == 1;
    }
    const size_t scores_per_thread = kernels::attend_scores_floats(h.n_head / h.n_head_kv, longest);
    if (scores_.size() < size_t(n_threads_) * scores_per_thread) scores_.resize(size_t(n_threads_) * scores_per_thread);

    // One row: every thread norms it for itself (add_rms_norm_each), the residual alternating
    // between x and x_other, and quantizes it for itself (matmul.cpp's prepare_tokens): 6
    // barriers a layer instead of 12. perf on Q4_0 tg128: TeamBarrier::wait 4.3-6.6% of the
    // step -> 1.8% (tokens/s within the noise: decode is at the read bandwidth).
    const bool one_row = n == 1;
    float* const x_other = x_other_.data();

#pragma omp parallel num_threads(n_threads_)
    {
        const TeamScope team(barrier_);
        const size_t tid = size_t(omp_get_thread_num());
        float* scores = scores_.data() + tid * scores_per_thread;
        // The residual, and where the next norm's add goes (one row: the other buffer).
        float *res = x, *res_next = one_row ? x_other : x;
        // The normed rows the next matmul takes (one row: this thread's own).
        float* const in = one_row ? xn_each_.data() + tid * xn_stride(E) : xn;
        // The residual add of `y` (none: null) and the norm by `weight`, into `in`.
        const auto norm = [&](const float* y, const float* weight, bool keep) {
            if (one_row) {
                add_rms_norm_each(res, y, keep ? res_next : nullptr, E, weight, h.rms_eps, in);
                if (y && keep) std::swap(res, res_next);
            } else if (y) {
                add_rms_norm(res, y, E, n, weight, h.rms_eps, in);
            } else {
                rms_norm(res, E, n, weight, h.rms_eps, in);
            }
        };
        embed_tokens(model_.token_embd(), tokens, n, x);
        rope_table(seqs, n_seqs, uint32_t(D), h.rope_theta, rope);

        for (uint32_t il = 0; il < h.n_layer; ++il) {
            const LayerWeights& L = model_.layers()[il];
            // Attention block (the previous layer's residual add goes with this norm).
            norm(il == 0 ? nullptr : tmp, L.attn_norm, true);
            matmul_same_input({{&L.wq, q, Q}, {&L.wk, k, KV}, {&L.wv, v, KV}}, in, E, n);
            const QkvRows qkv{q, k, v, L.bq, L.bk, L.bv, rope, il};
            if (!one_row_each) qkv_bias_rope_store(shape, seqs, n_seqs, qkv);
            attention(shape, seqs, n_seqs, qkv, one_row_each, scores, att);
            matmul(L.wo, att, Q, n, tmp, E);
            // Feed-forward block (SwiGLU).
            norm(tmp, L.ffn_norm, true);
            matmul_same_input({{&L.gate, gate, F}, {&L.up, up, F}}, in, E, n);
            silu_mul(gate, up, F, n);
            matmul(L.down, gate, F, n, tmp, E);
        }

        if (logits) {
            // Only the rows whose logits are wanted go through the final norm and LM head,
            // with the last layer's residual.
            const uint32_t first = all_logits || n_seqs > 1 ? 0 : n - 1, rows = n - first;
            if (one_row) {
                norm(tmp, model_.output_norm(), false);
            } else {
                add_rows(res, tmp, E, n);
                rms_norm(res + first * E, E, rows, model_.output_norm(), h.rms_eps, in);
            }
            matmul(model_.output(), in, E, rows, logits, h.n_vocab);
        }
    }
}

}  // namespace qwen
