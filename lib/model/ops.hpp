// The element-wise and attention steps of the Qwen2 forward pass. Each one shares its
// work among the threads of the enclosing OpenMP parallel region (orphaned `omp for`,
// with the barrier at its end), so the forward pass reads top to bottom like the paper.
#pragma once

#include "kernels/matmul.hpp"
#include "kv/kv_cache.hpp"

#include <cstddef>
#include <cstdint>

namespace qwen {

struct HeadShape {
    uint32_t n_head, n_head_kv, head_dim;
};

// The rows of one evaluation that belong to one sequence: rows [row0, row0 + n) of the
// activations are its tokens at positions pos0 .. pos0 + n - 1, attending over its own cache.
// A plain evaluation is one sequence; qwen_eval_batch() stacks one row of each of several.
struct Sequence {
    KvCache* kv;
    uint32_t row0, pos0, n;
};

// x[t] = row tokens[t] of the embedding matrix.
void embed_tokens(const Matrix& embd, const int32_t* tokens, size_t n, float* x);

// cos/sin of every rotary pair for the position of every row: rope[t*D + 2i] = cos,
// rope[t*D + 2i + 1] = sin of angle pos * theta^(-2i/D). Computed in double: it is done once
// per evaluation and leaves no error of its own.
void rope_table(const Sequence* seqs, size_t n_seqs, uint32_t head_dim, float theta, float* rope);

// out[t] = x[t] / sqrt(mean(x[t]^2) + eps) * weight, for n rows of `cols`.
void rms_norm(const float* x, size_t cols, size_t n, const float* weight, float eps, float* out);

// x[t] += y[t], then out[t] = rms_norm of the new x[t]: the residual add and the next norm
// in one step (one barrier), the same arithmetic as add_rows then rms_norm.
void add_rms_norm(float* x, const float* y, size_t cols, size_t n, const float* weight, float eps, float* out);

// One row (a decode step of one sequence) on every thread of the team, with no barrier: each
// computes r = x + y (x alone if y is null) and out = rms_norm(r) into its own `out`, the same
// bytes on every thread, and thread 0 stores r in x_out (if not null), another buffer than x,
// since the other threads may still be reading x. The next matmul quantizes `out` on each
// thread too (matmul.cpp's prepare_tokens), so a decode step's norms need no barrier: the
// caller alternates the residual between two buffers, and the barrier at the end of that
// matmul orders these reads of x before the next norm writes it.
void add_rms_norm_each(const float* x, const float* y, float* x_out, size_t cols, const float* weight, float eps,
                       float* out);

// One layer's q, k and v rows as the matmuls left them, and what turns them into attention
// inputs: the biases, the rotary table (rope_table) and the cache they are stored in.
struct QkvRows {
    float *q, *k, *v;
    const float *bq, *bk, *bv, *rope;
    uint32_t layer;
};

// Adds the biases, rotates q and k (NeoX style: pairs (i, i + D/2)) and stores k and v
// into the cache at their positions.
void qkv_bias_rope_store(const HeadShape& s, const Sequence* seqs, size_t n_seqs, const QkvRows& r);

// Causal softmax attention of every row's queries over its sequence's cache (positions 0 ..
// pos of the token). Each work item is one token and one KV head, serving all the query heads
// that share it in one pass over the cache (kernels::KernelTable::attend). `scores` is this
// thread's scratch of kernels::attend_scores_floats(n_head / n_head_kv, longest cache) floats.
// With `prepare`, each item first does qkv_bias_rope_store's work for its token and KV head
// (biases, rotation and the store of that head), which saves a step and its barrier; only
// when every sequence has one row (decode), since a prompt's token attends to the keys the
// other tokens of its batch store.
void attention(const HeadShape& s, const Sequence* seqs, size_t n_seqs, const QkvRows& r, bool prepare,
               float* scores, float* out);

// x[t] += y[t]
void add_rows(float* x, const float* y, size_t cols, size_t n);

// gate[t] = silu(gate[t]) * up[t]
void silu_mul(float* gate, const float* up, size_t cols, size_t n);

}  // namespace qwen
