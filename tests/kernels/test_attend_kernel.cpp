// The attention kernel of the path QWEN_ISA selects (kernels/attention_impl.hpp), called
// directly: one KV head's query group over a cache slice, against a double-precision
// softmax of the same (widened) keys and values. Cache lengths fall around the vector width,
// the 16-key tile and the 32-row value block; the slice is the second KV head, so the value
// rows' stride and the heads' offsets are both exercised. tests/model/test_attention.cpp covers the same
// kernel through the model's attention step.

#include "core/half.hpp"
#include "kernels/dispatch.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

using namespace qwen;

namespace {

void check(uint32_t group, uint32_t D, uint32_t n, bool f16) {
    CAPTURE(group);
    CAPTURE(D);
    CAPTURE(n);
    CAPTURE(f16);
    const size_t elem = f16 ? 2 : 4, row_elems = 2 * size_t(D), row_bytes = row_elems * elem;
    std::mt19937 rng(group * 1000 + D + n * 7 + f16);
    std::normal_distribution<float> nd(0.0f, 1.0f);
    // Keys large enough that the softmax is peaked in places (scores up to ~+-20).
    std::vector<float> kf(n * row_elems), vf(n * row_elems), q(size_t(group) * D);
    for (auto& x : kf) x = nd(rng) * 0.8f;
    for (auto& x : vf) x = nd(rng);
    for (auto& x : q) x = nd(rng) * 0.8f;
    // Values in rows (both heads of a position side by side); keys in the cache's tiles
    // (kv/kv_cache.hpp: per head, kTile positions dimension-major), positions past n in the
    // last tile NaN: the kernel must keep them out of every result.
    constexpr uint32_t kTile = kernels::kKeyTile;
    const uint32_t tiles = (n + kTile - 1) / kTile;
    const size_t head_tiles = size_t(tiles) * kTile * D;  // elements of one head's tiles
    std::vector<uint8_t> k(2 * head_tiles * elem), v(n * row_bytes);
    for (size_t i = 0; i < 2 * head_tiles; ++i) {
        const float nan = NAN;
        const uint16_t hnan = 0x7E00;
        if (f16)
            std::memcpy(&k[2 * i], &hnan, 2);
        else
            std::memcpy(&k[4 * i], &nan, 4);
    }
    for (size_t i = 0; i < n * row_elems; ++i) {
        const size_t p = i / row_elems, e = i % row_elems, hh = e / D, d = e % D;
        const size_t at = hh * head_tiles + (p / kTile) * kTile * D + d * kTile + p % kTile;
        if (f16) {
            const uint16_t hk = f32_to_f16(kf[i]), hv = f32_to_f16(vf[i]);
            kf[i] = f16_to_f32(hk), vf[i] = f16_to_f32(hv);  // the reference sees the stored values
            std::memcpy(&k[2 * at], &hk, 2);
            std::memcpy(&v[2 * i], &hv, 2);
        } else {
            std::memcpy(&k[4 * at], &kf[i], 4);
            std::memcpy(&v[4 * i], &vf[i], 4);
        }
    }
    const float scale = 1.0f / std::sqrt(float(D));
    std::vector<float> scores(kernels::attend_scores_floats(group, n)), out(size_t(group) * D, NAN);
    kernels::kernel_table().attend(q.data(), group, D, k.data() + head_tiles * elem, v.data() + D * elem, row_bytes,
                                   n, f16, scale, scores.data(), out.data());
    double worst = 0.0;
    for (uint32_t h = 0; h < group; ++h) {
        std::vector<double> s(n);
        double mx = -INFINITY, sum = 0.0;
        for (uint32_t p = 0; p < n; ++p) {
            double dot = 0.0;
            for (uint32_t i = 0; i < D; ++i) dot += double(q[size_t(h) * D + i]) * double(kf[p * row_elems + D + i]);
            s[p] = dot * double(scale);
            mx = std::max(mx, s[p]);
        }
        for (auto& x : s) sum += (x = std::exp(x - mx));
        for (uint32_t i = 0; i < D; ++i) {
            double o = 0.0;
            for (uint32_t p = 0; p < n; ++p) o += s[p] / sum * double(vf[p * row_elems + D + i]);
            const double err = std::fabs(double(out[size_t(h) * D + i]) - o);
            if (!(err <= worst)) worst = err;  // a NaN sticks
        }
    }
    // Outputs are convex combinations of N(0, 1) values: absolute error is the right measure.
    CHECK(worst < 2e-5);
}

}  // namespace

TEST_CASE("the attention kernel matches a double-precision softmax on every cache length shape") {
    MESSAGE("kernel path: " << std::string(kernels::kernel_table().isa));
    for (bool f16 : {false, true})
        for (uint32_t n : {1u, 3u, 4u, 5u, 15u, 16u, 17u, 31u, 32u, 33u, 100u}) {
            check(7, 64, n, f16);  // Qwen2.5-0.5B: 7 query heads per KV head, head_dim 64
            check(16, 128, n, f16);
        }
    check(1, 256, 40, true);  // the largest head the kernel takes
    for (uint32_t g = 1; g <= kernels::kMaxAttendGroup; ++g) check(g, 64, 37, g % 2);  // every group size the kernel takes
    check(7, 64, 1000, true);                                    // many tiles
}
