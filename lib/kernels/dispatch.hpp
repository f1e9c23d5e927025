// The per-instruction-set kernel entry points and the table that picks among them.
#pragma once

#include "format/tensor_type.hpp"

#include <cstddef>
#include <cstdint>

namespace qwen::kernels {

using DenseRowsFn = void (*)(TensorType type, const uint8_t* w, size_t row_bytes, size_t cols, size_t r0, size_t r1,
                             const float* x, size_t ldx, size_t n_tok, float* y, size_t ldy);

// Attention of the `group` query heads q[group][D] sharing one KV head over n cached keys and
// values (rows of row_bytes bytes, F16 or F32, this head's slice starting at k / v) into
// out[group][D]; scores is scratch of group * n floats (kernels/attention_impl.hpp).
using AttendFn = void (*)(const float* q, uint32_t group, uint32_t D, const uint8_t* k, const uint8_t* v,
                          size_t row_bytes, uint32_t n, bool f16, float scale, float* scores, float* out);

#define QWEN_KERNEL_ENTRY_POINTS                                                                                 \
    void dense_matmul_rows(TensorType, const uint8_t*, size_t, size_t, size_t, size_t, const float*, size_t,   \
                           size_t, float*, size_t);                                                            \
    void attend(const float*, uint32_t, uint32_t, const uint8_t*, const uint8_t*, size_t, uint32_t, bool,       \
                float, float*, float*);

namespace generic {
QWEN_KERNEL_ENTRY_POINTS
}
#if defined(__x86_64__)
namespace avx2 {
QWEN_KERNEL_ENTRY_POINTS
}
namespace avx512 {
QWEN_KERNEL_ENTRY_POINTS
}
#endif

struct KernelTable {
    const char* isa;
    size_t lanes;  // floats per vector: matrices whose rows are not a multiple use the scalar path
    DenseRowsFn dense_rows;
    AttendFn attend;  // for head_dim a multiple of `lanes`, at most 256, and groups of <= 16 heads
};

// The table for the best instruction set of this CPU (QWEN_ISA may lower it).
const KernelTable& kernel_table();

}  // namespace qwen::kernels
