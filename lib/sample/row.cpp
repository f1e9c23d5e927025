#include "sample/row.hpp"

#include "core/error.hpp"
#include "sample/exp.hpp"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>

namespace qwen {

// Each pass is compiled for AVX-512, AVX2 and the baseline, picked at load time (ifunc). The
// results are the same bits on every path: the lanes compute the same IEEE operations (no FMA:
// -ffp-contract=off), and the additions happen in the same order.
#if defined(__x86_64__) && defined(__ELF__) && !defined(__SANITIZE_ADDRESS__)
#define QWEN_ROW_CLONES __attribute__((target_clones("default", "avx2", "avx512f")))
#else
#define QWEN_ROW_CLONES
#endif

namespace {
constexpr float kInf = std::numeric_limits<float>::infinity();
constexpr size_t kChunk = 256;  // floats per inner loop: long enough to vectorize, short enough for L1
}  // namespace

QWEN_ROW_CLONES void check_logits(const float* x, size_t n) {
    // NaN and +inf both fail `x < inf`; the index is looked for only once a chunk failed.
    for (size_t i = 0; i < n; i += kChunk) {
        const size_t end = std::min(n, i + kChunk);
        uint32_t bad = 0;
        for (size_t j = i; j < end; ++j) bad |= uint32_t(!(x[j] < kInf));
        if (!bad) continue;
        for (size_t j = i; j < end; ++j)
            if (!(x[j] < kInf)) fail(QWEN_ERR_INVALID_ARGUMENT, "logits[", j, "] is ", std::isnan(x[j]) ? "NaN" : "+infinity");
    }
}

QWEN_ROW_CLONES float max_value(const float* x, size_t n) {
    // One running maximum per lane is elementwise, so it vectorizes (a plain reduction would
    // not without -ffast-math). 32 lanes: GCC 12 vectorizes that loop, not the 16-lane one.
    constexpr size_t kLanes = 32;
    float lane[kLanes];
    std::fill(lane, lane + kLanes, -kInf);
    size_t i = 0;
    for (; i + kLanes <= n; i += kLanes)
        for (size_t j = 0; j < kLanes; ++j) lane[j] = x[i + j] > lane[j] ? x[i + j] : lane[j];
    float m = -kInf;
    for (; i < n; ++i) m = std::max(m, x[i]);
    for (float v : lane) m = std::max(m, v);
    return m;
}

QWEN_ROW_CLONES double sum_exp(const float* x, size_t n, float s, float ymax) {
    // The exponentials of a chunk in one vectorized loop, then added into 8 double lanes:
    // fixed order, so the same sum on every machine.
    constexpr size_t kLanes = 8;
    double acc[kLanes] = {};
    float e[kChunk];
    for (size_t i = 0; i < n; i += kChunk) {
        const size_t len = std::min(kChunk, n - i);
        for (size_t j = 0; j < len; ++j) e[j] = exp_nonpositive(x[i + j] * s - ymax);
        std::fill(e + len, e + (len + kLanes - 1) / kLanes * kLanes, 0.0f);
        for (size_t j = 0; j < len; j += kLanes)
            for (size_t k = 0; k < kLanes; ++k) acc[k] += double(e[j + k]);
    }
    double z = 0;
    for (double a : acc) z += a;
    return z;
}

QWEN_ROW_CLONES double mass_at_least(const float* key, const float* w, size_t n, float t) {
    constexpr size_t kLanes = 8;
    double acc[kLanes] = {};
    size_t i = 0;
    for (; i + kLanes <= n; i += kLanes)
        for (size_t k = 0; k < kLanes; ++k)  // the weight's bits masked: no branch, no select
            acc[k] += double(std::bit_cast<float>(std::bit_cast<uint32_t>(w[i + k]) & (0u - uint32_t(key[i + k] >= t))));
    for (; i < n; ++i)
        if (key[i] >= t) acc[0] += double(w[i]);
    double z = 0;
    for (double a : acc) z += a;
    return z;
}

QWEN_ROW_CLONES void exp_moments(const float* x, size_t n, float s, float ymax, double& z, double& zy) {
    z = zy = 0;
    float y[kChunk], e[kChunk];
    for (size_t i = 0; i < n; i += kChunk) {
        const size_t len = std::min(kChunk, n - i);
        for (size_t j = 0; j < len; ++j) y[j] = x[i + j] * s - ymax;
        for (size_t j = 0; j < len; ++j) e[j] = exp_nonpositive(y[j]);
        for (size_t j = 0; j < len; ++j) {
            z += double(e[j]);
            if (e[j] > 0) zy += double(e[j]) * double(y[j]);  // -inf * 0 would be NaN
        }
    }
}

}  // namespace qwen
