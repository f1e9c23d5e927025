// Shared by the sampler tests: configs with every stage off, logits from probabilities,
// realistic random logits, and an error matcher.
#pragma once

#include "core/error.hpp"
#include "sample/rng.hpp"
#include "sample/sampler.hpp"

#include <doctest/doctest.h>

#include <cmath>
#include <string>
#include <utility>
#include <vector>

namespace sampletest {

using Dist = std::vector<std::pair<int32_t, float>>;

inline qwen::SamplerConfig neutral() { return qwen::SamplerConfig::neutral(); }

// Logits whose softmax is `probs` (log p plus a shift, which softmax ignores).
inline std::vector<float> logits_of(const std::vector<double>& probs, double shift = 2.5) {
    std::vector<float> l;
    for (double p : probs) l.push_back(p > 0 ? float(std::log(p) + shift) : -INFINITY);
    return l;
}

// Logits shaped like a language model's: a broad normal body (sd 2.5) and a few tokens far
// above it, in random positions. Box-Muller over the library's own generator.
inline std::vector<float> realistic_logits(size_t n, uint64_t seed) {
    qwen::Rng rng(seed);
    std::vector<float> l(n);
    for (size_t i = 0; i < n; ++i) {
        const double u1 = 1.0 - rng.uniform(), u2 = rng.uniform();
        l[i] = float(2.5 * std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2));
    }
    for (int j = 0; j < 24; ++j) l[rng.next() % n] = float(9.0 + 5.0 * rng.uniform());
    return l;
}

// The expected distribution, most likely first, to 2e-6 per probability.
inline void check_dist(const Dist& got, const std::vector<std::pair<int32_t, double>>& want) {
    REQUIRE(got.size() == want.size());
    for (size_t i = 0; i < want.size(); ++i) {
        INFO("rank ", i);
        CHECK(got[i].first == want[i].first);
        CHECK(std::fabs(double(got[i].second) - want[i].second) < 2e-6);
    }
}

// Runs f, which must throw a qwen::Error with `status` and every fragment in its message.
template <class F>
void expect_error(F f, qwen_status status, const std::vector<std::string>& fragments) {
    try {
        f();
        FAIL("no error thrown");
    } catch (const qwen::Error& e) {
        CHECK(e.status() == status);
        const std::string msg = e.what();
        for (const auto& frag : fragments) {
            INFO("message: ", msg);
            CHECK(msg.find(frag) != std::string::npos);
        }
    }
}

}  // namespace sampletest
