// Each stage on an 8-token vocabulary against distributions worked out by hand.
//
// The base distribution P (by id):   0: .05  1: .30  2: .10  3: .40  4: .02  5: .08  6: .03  7: .02
// most likely first:                 3 (.40), 1 (.30), 2 (.10), 5 (.08), 0 (.05), 6 (.03), 4, 7 (.02)
#include "sample_test_util.hpp"

#include <algorithm>

using namespace sampletest;
using qwen::Sampler;
using qwen::SamplerConfig;

namespace {

const std::vector<double> P = {0.05, 0.30, 0.10, 0.40, 0.02, 0.08, 0.03, 0.02};

Dist dist(const SamplerConfig& c, const std::vector<float>& logits, const std::vector<int32_t>& history = {}) {
    Sampler s(c, uint32_t(logits.size()));
    s.accept(history.data(), history.size());
    return s.distribution(logits.data(), logits.size());
}

// Softmax in double of logits written out by hand in a test.
std::vector<std::pair<int32_t, double>> softmax_sorted(const std::vector<double>& l) {
    double z = 0;
    for (double x : l) z += std::exp(x);
    std::vector<std::pair<int32_t, double>> out;
    for (size_t i = 0; i < l.size(); ++i) out.emplace_back(int32_t(i), std::exp(l[i]) / z);
    std::stable_sort(out.begin(), out.end(), [](auto& a, auto& b) { return a.second > b.second; });
    return out;
}

}  // namespace

TEST_CASE("every stage off: the softmax of the logits") {
    check_dist(dist(neutral(), logits_of(P)),
               {{3, .40}, {1, .30}, {2, .10}, {5, .08}, {0, .05}, {6, .03}, {4, .02}, {7, .02}});
}

TEST_CASE("top-k keeps the k largest; on a tie the lower id") {
    SamplerConfig c = neutral();
    c.top_k = 3;
    check_dist(dist(c, logits_of(P)), {{3, .40 / .80}, {1, .30 / .80}, {2, .10 / .80}});
    // 4 and 7 tie at .02: k = 7 keeps 4 and drops 7.
    c.top_k = 7;
    check_dist(dist(c, logits_of(P)),
               {{3, .40 / .98}, {1, .30 / .98}, {2, .10 / .98}, {5, .08 / .98}, {0, .05 / .98}, {6, .03 / .98}, {4, .02 / .98}});
    c.top_k = 8;  // all of them: nothing to cut
    CHECK(dist(c, logits_of(P)).size() == 8);
}

TEST_CASE("top-p keeps the smallest most-likely set reaching p") {
    SamplerConfig c = neutral();
    c.top_p = 0.75f;  // .40, .70, .80 >= .75: three tokens
    check_dist(dist(c, logits_of(P)), {{3, .40 / .80}, {1, .30 / .80}, {2, .10 / .80}});
    c.top_p = 0.69f;  // .40, .70 >= .69: two
    check_dist(dist(c, logits_of(P)), {{3, .40 / .70}, {1, .30 / .70}});
    c.top_p = 0.1f;  // the first token alone already reaches it; never fewer than one
    check_dist(dist(c, logits_of(P)), {{3, 1.0}});
    c.top_p = 0.99f;  // .98 after 4 of the tied pair: 7 is still needed
    CHECK(dist(c, logits_of(P)).size() == 8);
}

TEST_CASE("min-p keeps tokens at least min_p times as likely as the most likely") {
    SamplerConfig c = neutral();
    c.min_p = 0.21f;  // threshold .084: 3, 1, 2
    check_dist(dist(c, logits_of(P)), {{3, .40 / .80}, {1, .30 / .80}, {2, .10 / .80}});
    c.min_p = 0.19f;  // threshold .076: and 5 (.08)
    check_dist(dist(c, logits_of(P)), {{3, .40 / .88}, {1, .30 / .88}, {2, .10 / .88}, {5, .08 / .88}});
    c.min_p = 1.0f;  // only the most likely
    check_dist(dist(c, logits_of(P)), {{3, 1.0}});
}

TEST_CASE("temperature: p^(1/T), renormalised") {
    SamplerConfig c = neutral();
    c.temperature = 0.5f;  // squares: .0025 .09 .01 .16 .0004 .0064 .0009 .0004, sum .2706
    check_dist(dist(c, logits_of(P)), {{3, .16 / .2706},
                                       {1, .09 / .2706},
                                       {2, .01 / .2706},
                                       {5, .0064 / .2706},
                                       {0, .0025 / .2706},
                                       {6, .0009 / .2706},
                                       {4, .0004 / .2706},
                                       {7, .0004 / .2706}});
}

TEST_CASE("typical-p: tokens closest to the entropy, until the mass is reached, ties included") {
    // H = 1.57149 nats. |-log p - H| by id: 0: 1.4242  1: .3675  2: .7311  3: .6552
    // 4: 2.3405  5: .9542  6: 1.9351  7: 2.3405. Closest first: 1, 3, 2, 5, 0, 6, 4, 7 with
    // cumulative mass .30 .70 .80 .88 .93 .96 .98 1.
    SamplerConfig c = neutral();
    c.typical_p = 0.5f;  // reached at 3: keeps {1, 3}
    check_dist(dist(c, logits_of(P)), {{3, .40 / .70}, {1, .30 / .70}});
    c.typical_p = 0.25f;  // reached at 1 alone: the most likely token (3) is not typical
    check_dist(dist(c, logits_of(P)), {{1, 1.0}});
    c.typical_p = 0.95f;  // reached at 6
    check_dist(dist(c, logits_of(P)),
               {{3, .40 / .96}, {1, .30 / .96}, {2, .10 / .96}, {5, .08 / .96}, {0, .05 / .96}, {6, .03 / .96}});
    c.typical_p = 0.97f;  // reached at 4, and 7 is exactly as far from H: both kept
    CHECK(dist(c, logits_of(P)).size() == 8);
}

TEST_CASE("the order of the stages matters: temperature before or after top-p") {
    SamplerConfig c = neutral();
    c.temperature = 0.5f;
    c.top_p = 0.75f;
    // Default order, temperature first: .16/.2706 = .591, then .09/.2706 -> .924 >= .75.
    check_dist(dist(c, logits_of(P)), {{3, .16 / .25}, {1, .09 / .25}});
    // Top-p first keeps 3, 1, 2 of P; the temperature then squares them: .16 .09 .01.
    c.order = {QWEN_STAGE_TOP_P, QWEN_STAGE_TEMPERATURE};
    check_dist(dist(c, logits_of(P)), {{3, .16 / .26}, {1, .09 / .26}, {2, .01 / .26}});
}

TEST_CASE("repetition penalty: l / r above zero, l * r below, once per distinct token") {
    const std::vector<float> l = {2, 1, 0, -1, 0.5f, -3};
    SamplerConfig c = neutral();
    c.repetition_penalty = 2.0f;
    // Token 0 (2 -> 1) and token 3 (-1 -> -2, counted twice but penalised once); 2 is 0.
    check_dist(dist(c, l, {3, 0, 3, 2}), softmax_sorted({1, 1, 0, -2, 0.5, -3}));
}

TEST_CASE("frequency and presence penalties: l -= count * f + p") {
    const std::vector<float> l = {2, 1, 0, -1, 0.5f, -3};
    SamplerConfig c = neutral();
    c.frequency_penalty = 0.5f;
    c.presence_penalty = 0.25f;
    // 3 seen twice: -1 - (1 + .25); 0 once: 2 - (.5 + .25).
    check_dist(dist(c, l, {3, 0, 3}), softmax_sorted({1.25, 1, 0, -2.25, 0.5, -3}));
    // After the repetition penalty: 0: 2 / 2 - .75; 3: -1 * 2 - 1.25.
    c.repetition_penalty = 2.0f;
    check_dist(dist(c, l, {3, 0, 3}), softmax_sorted({0.25, 1, 0, -3.25, 0.5, -3}));
}

TEST_CASE("penalty window: only the last penalty_last_n tokens, evicted as new ones come") {
    const std::vector<float> l = {2, 1, 0, -1, 0.5f, -3};
    SamplerConfig c = neutral();
    c.frequency_penalty = 1.0f;
    c.penalty_last_n = 3;
    Sampler s(c, 6);
    const std::vector<int32_t> h = {0, 0, 1, 1, 4};  // the window is now 1, 1, 4
    s.accept(h.data(), h.size());
    check_dist(s.distribution(l.data(), l.size()), softmax_sorted({2, -1, 0, -1, -0.5, -3}));
    const int32_t more[] = {2, 2};  // now 4, 2, 2: token 1 left the window
    s.accept(more, 2);
    check_dist(s.distribution(l.data(), l.size()), softmax_sorted({2, 1, -2, -1, -0.5, -3}));
    c.penalty_last_n = 0;  // sees nothing
    Sampler none(c, 6);
    none.accept(h.data(), h.size());
    check_dist(none.distribution(l.data(), l.size()), softmax_sorted({2, 1, 0, -1, 0.5, -3}));
}

TEST_CASE("logit bias: added, -inf bans, a token given twice adds up") {
    SamplerConfig c = neutral();
    c.logit_bias = {{3, -INFINITY}, {6, float(std::log(2.0))}, {6, float(std::log(2.5))}};
    // 3 is gone; 6 becomes .03 * 5 = .15. Sum .05 + .30 + .10 + .02 + .08 + .15 + .02 = .72.
    check_dist(dist(c, logits_of(P)),
               {{1, .30 / .72}, {6, .15 / .72}, {2, .10 / .72}, {5, .08 / .72}, {0, .05 / .72}, {4, .02 / .72}, {7, .02 / .72}});
    c.temperature = 0;  // greedy sees the bias too
    Sampler g(c, 8);
    const auto l = logits_of(P);
    CHECK(g.sample(l.data(), l.size()) == 1);
}

TEST_CASE("greedy: argmax after penalties and bias, the lower id on ties, no random draw") {
    SamplerConfig c = neutral();
    c.temperature = 0;
    const std::vector<float> l = {1, 3, 3, 2};
    Sampler s(c, 4);
    CHECK(s.sample(l.data(), 4) == 1);
    CHECK(s.distribution(l.data(), 4) == Dist{{1, 1.0f}});
    c.repetition_penalty = 2.0f;  // 1 was seen: 3 / 2 = 1.5 < 3
    Sampler p(c, 4);
    const int32_t seen = 1;
    p.accept(&seen, 1);
    CHECK(p.sample(l.data(), 4) == 2);
    // Top-k and friends do not change an argmax and are skipped; typical-p could, and is too.
    c.repetition_penalty = 1.0f;
    c.typical_p = 0.1f;
    c.top_k = 1;
    Sampler t(c, 4);
    CHECK(t.sample(l.data(), 4) == 1);
}

TEST_CASE("all tokens banned, NaN logits, wrong sizes") {
    SamplerConfig c = neutral();
    std::vector<float> l = logits_of(P);
    for (int i = 0; i < 8; ++i) c.logit_bias.push_back({i, -INFINITY});
    for (float t : {1.0f, 0.0f}) {
        c.temperature = t;
        Sampler s(c, 8);
        expect_error([&] { s.sample(l.data(), 8); }, QWEN_ERR_INVALID_ARGUMENT, {"every token is banned"});
        c.top_k = 3;  // also when a truncating stage meets them first
        Sampler k(c, 8);
        expect_error([&] { k.sample(l.data(), 8); }, QWEN_ERR_INVALID_ARGUMENT, {"every token is banned"});
        c.top_k = 0;
    }
    Sampler s(neutral(), 8);
    l[5] = NAN;
    expect_error([&] { s.sample(l.data(), 8); }, QWEN_ERR_INVALID_ARGUMENT, {"logits[5] is NaN"});
    l[5] = 0;
    l[7] = INFINITY;
    expect_error([&] { s.sample(l.data(), 8); }, QWEN_ERR_INVALID_ARGUMENT, {"logits[7] is +infinity"});
    l[7] = 0;
    expect_error([&] { s.sample(l.data(), 7); }, QWEN_ERR_INVALID_ARGUMENT, {"n_logits = 7", "8 tokens"});
    const int32_t bad[] = {1, 8};
    expect_error([&] { s.accept(bad, 2); }, QWEN_ERR_INVALID_ARGUMENT, {"tokens[1] = 8"});
}

TEST_CASE("config validation names the field") {
    auto bad = [](auto edit, std::vector<std::string> fragments) {
        SamplerConfig c;
        edit(c);
        expect_error([&] { Sampler s(c, 8); }, QWEN_ERR_INVALID_ARGUMENT, fragments);
    };
    bad([](SamplerConfig& c) { c.temperature = NAN; }, {"temperature"});
    bad([](SamplerConfig& c) { c.top_k = -1; }, {"top_k = -1"});
    bad([](SamplerConfig& c) { c.top_p = 0; }, {"top_p = 0"});
    bad([](SamplerConfig& c) { c.top_p = 1.5f; }, {"top_p = 1.5"});
    bad([](SamplerConfig& c) { c.min_p = -0.1f; }, {"min_p"});
    bad([](SamplerConfig& c) { c.min_p = NAN; }, {"min_p"});
    bad([](SamplerConfig& c) { c.typical_p = 0; }, {"typical_p"});
    bad([](SamplerConfig& c) { c.repetition_penalty = 0; }, {"repetition_penalty"});
    bad([](SamplerConfig& c) { c.frequency_penalty = INFINITY; }, {"frequency_penalty"});
    bad([](SamplerConfig& c) { c.presence_penalty = NAN; }, {"presence_penalty"});
    bad([](SamplerConfig& c) { c.penalty_last_n = -2; }, {"penalty_last_n = -2"});
    bad([](SamplerConfig& c) { c.logit_bias = {{1, 0}, {8, 1}}; }, {"logit_bias[1].token = 8"});
    bad([](SamplerConfig& c) { c.logit_bias = {{1, NAN}}; }, {"logit_bias[0].bias"});
    bad([](SamplerConfig& c) { c.logit_bias = {{1, INFINITY}}; }, {"logit_bias[0].bias"});
    bad([](SamplerConfig& c) { c.order = {QWEN_STAGE_TOP_K, QWEN_STAGE_TOP_P, QWEN_STAGE_TOP_K}; },
        {"order[2]", "top_k"});
    bad([](SamplerConfig& c) { c.order.assign(17, QWEN_STAGE_TOP_K); }, {"17 stages"});
}
