#include "model/ops.hpp"

#include "core/team.hpp"
#include "kernels/dispatch.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <omp.h>

namespace qwen {

void embed_tokens(const Matrix& embd, const int32_t* tokens, size_t n, float* x) {
#pragma omp for schedule(static) nowait
    for (long t = 0; t < long(n); ++t) dequantize_row(embd, size_t(tokens[t]), x + size_t(t) * embd.cols);
    team_barrier();
}

// The sequence that row `row` belongs to (a handful of sequences: a scan is fastest).
static const Sequence& sequence_of(const Sequence* seqs, size_t n_seqs, uint32_t row) {
    size_t i = 0;
    while (i + 1 < n_seqs && row >= seqs[i + 1].row0) ++i;
    return seqs[i];
}

static uint32_t total_rows(const Sequence* seqs, size_t n_seqs) {
    return seqs[n_seqs - 1].row0 + seqs[n_seqs - 1].n;
}

void rope_table(const Sequence* seqs, size_t n_seqs, uint32_t head_dim, float theta, float* rope) {
    const uint32_t half = head_dim / 2;
#pragma omp for schedule(static) nowait
    for (long t = 0; t < long(total_rows(seqs, n_seqs)); ++t) {
        const Sequence& sq = sequence_of(seqs, n_seqs, uint32_t(t));
        const double pos = double(sq.pos0) + double(uint32_t(t) - sq.row0);
        for (uint32_t i = 0; i < half; ++i) {
            const double angle = pos * std::pow(double(theta), -2.0 * i / head_dim);
            rope[size_t(t) * head_dim + 2 * i] = float(std::cos(angle));
            rope[size_t(t) * head_dim + 2 * i + 1] = float(std::sin(angle));
        }
    }
    team_barrier();
}

static void norm_row(const float* xr, size_t cols, const float* weight, float eps, float* o) {
    // The squares summed in double, as ggml does: 896 of them lose nothing. In 8 interleaved
    // partial sums: one chain of 896 dependent adds (4 cycles each) was ~1 us a row, 2% of a
    // prompt; a float scale computed from a double sum in another order differs only if
    // that sum sits within ~1e-13 of a float rounding boundary.
    constexpr size_t kParts = 8;
    double part[kParts] = {};
    size_t i = 0;
    for (; i + kParts <= cols; i += kParts)
        for (size_t j = 0; j < kParts; ++j) part[j] += double(xr[i + j]) * double(xr[i + j]);
    for (; i < cols; ++i) part[0] += double(xr[i]) * double(xr[i]);
    const double sum = ((part[0] + part[1]) + (part[2] + part[3])) + ((part[4] + part[5]) + (part[6] + part[7]));
    const float scale = 1.0f / std::sqrt(float(sum / double(cols)) + eps);
    for (size_t c = 0; c < cols; ++c) o[c] = xr[c] * scale * weight[c];
}

void rms_norm(const float* x, size_t cols, size_t n, const float* weight, float eps, float* out) {
#pragma omp for schedule(static) nowait
    for (long t = 0; t < long(n); ++t) norm_row(x + size_t(t) * cols, cols, weight, eps, out + size_t(t) * cols);
    team_barrier();
}

void add_rms_norm(float* x, const float* y, size_t cols, size_t n, const float* weight, float eps, float* out) {
#pragma omp for schedule(static) nowait
    for (long t = 0; t < long(n); ++t) {
        float* xr = x + size_t(t) * cols;
        const float* yr = y + size_t(t) * cols;
        for (size_t i = 0; i < cols; ++i) xr[i] += yr[i];
        norm_row(xr, cols, weight, eps, out + size_t(t) * cols);
    }
    team_barrier();
}

void add_rms_norm_each(const float* x, const float* y, float* x_out, size_t cols, const float* weight, float eps,
                       float* out) {
    if (y) {
        for (size_t i = 0; i < cols; ++i) out[i] = x[i] + y[i];
        if (x_out && omp_get_thread_num() == 0) std::memcpy(x_out, out, cols * sizeof(float));
        x = out;  // norm_row reads each element before writing it: in place is the same
    }
    norm_row(x, cols, weight, eps, out);
}

static void rotate(float* head, const float* rope, uint32_t D) {
    const uint32_t half = D / 2;
    for (uint32_t i = 0; i < half; ++i) {
        const float c = rope[2 * i], s = rope[2 * i + 1];
        const float a = head[i], b = head[i + half];
        head[i] = a * c - b * s;
        head[i + half] = a * s + b * c;
    }
}

// Row t's KV head g and the query heads that share it: biases added, q and k rotated, k and
// v stored in the cache. Every element's arithmetic is its own, so doing the heads of a row
// in any order or on any thread gives the same values.
static void prepare_head(const HeadShape& s, const Sequence& sq, uint32_t t, uint32_t g, const QkvRows& r) {
    const size_t D = s.head_dim, Q = size_t(s.n_head) * D, KV = size_t(s.n_head_kv) * D;
    const uint32_t group = s.n_head / s.n_head_kv;
    const float* rt = r.rope + size_t(t) * D;
    for (uint32_t hh = g * group; hh < (g + 1) * group; ++hh) {
        float* qh = r.q + size_t(t) * Q + hh * D;
        for (size_t i = 0; i < D; ++i) qh[i] += r.bq[hh * D + i];
        rotate(qh, rt, s.head_dim);
    }
    float *kh = r.k + size_t(t) * KV + g * D, *vh = r.v + size_t(t) * KV + g * D;
    for (size_t i = 0; i < D; ++i) {
        kh[i] += r.bk[g * D + i];
        vh[i] += r.bv[g * D + i];
    }
    rotate(kh, rt, s.head_dim);
    sq.kv->store_head(r.layer, sq.pos0 + (t - sq.row0), g, kh, vh);
}

void qkv_bias_rope_store(const HeadShape& s, const Sequence* seqs, size_t n_seqs, const QkvRows& r) {
#pragma omp for schedule(static) nowait
    for (long t = 0; t < long(total_rows(seqs, n_seqs)); ++t) {
        const Sequence& sq = sequence_of(seqs, n_seqs, uint32_t(t));
        for (uint32_t g = 0; g < s.n_head_kv; ++g) prepare_head(s, sq, uint32_t(t), g, r);
    }
    team_barrier();
}

// The plain loop: the reference for the SIMD kernel's tests, and the path for head shapes
// the kernel does not take.
static void attend_scalar(const float* qg, uint32_t group, uint32_t D, const KvCache& kv, uint32_t layer,
                          uint32_t g, uint32_t n_keys, float scale, float* scores, float* og) {
    constexpr uint32_t kMaxHeadDim = 256;
    float row[kMaxHeadDim];
    // Scores of every query head of the group against every key, one pass over the keys.
    for (uint32_t p = 0; p < n_keys; ++p) {
        kv.load_k(layer, p, size_t(g) * D, D, row);
        for (uint32_t hh = 0; hh < group; ++hh) {
            const float* qh = qg + hh * D;
            float dot = 0.0f;
            for (uint32_t i = 0; i < D; ++i) dot += qh[i] * row[i];
            scores[size_t(hh) * n_keys + p] = dot * scale;
        }
    }
    for (uint32_t hh = 0; hh < group; ++hh) {
        float* sc = scores + size_t(hh) * n_keys;
        float mx = sc[0];
        for (uint32_t p = 1; p < n_keys; ++p) mx = sc[p] > mx ? sc[p] : mx;
        double sum = 0.0;
        for (uint32_t p = 0; p < n_keys; ++p) {
            sc[p] = std::exp(sc[p] - mx);
            sum += double(sc[p]);
        }
        const float inv = float(1.0 / sum);
        for (uint32_t p = 0; p < n_keys; ++p) sc[p] *= inv;
    }
    std::memset(og, 0, sizeof(float) * group * D);
    for (uint32_t p = 0; p < n_keys; ++p) {
        kv.load_v(layer, p, size_t(g) * D, D, row);
        for (uint32_t hh = 0; hh < group; ++hh) {
            const float w = scores[size_t(hh) * n_keys + p];
            float* oh = og + hh * D;
            for (uint32_t i = 0; i < D; ++i) oh[i] += w * row[i];
        }
    }
}

void attention(const HeadShape& s, const Sequence* seqs, size_t n_seqs, const QkvRows& r, bool prepare,
               float* scores, float* out) {
    const uint32_t layer = r.layer;
    const uint32_t D = s.head_dim, group = s.n_head / s.n_head_kv;
    const size_t Q = size_t(s.n_head) * D;
    const float scale = 1.0f / std::sqrt(float(D));
    const kernels::KernelTable& kt = kernels::kernel_table();
    const bool simd = D % kt.lanes == 0 && D <= 256 && group <= kernels::kMaxAttendGroup;
    const long items = long(total_rows(seqs, n_seqs)) * s.n_head_kv;
    // Items go round-robin: a prompt's later tokens attend to more keys (causal), so equal
    // contiguous shares would leave the first thread idle for most of the step; dealt one by
    // one, every thread gets early and late tokens alike (with 2 KV heads and 2 threads, one
    // head each, exactly equal work).
#pragma omp for schedule(static, 1) nowait
    for (long it = 0; it < items; ++it) {
        const uint32_t t = uint32_t(it / s.n_head_kv), g = uint32_t(it % s.n_head_kv);
        const Sequence& sq = sequence_of(seqs, n_seqs, t);
        const KvCache& kv = *sq.kv;
        if (prepare) prepare_head(s, sq, t, g, r);
        const uint32_t n_keys = sq.pos0 + (t - sq.row0) + 1;  // causal: positions 0 .. the token's
        const float* qg = r.q + size_t(t) * Q + size_t(g) * group * D;
        float* og = out + size_t(t) * Q + size_t(g) * group * D;
        if (simd)
            kt.attend(qg, group, D, kv.k_tiles(layer, g), kv.v_head(layer, g), kv.head_bytes(), n_keys, kv.is_f16(),
                      scale, scores, og);
        else
            attend_scalar(qg, group, D, kv, layer, g, n_keys, scale, scores, og);
    }
    team_barrier();
}

void add_rows(float* x, const float* y, size_t cols, size_t n) {
    const long total = long(cols * n);
#pragma omp for schedule(static) nowait
    for (long i = 0; i < total; ++i) x[i] += y[i];
    team_barrier();
}

void silu_mul(float* gate, const float* up, size_t cols, size_t n) {
    // In pieces of 1024 (whole vectors), shared among the team: even a single token's 4864
    // values are split between threads.
    constexpr size_t kPiece = 1024;
    const size_t total = cols * n;
    const long pieces = long((total + kPiece - 1) / kPiece);
    const auto kernel = kernels::kernel_table().silu_mul;
#pragma omp for schedule(static) nowait
    for (long p = 0; p < pieces; ++p) {
        const size_t i = size_t(p) * kPiece;
        kernel(gate + i, up + i, std::min(kPiece, total - i));
    }
    team_barrier();
}

}  // namespace qwen
