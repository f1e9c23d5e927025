// The per-instruction-set kernel entry points and the table that picks among them.
#pragma once

#include "format/tensor_type.hpp"

#include <cstddef>
#include <cstdint>

namespace qwen::kernels {

using DenseRowsFn = void (*)(TensorType type, const uint8_t* w, size_t row_bytes, size_t cols, size_t r0, size_t r1,
                             const float* x, size_t ldx, size_t n_tok, float* y, size_t ldy);

// Activations quantized once per matmul call for the integer-dot kernels: Q8_0 (32-element
// blocks, for Q4_0 / Q5_0 / Q8_0 / IQ4_NL weights) or Q8_K (256, for the K-quants and the
// other IQ formats), exactly ggml's codes and scales (quant::quantize_row), unpacked so that
// codes sit contiguously: token t's codes are q[t * cols ...], its block scales
// d[t * cols / block ...] and, for Q8_K, its 16-element code sums bsums[t * cols / 16 ...];
// for Q8_0, its block code sums sums[t * cols / 32 ...] (the packed kernels' offset
// correction, kernels/packed.hpp).
struct QuantActs {
    TensorType type;  // Q8_0 or Q8_K
    const int8_t* q;
    const float* d;
    const int16_t* bsums;
    size_t cols;
    const int32_t* sums;
};

// The same activations from token t on. Static: each instruction set's file keeps its own
// copy, so the linker cannot hand the portable path an AVX-512 one.
static inline QuantActs acts_from_token(const QuantActs& x, size_t t) {
    const size_t blocks = x.cols / (x.type == TensorType::Q8_K ? 256 : 32);
    QuantActs s = x;
    s.q += t * x.cols;
    s.d += t * blocks;
    if (s.bsums) s.bsums += t * (x.cols / 16);
    if (s.sums) s.sums += t * blocks;
    return s;
}

// Rows [r0, r1) of w (the weight type `type`, one of those quant_act_type() maps) times the
// first n_tok tokens of x: y[t * ldy + r] for r0 <= r < r1.
using QuantRowsFn = void (*)(TensorType type, const uint8_t* w, size_t row_bytes, size_t r0, size_t r1,
                             const QuantActs& x, size_t n_tok, float* y, size_t ldy);

// Row groups [g0, g1) of a matrix packed by kernels/packed.hpp (`cols` columns) times the
// first n_tok tokens of x (quantized to quant_act_type()): y[t * ldy + r] for
// 16 g0 <= r < 16 g1.
using PackedRowsFn = void (*)(TensorType type, const uint8_t* w, size_t cols, size_t g0, size_t g1,
                              const QuantActs& x, size_t n_tok, float* y, size_t ldy);

// Row groups [g0, g1) of GGUF rows (row_bytes apart, `cols` columns) of a type with a
// transient layout (kernels/packed.hpp), each group decoded once into a per-thread scratch,
// times the first n_tok tokens of x (quantized to Q8_K): y[t * ldy + r] for 16 g0 <= r < 16 g1.
using TransientRowsFn = void (*)(TensorType type, const uint8_t* w, size_t row_bytes, size_t cols, size_t g0,
                                 size_t g1, const QuantActs& x, size_t n_tok, float* y, size_t ldy);

// The activation format of the integer-dot kernel for weights of `type`, or TensorType::F32
// if there is none (the caller then decodes the rows to float).
TensorType quant_act_type(TensorType type);

// The attention kernel's key layout and reach: keys in tiles of kKeyTile positions stored
// dimension-major (kv/kv_cache.hpp lays them out so), 1 .. kMaxAttendGroup query heads per
// KV head (Qwen2.5-0.5B has 7).
constexpr uint32_t kKeyTile = 16;
constexpr uint32_t kMaxAttendGroup = 16;

// Attention of the `group` query heads q[group][D] sharing one KV head over n cached keys and
// values into out[group][D]: the keys are this head's tiles of kKeyTile positions
// (kv/kv_cache.hpp) starting at k, its values rows row_bytes apart starting at v, both F16
// or F32. scores is scratch of attend_scores_floats(group, n) floats
// (kernels/attention_impl.hpp).
using AttendFn = void (*)(const float* q, uint32_t group, uint32_t D, const uint8_t* k, const uint8_t* v,
                          size_t row_bytes, uint32_t n, bool f16, float scale, float* scores, float* out);
// A score for every key of every head, rows padded to whole key tiles.
constexpr size_t attend_scores_floats(uint32_t group, uint32_t n) {
    return size_t(group) * ((size_t(n) + kKeyTile - 1) / kKeyTile * kKeyTile);
}

// BF16 weights on AVX512_BF16 CPUs, as llama.cpp multiplies them: the activations are rounded
// to bf16 once per call (RoundBf16Fn: n floats to ggml's GGML_FP32_TO_BF16 bits, core/half.hpp's
// f32_to_bf16), then Bf16RowsFn multiplies rows [r0, r1) of w (cols a multiple of kBf16Cols)
// with the first n_tok of those tokens (token t at x[t * ldx]) by vdpbf16ps: y[t * ldy + r].
// vdpbf16ps treats bf16 subnormals as zero and flushes subnormal sums to zero.
constexpr size_t kBf16Cols = 32;  // bf16 values per 512-bit vector
using RoundBf16Fn = void (*)(const float* x, uint16_t* out, size_t n);
using Bf16RowsFn = void (*)(const uint8_t* w, size_t row_bytes, size_t cols, size_t r0, size_t r1,
                            const uint16_t* x, size_t ldx, size_t n_tok, float* y, size_t ldy);
// BF16 matrices packed for AMX tiles (packed.hpp's pack_bf16_tiles; rows x cols as stored):
// groups [g0, g1) of 16 rows times the first n_tok tokens of x, rounded by RoundBf16Fn (token
// t at x[t * cols]), into y[t * ldy + r].
using Bf16TilesFn = void (*)(const uint8_t* packed, size_t rows, size_t cols, size_t g0, size_t g1,
                             const uint16_t* x, size_t n_tok, float* y, size_t ldy);

// Token row x (cols floats) quantized to `act` (Q8_0 or Q8_K) into QuantActs' layout: codes
// q[cols], block scales d[cols / block] (Q8_0: not yet rounded to the f16 its block stores),
// and the Q8_K 16-element code sums bsums[cols / 16] or the Q8_0 block code sums sums[cols /
// 32]; bit for bit quant::quantize_row's codes. False (outputs unspecified) for a row the
// reference quantizer must do: a NaN or an infinity, or a block whose reciprocal scale
// overflows (kernels/act_quant_impl.hpp).
using QuantizeActFn = bool (*)(TensorType act, const float* x, size_t cols, int8_t* q, float* d, int16_t* bsums,
                               int32_t* sums);

// SwiGLU's gate, in place: gate[i] = silu(gate[i]) * up[i] for i < n (kernels/dense_impl.hpp).
using SiluMulFn = void (*)(float* gate, const float* up, size_t n);

// What each instruction set's files define, in the namespaces below.
#define QWEN_KERNEL_ENTRY_POINTS                                                                                 \
    void dense_matmul_rows(TensorType, const uint8_t*, size_t, size_t, size_t, size_t, const float*, size_t,   \
                           size_t, float*, size_t);                                                            \
    void quant_matmul_rows(TensorType, const uint8_t*, size_t, size_t, size_t, const QuantActs&, size_t, float*, \
                           size_t);                                                                            \
    void attend(const float*, uint32_t, uint32_t, const uint8_t*, const uint8_t*, size_t, uint32_t, bool,       \
                float, float*, float*);                                                                          \
    bool quantize_act_row(TensorType, const float*, size_t, int8_t*, float*, int16_t*, int32_t*);               \
    void silu_mul(float*, const float*, size_t);

namespace generic {
QWEN_KERNEL_ENTRY_POINTS
}
#if defined(__x86_64__)
namespace avx2 {
QWEN_KERNEL_ENTRY_POINTS
}
namespace avx512 {
QWEN_KERNEL_ENTRY_POINTS
void packed_matmul_groups(TensorType, const uint8_t*, size_t, size_t, size_t, const QuantActs&, size_t, float*,
                          size_t);
void transient_matmul_groups(TensorType, const uint8_t*, size_t, size_t, size_t, size_t, const QuantActs&, size_t,
                             float*, size_t);
}
// x86/packed_amx.cpp, built with AMX-INT8 and taken only where cpu_features().amx_int8: the
// packed kernel, with AMX tiles for 16 tokens at a time and the VNNI ones for the rest.
namespace amx {
void packed_matmul_groups(TensorType, const uint8_t*, size_t, size_t, size_t, const QuantActs&, size_t, float*,
                          size_t);
// x86/bf16_amx.cpp, built with AMX-BF16 and taken only where cpu_features().amx_bf16.
void bf16_tile_groups(const uint8_t*, size_t, size_t, size_t, size_t, const uint16_t*, size_t, float*, size_t);
}
// x86/bf16_avx512.cpp, built with AVX512_BF16 and taken only on CPUs that have it.
namespace avx512bf16 {
void round_bf16(const float*, uint16_t*, size_t);
void bf16_matmul_rows(const uint8_t*, size_t, size_t, size_t, size_t, const uint16_t*, size_t, size_t, float*,
                      size_t);
}
#endif
#if defined(__aarch64__)
// arm/dense_neon.cpp (any AArch64 CPU) and arm/quant_neon.cpp (ARMv8.2 dot product only).
namespace neon {
QWEN_KERNEL_ENTRY_POINTS
}
#endif

struct KernelTable {
    const char* isa;
    size_t lanes;  // floats per vector: matrices whose rows are not a multiple use the scalar path
    DenseRowsFn dense_rows;
    QuantRowsFn quant_rows;
    PackedRowsFn packed_rows;  // null: this CPU has no packed kernels, so nothing is packed
    // Null where packed_rows is; matmul() takes it for many tokens (matmul.cpp).
    TransientRowsFn transient_rows;
    AttendFn attend;  // for head_dim a multiple of `lanes`, at most 256, and groups of <= 16 heads
    // Both null unless the CPU has AVX512_BF16: BF16 weights then take dense_rows (widened to float).
    RoundBf16Fn round_bf16;
    Bf16RowsFn bf16_rows;
    QuantizeActFn quantize_act;
    SiluMulFn silu_mul;
    // Null unless the CPU has AMX-BF16 tiles this process may use: BF16 matrices are then packed
    // at load for them (every token count), else they take bf16_rows or dense_rows as stored.
    Bf16TilesFn bf16_tiles = nullptr;
};

// The table for the best instruction set of this CPU (QWEN_ISA may lower it).
const KernelTable& kernel_table();

}  // namespace qwen::kernels
