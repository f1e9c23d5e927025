// The per-instruction-set kernel entry points and the table that picks among them.
#pragma once

#include "format/tensor_type.hpp"

#include <cstddef>
#include <cstdint>

namespace qwen::kernels {

using DenseRowsFn = void (*)(TensorType type, const uint8_t* w, size_t row_bytes, size_t cols, size_t r0, size_t r1,
                             const float* x, size_t ldx, size_t n_tok, float* y, size_t ldy);

namespace generic {
void dense_matmul_rows(TensorType, const uint8_t*, size_t, size_t, size_t, size_t, const float*, size_t, size_t,
                       float*, size_t);
}
#if defined(__x86_64__)
namespace avx2 {
void dense_matmul_rows(TensorType, const uint8_t*, size_t, size_t, size_t, size_t, const float*, size_t, size_t,
                       float*, size_t);
}
namespace avx512 {
void dense_matmul_rows(TensorType, const uint8_t*, size_t, size_t, size_t, size_t, const float*, size_t, size_t,
                       float*, size_t);
}
#endif

struct KernelTable {
    const char* isa;
    size_t lanes;  // floats per vector: matrices whose rows are not a multiple use the scalar path
    DenseRowsFn dense_rows;
};

// The table for the best instruction set of this CPU (QWEN_ISA may lower it).
const KernelTable& kernel_table();

}  // namespace qwen::kernels
