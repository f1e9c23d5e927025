#include "kernels/matmul.hpp"

#include "core/half.hpp"
#include "kernels/dispatch.hpp"

#include <cstring>

namespace qwen {

namespace {

bool is_dense(TensorType t) { return t == TensorType::F32 || t == TensorType::F16 || t == TensorType::BF16; }

float dense_at(TensorType t, const uint8_t* row, size_t i) {
    uint16_t h;
    switch (t) {
    case TensorType::F32: {
        float f;
        std::memcpy(&f, row + 4 * i, 4);
        return f;
    }
    case TensorType::F16: std::memcpy(&h, row + 2 * i, 2); return f16_to_f32(h);
    default: std::memcpy(&h, row + 2 * i, 2); return bf16_to_f32(h);
    }
}

// Any shape, no SIMD: for matrices whose rows are not a whole number of vectors.
void scalar_rows(const Matrix& w, size_t r0, size_t r1, const float* x, size_t ldx, size_t n_tok, float* y,
                 size_t ldy) {
    for (size_t r = r0; r < r1; ++r) {
        const uint8_t* row = w.data + r * w.row_bytes;
        for (size_t t = 0; t < n_tok; ++t) {
            float acc = 0.0f;
            for (size_t c = 0; c < w.cols; ++c) acc += dense_at(w.type, row, c) * x[t * ldx + c];
            y[t * ldy + r] = acc;
        }
    }
}

}  // namespace

bool matmul_supports(TensorType type) { return is_dense(type); }

void matmul(const Matrix& w, const float* x, size_t ldx, size_t n_tok, float* y, size_t ldy) {
    const kernels::KernelTable& k = kernels::kernel_table();
    const bool simd = w.cols % k.lanes == 0;
    // Rows go to threads in chunks of 16: a multiple of the 4-row tile, small enough that
    // even the 896-row projections split evenly over many threads.
    constexpr size_t kChunk = 16;
    const long n_chunks = long((w.rows + kChunk - 1) / kChunk);
#pragma omp for schedule(static)
    for (long c = 0; c < n_chunks; ++c) {
        size_t r0 = size_t(c) * kChunk, r1 = r0 + kChunk < w.rows ? r0 + kChunk : w.rows;
        if (simd)
            k.dense_rows(w.type, w.data, w.row_bytes, w.cols, r0, r1, x, ldx, n_tok, y, ldy);
        else
            scalar_rows(w, r0, r1, x, ldx, n_tok, y, ldy);
    }
}

void dequantize_row(const Matrix& w, size_t r, float* out) {
    const uint8_t* row = w.data + r * w.row_bytes;
    for (size_t c = 0; c < w.cols; ++c) out[c] = dense_at(w.type, row, c);
}

}  // namespace qwen
