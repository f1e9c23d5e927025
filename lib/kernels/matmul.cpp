#include "kernels/matmul.hpp"

#include "core/aligned_buffer.hpp"
#include "kernels/dispatch.hpp"
#include "quant/blocks.hpp"
#include "quant/dequantize.hpp"

namespace qwen {

namespace {

// Rows go to threads in chunks of 16: a multiple of the 4-row tile, small enough that even
// the 896-row projections split evenly over many threads.
constexpr size_t kChunk = 16;

// The correct-but-slow path for every weight type the SIMD dense kernels do not take (block
// formats, and dense rows that are not a whole number of vectors): rows [r0, r1) are decoded
// by the reference dequantizer into a per-thread float tile, which the dense F32 kernel (or
// a plain loop) multiplies with the activations. The decoded values are exactly ggml's, so
// this is the baseline the fast per-format kernels (integer dot products on quantized
// activations, weights repacked at load; they come next) are tested against.
void decoded_rows(const Matrix& w, size_t r0, size_t r1, const float* x, size_t ldx, size_t n_tok, float* y,
                  size_t ldy, const kernels::KernelTable* simd) {
    // One tile per thread, kept across calls (16 rows of 4864 floats is 304 KiB).
    thread_local AlignedBuffer<float> tile;
    const size_t n = r1 - r0;
    if (tile.size() < kChunk * w.cols) tile.resize(kChunk * w.cols);
    for (size_t r = r0; r < r1; ++r)
        quant::dequantize_row(w.type, w.data + r * w.row_bytes, tile.data() + (r - r0) * w.cols, w.cols);
    if (simd) {
        simd->dense_rows(TensorType::F32, reinterpret_cast<const uint8_t*>(tile.data()), w.cols * sizeof(float),
                         w.cols, 0, n, x, ldx, n_tok, y + r0, ldy);
        return;
    }
    for (size_t i = 0; i < n; ++i) {
        const float* row = tile.data() + i * w.cols;
        for (size_t t = 0; t < n_tok; ++t) {
            float acc = 0.0f;
            for (size_t c = 0; c < w.cols; ++c) acc += row[c] * x[t * ldx + c];
            y[t * ldy + r0 + i] = acc;
        }
    }
}

}  // namespace

bool matmul_supports(TensorType type) { return quant::can_dequantize(type); }

void matmul(const Matrix& w, const float* x, size_t ldx, size_t n_tok, float* y, size_t ldy) {
    const kernels::KernelTable& k = kernels::kernel_table();
    const bool simd = w.cols % k.lanes == 0;
    const bool dense = quant::is_dense(w.type);
    const long n_chunks = long((w.rows + kChunk - 1) / kChunk);
#pragma omp for schedule(static)
    for (long c = 0; c < n_chunks; ++c) {
        size_t r0 = size_t(c) * kChunk, r1 = r0 + kChunk < w.rows ? r0 + kChunk : w.rows;
        if (dense && simd)
            k.dense_rows(w.type, w.data, w.row_bytes, w.cols, r0, r1, x, ldx, n_tok, y, ldy);
        else
            decoded_rows(w, r0, r1, x, ldx, n_tok, y, ldy, simd ? &k : nullptr);
    }
}

void dequantize_row(const Matrix& w, size_t r, float* out) {
    quant::dequantize_row(w.type, w.data + r * w.row_bytes, out, w.cols);
}

}  // namespace qwen
