// The attention step (model/ops.hpp) against a double-precision reference computed from the
// same cached keys and values, for cache lengths around the kernel's vector width and value
// block, F16 and F32 caches, and prefill batches (each token sees only the keys up to its
// own position). CTest runs this binary once per dispatch path (QWEN_ISA), so every SIMD
// attention kernel this CPU can run is checked.
#include "kernels/dispatch.hpp"
#include "model/ops.hpp"

#include <doctest/doctest.h>

#include <cmath>
#include <random>
#include <vector>

using namespace qwen;

namespace {

// out[t][h] for every token t of the batch and query head h, in double.
std::vector<double> reference(const HeadShape& s, const Sequence& seq, const std::vector<float>& q,
                              const KvCache& kv, uint32_t layer) {
    const uint32_t D = s.head_dim, group = s.n_head / s.n_head_kv;
    std::vector<double> out(size_t(seq.n) * s.n_head * D, 0.0);
    std::vector<float> k(D), v(D);
    for (uint32_t t = 0; t < seq.n; ++t)
        for (uint32_t h = 0; h < s.n_head; ++h) {
            const uint32_t g = h / group, n_keys = seq.pos0 + t + 1;
            const float* qh = q.data() + (size_t(t) * s.n_head + h) * D;
            std::vector<double> sc(n_keys);
            double mx = -INFINITY, sum = 0.0;
            for (uint32_t p = 0; p < n_keys; ++p) {
                kv.load_k(layer, p, size_t(g) * D, D, k.data());
                double dot = 0.0;
                for (uint32_t i = 0; i < D; ++i) dot += double(qh[i]) * double(k[i]);
                sc[p] = dot / std::sqrt(double(D));
                mx = std::max(mx, sc[p]);
            }
            for (auto& x : sc) sum += (x = std::exp(x - mx));
            double* o = out.data() + (size_t(t) * s.n_head + h) * D;
            for (uint32_t p = 0; p < n_keys; ++p) {
                kv.load_v(layer, p, size_t(g) * D, D, v.data());
                for (uint32_t i = 0; i < D; ++i) o[i] += sc[p] / sum * double(v[i]);
            }
        }
    return out;
}

void check(uint32_t n_cached, uint32_t n_batch, bool f16, uint32_t head_dim) {
    CAPTURE(n_cached);
    CAPTURE(n_batch);
    CAPTURE(f16);
    CAPTURE(head_dim);
    const uint32_t n_head = 14, n_head_kv = 2, layer = 1, n_ctx = n_cached + n_batch;
    KvCache kv(2, n_ctx, n_head_kv, head_dim, f16);
    std::mt19937 rng(n_cached * 31 + n_batch);
    // Keys large enough that the softmax is peaked in places (scores up to ~+-20).
    std::normal_distribution<float> nd(0.0f, 1.0f);
    std::vector<float> k(kv.row_elems()), v(kv.row_elems());
    for (uint32_t p = 0; p < n_ctx; ++p) {
        for (auto& x : k) x = nd(rng) * 0.8f;
        for (auto& x : v) x = nd(rng);
        kv.store(layer, p, k.data(), v.data());
    }
    std::vector<float> q(size_t(n_batch) * n_head * head_dim);
    for (auto& x : q) x = nd(rng) * 0.8f;
    const HeadShape s{n_head, n_head_kv, head_dim};
    const Sequence seq{&kv, 0, n_cached, n_batch};
    std::vector<float> scores(kernels::attend_scores_floats(n_head / n_head_kv, n_ctx)), out(q.size(), NAN);
    const QkvRows rows{q.data(), nullptr, nullptr, nullptr, nullptr, nullptr, nullptr, layer};  // q ready: no prepare
    attention(s, &seq, 1, rows, false, scores.data(), out.data());
    const std::vector<double> want = reference(s, seq, q, kv, layer);
    double worst = 0.0;
    for (size_t i = 0; i < out.size(); ++i) worst = std::max(worst, std::abs(double(out[i]) - want[i]));
    // Outputs are convex combinations of N(0, 1) values: absolute error is the right measure.
    CHECK(worst < 2e-5);
}

}  // namespace

TEST_CASE("attention matches a double-precision reference on every cache length shape") {
    INFO("kernel path: " << kernels::kernel_table().isa);
    for (bool f16 : {true, false})
        for (uint32_t n_cached : {0u, 4u, 15u, 16u, 127u, 128u, 129u, 700u}) check(n_cached, 1, f16, 64);
}

TEST_CASE("attention of a prefill batch is causal per token") {
    for (bool f16 : {true, false}) {
        check(0, 37, f16, 64);
        check(200, 9, f16, 64);
    }
}

TEST_CASE("attention with a head size the SIMD kernel does not take uses the plain loop") {
    check(20, 3, true, 40);  // 40 is not a multiple of 16 floats
    check(20, 3, false, 40);
}
