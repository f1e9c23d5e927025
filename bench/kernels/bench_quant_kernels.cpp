// Quantized matmul at Qwen2.5-0.5B's shapes, single-threaded, on the path QWEN_ISA selects:
// the row-interleaved kernels on repacked weights ("packed", kernels/packed.hpp, when the
// CPU has them), the integer-dot kernels on the rows as stored ("int") against decoding
// rows to float and multiplying in float ("decoded": what kernels/matmul did for every
// block format before them). Counters: weight bytes streamed per second (what
// bounds decode, n_tok 1) and multiply-adds (as 2 FLOP) per second (what bounds prefill).
//
//   QWEN_ISA=avx2 build/release/bench/kernels/bench_kernels --benchmark_filter='Q5_0/896x4864'
#include "core/aligned_buffer.hpp"
#include "core/half.hpp"
#include "kernels/dispatch.hpp"
#include "kernels/matmul.hpp"
#include "kernels/packed.hpp"
#include "quant/blocks.hpp"
#include "quant/dequantize.hpp"

#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <vector>

namespace {

using qwen::TensorType;

// Random codes with small finite scales (the speed does not depend on the values, and
// quantizing the 136 M-element LM head for real would take longer than benchmarking it).
struct Weights {
    TensorType type;
    size_t rows, cols;
    std::vector<uint8_t> bytes;
    qwen::Matrix matrix() const { return {type, bytes.data(), rows, cols, *qwen::tensor_row_bytes(type, cols)}; }
};

const Weights& weights(TensorType type, size_t rows, size_t cols) {
    // One matrix at a time: the benchmarks of one (type, shape) run one after the other.
    static std::unique_ptr<Weights> last;
    if (last && last->type == type && last->rows == rows && last->cols == cols) return *last;
    last.reset();
    auto w = std::make_unique<Weights>(Weights{type, rows, cols, {}});
    const auto info = qwen::tensor_type_info(type);
    w->bytes.resize(rows * *qwen::tensor_row_bytes(type, cols));
    std::mt19937_64 gen(1);
    for (auto& b : w->bytes) b = uint8_t(gen());
    std::vector<size_t> scales = {0};
    if (type == TensorType::Q4_K) scales = {offsetof(qwen::quant::BlockQ4_K, d), offsetof(qwen::quant::BlockQ4_K, dmin)};
    if (type == TensorType::Q6_K) scales = {offsetof(qwen::quant::BlockQ6_K, d)};
    if (type == TensorType::Q5_K) scales = {offsetof(qwen::quant::BlockQ5_K, d), offsetof(qwen::quant::BlockQ5_K, dmin)};
    if (type == TensorType::Q2_K) scales = {offsetof(qwen::quant::BlockQ2_K, d), offsetof(qwen::quant::BlockQ2_K, dmin)};
    if (type == TensorType::Q3_K) scales = {offsetof(qwen::quant::BlockQ3_K, d)};
    const uint16_t d = qwen::f32_to_f16(0.01f);
    for (size_t at = 0; at < w->bytes.size(); at += info.block_bytes)
        for (size_t s : scales) std::memcpy(&w->bytes[at + s], &d, 2);
    last = std::move(w);
    return *last;
}

// kernels/matmul's former path for block formats: 16 rows at a time decoded by the
// reference dequantizer into a float tile, then the dense F32 kernel.
void decoded_matmul(const qwen::Matrix& w, const float* x, size_t n_tok, float* y) {
    const auto& k = qwen::kernels::kernel_table();
    static std::vector<float> tile;
    tile.resize(16 * w.cols);
    for (size_t r0 = 0; r0 < w.rows; r0 += 16) {
        const size_t n = std::min<size_t>(16, w.rows - r0);
        for (size_t i = 0; i < n; ++i) qwen::dequantize_row(w, r0 + i, tile.data() + i * w.cols);
        k.dense_rows(TensorType::F32, reinterpret_cast<const uint8_t*>(tile.data()), w.cols * 4, w.cols, 0, n, x,
                     w.cols, n_tok, y + r0, w.rows);
    }
}

enum class Path { packed, integer, decoded };

void run(benchmark::State& state, TensorType type, size_t rows, size_t cols, size_t n_tok, Path path) {
    qwen::Matrix w = weights(type, rows, cols).matrix();
    qwen::AlignedBuffer<uint8_t> packed;
    if (path == Path::packed) {
        if (!qwen::packed_bytes(w)) {
            state.SkipWithError("no packed kernel for this type on this CPU");
            return;
        }
        packed.resize(qwen::packed_bytes(w));
        qwen::pack_matrix(w, packed.data());
    }
    std::vector<float> x(n_tok * cols), y(n_tok * rows);
    std::mt19937 gen(2);
    std::normal_distribution<float> dist;
    for (float& v : x) v = dist(gen);
    for (auto _ : state) {
        if (path != Path::decoded)
            qwen::matmul(w, x.data(), cols, n_tok, y.data(), rows);
        else
            decoded_matmul(w, x.data(), n_tok, y.data());
        benchmark::DoNotOptimize(y.data());
    }
    const double it = double(state.iterations());
    state.counters["GB/s"] = benchmark::Counter(it * double(rows * w.row_bytes) * 1e-9, benchmark::Counter::kIsRate);
    state.counters["GFLOP/s"] =
        benchmark::Counter(it * 2.0 * double(rows * cols * n_tok) * 1e-9, benchmark::Counter::kIsRate);
    state.SetLabel(qwen::kernels::kernel_table().isa);
}

}  // namespace

int main(int argc, char** argv) {
    struct Shape {
        size_t rows, cols;
    };
    // q / o projections, k / v, gate / up, down, and the tied embedding as LM head.
    const Shape shapes[] = {{896, 896}, {128, 896}, {4864, 896}, {896, 4864}, {151936, 896}};
    const TensorType types[] = {TensorType::Q8_0,    TensorType::Q4_0,   TensorType::Q4_1,    TensorType::Q5_0,
                                TensorType::Q5_1,    TensorType::IQ4_NL, TensorType::Q2_K,    TensorType::Q3_K,
                                TensorType::Q4_K,    TensorType::Q5_K,   TensorType::Q6_K,    TensorType::IQ4_XS,
                                TensorType::IQ2_XXS, TensorType::IQ2_XS, TensorType::IQ2_S,   TensorType::IQ3_XXS,
                                TensorType::IQ3_S};
    for (TensorType t : types)
        for (Shape s : shapes) {
            if (s.cols % qwen::tensor_type_info(t).block_elems) continue;  // K-quants: only ffn_down
            for (size_t n_tok : {1, 8, 64})
                for (Path path : {Path::packed, Path::integer, Path::decoded}) {
                    if (path == Path::packed && !qwen::kernels::packable(t, s.rows, s.cols)) continue;
                    const char* suffix = path == Path::packed ? "/packed" : path == Path::integer ? "/int" : "/decoded";
                    const std::string name = std::string(qwen::tensor_type_name(t)) + "/" + std::to_string(s.rows) +
                                             "x" + std::to_string(s.cols) + "/tok:" + std::to_string(n_tok) + suffix;
                    benchmark::RegisterBenchmark(name.c_str(), run, t, s.rows, s.cols, n_tok, path)
                        ->Unit(benchmark::kMillisecond)
                        ->MinTime(0.2);
                }
        }
    benchmark::Initialize(&argc, argv);
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    return 0;
}
