// One KV head's attention at Qwen2.5-0.5B's shape (head_dim 64, 7 query heads per KV head,
// 2 KV heads, an F16 cache laid out as kv/kv_cache.hpp's), single-threaded, on the path QWEN_ISA selects: what one
// thread does per layer and KV head in a decode step at `keys` cached tokens. Counters: the
// head's cache bytes (keys and values) read per second, and multiply-adds (as 2 FLOP) per
// second (2 x 7 x 64 per key: scores and the weighted sum of values).
// "layers:1" attends to one cache again and again (from the CPU's caches up to 16,384 keys:
// the kernel's arithmetic); "layers:24" to the 24 layers' caches in turn, as a decode step
// does, so that the keys and values come from memory.
//
//   build/release/bench/kernels/bench_attention --benchmark_filter='keys:16384'
#include "core/half.hpp"
#include "core/page_buffer.hpp"
#include "kernels/dispatch.hpp"

#include <benchmark/benchmark.h>

#include <cmath>
#include <random>
#include <string>
#include <vector>

namespace {

constexpr uint32_t kHeadDim = 64, kGroup = 7, kKvHeads = 2;

void run(benchmark::State& state, uint32_t keys, uint32_t layers) {
    const auto& kt = qwen::kernels::kernel_table();
    const size_t row_elems = size_t(kKvHeads) * kHeadDim, layer_elems = keys * row_elems;
    // In whole pages with huge pages asked for, as the KV cache is; per layer, head 0's key
    // tiles and value rows come first (the values are random: their order does not matter).
    qwen::PageBuffer kbuf(layers * layer_elems * 2), vbuf(layers * layer_elems * 2);
    auto* k = reinterpret_cast<uint16_t*>(kbuf.data());
    auto* v = reinterpret_cast<uint16_t*>(vbuf.data());
    std::vector<float> q(kGroup * kHeadDim), scores(size_t(kGroup) * keys), out(kGroup * kHeadDim);
    std::mt19937 gen(3);
    std::normal_distribution<float> dist;
    for (size_t i = 0; i < layers * layer_elems; ++i) k[i] = qwen::f32_to_f16(dist(gen)), v[i] = qwen::f32_to_f16(dist(gen));
    for (auto& x : q) x = dist(gen);
    const float scale = 1.0f / std::sqrt(float(kHeadDim));
    for (auto _ : state)
        for (uint32_t l = 0; l < layers; ++l) {
            kt.attend(q.data(), kGroup, kHeadDim, reinterpret_cast<const uint8_t*>(k + l * layer_elems),
                      reinterpret_cast<const uint8_t*>(v + l * layer_elems), kHeadDim * 2, keys, true, scale,
                      scores.data(), out.data());
            benchmark::DoNotOptimize(out.data());
        }
    const double it = double(state.iterations()) * layers;
    state.counters["GB/s"] = benchmark::Counter(it * 2.0 * keys * kHeadDim * 2 * 1e-9, benchmark::Counter::kIsRate);
    state.counters["GFLOP/s"] =
        benchmark::Counter(it * 2.0 * 2 * kGroup * kHeadDim * double(keys) * 1e-9, benchmark::Counter::kIsRate);
    state.SetLabel(kt.isa);
}

}  // namespace

int main(int argc, char** argv) {
    for (uint32_t layers : {1u, 24u})
        for (uint32_t keys : {512u, 4096u, 16384u}) {
            const std::string name = "attend/f16/keys:" + std::to_string(keys) + "/layers:" + std::to_string(layers);
            benchmark::RegisterBenchmark(name.c_str(), run, keys, layers)->Unit(benchmark::kMicrosecond)->MinTime(0.2);
        }
    benchmark::Initialize(&argc, argv);
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    return 0;
}
