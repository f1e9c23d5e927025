// Time of one sampling step over Qwen2.5's 151,936-entry vocabulary, per configuration. A
// decode step of the model takes ~25-30 ms on a laptop-class CPU; sampling should stay a
// fraction of a percent of it. Each step samples and accepts, as generation does, after a
// 500-token prompt went into the penalty history.
#include "sample/logprobs.hpp"
#include "sample/rng.hpp"
#include "sample/sampler.hpp"

#include <benchmark/benchmark.h>

#include <cmath>
#include <vector>

namespace {

constexpr uint32_t kVocab = 151936;

// Shaped like a model's logits: a normal body (sd 2.5) and a few dozen candidates 12-20 above
// it, in random places. `flat` divides everything by 3: a high-entropy step.
std::vector<float> logits(uint64_t seed, bool flat = false) {
    qwen::Rng rng(seed);
    std::vector<float> l(kVocab);
    for (float& x : l) {
        const double u1 = 1.0 - rng.uniform(), u2 = rng.uniform();
        x = float(2.5 * std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2));
    }
    for (int j = 0; j < 40; ++j) l[rng.next() % kVocab] = float(12.0 + 8.0 * rng.uniform());
    if (flat)
        for (float& x : l) x /= 3;
    return l;
}

void run(benchmark::State& state, qwen::SamplerConfig c, bool flat = false) {
    // A few different rows, so the branch predictor cannot learn one.
    std::vector<std::vector<float>> rows;
    for (uint64_t s = 0; s < 4; ++s) rows.push_back(logits(100 + s, flat));
    qwen::Sampler sampler(c, kVocab);
    qwen::Rng rng(7);
    std::vector<int32_t> prompt(500);
    for (int32_t& t : prompt) t = int32_t(rng.next() % kVocab);
    sampler.accept(prompt.data(), prompt.size());
    size_t i = 0;
    for (auto _ : state) {
        const auto& row = rows[i++ % rows.size()];
        benchmark::DoNotOptimize(sampler.sample(row.data(), row.size()));
    }
}

qwen::SamplerConfig off() { return qwen::SamplerConfig::neutral(); }

void BM_QwenDefaults(benchmark::State& s) { run(s, qwen::SamplerConfig{}); }  // T .7, k 20, p .8, rep 1.1

void BM_Greedy(benchmark::State& s) {
    qwen::SamplerConfig c = off();
    c.temperature = 0;
    run(s, c);
}

void BM_GreedyRepetitionPenalty(benchmark::State& s) {
    qwen::SamplerConfig c = off();
    c.temperature = 0;
    c.repetition_penalty = 1.1f;
    run(s, c);
}

void BM_TopPOnly(benchmark::State& s) {
    qwen::SamplerConfig c = off();
    c.top_p = 0.9f;
    run(s, c, s.range(0) != 0);
}

void BM_MinPOnly(benchmark::State& s) {
    qwen::SamplerConfig c = off();
    c.min_p = 0.05f;
    run(s, c, s.range(0) != 0);
}

void BM_TemperatureOnly(benchmark::State& s) {  // the whole vocabulary stays: a dense draw
    qwen::SamplerConfig c = off();
    c.temperature = 0.8f;
    run(s, c);
}

void BM_AllStages(benchmark::State& s) {
    qwen::SamplerConfig c;
    c.temperature = 0.8f;
    c.top_k = 40;
    c.top_p = 0.95f;
    c.min_p = 0.05f;
    c.typical_p = 0.95f;
    c.repetition_penalty = 1.1f;
    c.frequency_penalty = 0.1f;
    c.presence_penalty = 0.1f;
    c.logit_bias = {{151643, -INFINITY}, {13, 2.0f}, {220, -1.0f}};
    run(s, c);
}

void BM_Logprobs(benchmark::State& state) {  // chosen token + top 20, as qwen_generate reports them
    const auto row = logits(100);
    qwen_token_logprob top[QWEN_MAX_TOP_LOGPROBS];
    float lp;
    for (auto _ : state) {
        qwen::logprobs(row.data(), row.size(), 42, &lp, top, QWEN_MAX_TOP_LOGPROBS);
        benchmark::DoNotOptimize(lp);
    }
}

}  // namespace

BENCHMARK(BM_QwenDefaults)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_Greedy)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_GreedyRepetitionPenalty)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_TopPOnly)->ArgName("flat")->Arg(0)->Arg(1)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_MinPOnly)->ArgName("flat")->Arg(0)->Arg(1)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_TemperatureOnly)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_AllStages)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_Logprobs)->Unit(benchmark::kMicrosecond);

BENCHMARK_MAIN();
