// The exponential every probability comes from, and qwen::logprobs against double math.
#include "sample/exp.hpp"
#include "sample/logprobs.hpp"
#include "sample_test_util.hpp"

#include <algorithm>

using namespace sampletest;

TEST_CASE("exp_nonpositive: within 2e-7 of exp over its whole range, 0 below e^-87") {
    double worst = 0;
    for (double y = 0; y > -87.0; y -= 0.00037) {
        const float x = float(y);
        const double want = std::exp(double(x));
        worst = std::max(worst, std::fabs(double(qwen::exp_nonpositive(x)) - want) / want);
    }
    CHECK(worst < 2e-7);
    CHECK(qwen::exp_nonpositive(0.0f) == 1.0f);
    CHECK(qwen::exp_nonpositive(-87.5f) == 0.0f);
    CHECK(qwen::exp_nonpositive(-INFINITY) == 0.0f);
    CHECK(qwen::exp_nonpositive(-1e30f) == 0.0f);
}

TEST_CASE("logprobs: log-softmax of the raw logits and the top n, ties by id") {
    const auto l = realistic_logits(151936, 9);
    double m = -INFINITY, z = 0;
    for (float x : l) m = std::max(m, double(x));
    for (float x : l) z += std::exp(double(x) - m);
    auto want = [&](size_t i) { return double(l[i]) - m - std::log(z); };

    float lp = 0;
    qwen_token_logprob top[QWEN_MAX_TOP_LOGPROBS];
    qwen::logprobs(l.data(), l.size(), 1234, &lp, top, QWEN_MAX_TOP_LOGPROBS);
    CHECK(std::fabs(double(lp) - want(1234)) < 1e-5);
    std::vector<size_t> idx(l.size());
    for (size_t i = 0; i < idx.size(); ++i) idx[i] = i;
    std::stable_sort(idx.begin(), idx.end(), [&](size_t a, size_t b) { return l[a] > l[b]; });
    for (size_t j = 0; j < QWEN_MAX_TOP_LOGPROBS; ++j) {
        CHECK(top[j].token == int32_t(idx[j]));
        CHECK(std::fabs(double(top[j].logprob) - want(idx[j])) < 1e-5);
    }

    const std::vector<float> tied = {0, 2, -INFINITY, 2, 1};
    qwen::logprobs(tied.data(), tied.size(), 2, &lp, top, 3);
    CHECK(lp == -INFINITY);
    CHECK(top[0].token == 1);
    CHECK(top[1].token == 3);
    CHECK(top[2].token == 4);
    CHECK(top[0].logprob == top[1].logprob);
    const double lz = std::log(2 * std::exp(2.0) + std::exp(1.0) + 1);
    CHECK(std::fabs(double(top[0].logprob) - (2 - lz)) < 1e-6);
    qwen::logprobs(tied.data(), tied.size(), -1, nullptr, nullptr, 0);  // nothing asked, token unused
}

TEST_CASE("logprobs: errors") {
    std::vector<float> l = {0, 1, 2};
    float lp;
    qwen_token_logprob top[QWEN_MAX_TOP_LOGPROBS + 1];
    auto bad = [&](auto f, std::vector<std::string> fragments) { expect_error(f, QWEN_ERR_INVALID_ARGUMENT, fragments); };
    bad([&] { qwen::logprobs(l.data(), 3, 3, &lp, nullptr, 0); }, {"token = 3"});
    bad([&] { qwen::logprobs(l.data(), 3, 0, &lp, top, 4); }, {"n_top = 4", "3 logits"});
    bad([&] { qwen::logprobs(l.data(), 3, 0, &lp, top, QWEN_MAX_TOP_LOGPROBS + 1); }, {"QWEN_MAX_TOP_LOGPROBS"});
    l[1] = NAN;
    bad([&] { qwen::logprobs(l.data(), 3, 0, &lp, top, 1); }, {"logits[1] is NaN"});
    l = {-INFINITY, -INFINITY};
    bad([&] { qwen::logprobs(l.data(), 2, 0, &lp, top, 1); }, {"every logit is -infinity"});
}
