// GGML tensor types as stored in GGUF files: the numeric ids are the file format's, the
// block geometry is what the reader needs to check sizes. The byte layout of each block
// is documented with its dequantizer in quant/.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace qwen {

enum class TensorType : uint32_t {
    F32 = 0, F16 = 1, Q4_0 = 2, Q4_1 = 3, Q5_0 = 6, Q5_1 = 7, Q8_0 = 8, Q8_1 = 9,
    Q2_K = 10, Q3_K = 11, Q4_K = 12, Q5_K = 13, Q6_K = 14, Q8_K = 15,
    IQ2_XXS = 16, IQ2_XS = 17, IQ3_XXS = 18, IQ1_S = 19, IQ4_NL = 20, IQ3_S = 21,
    IQ2_S = 22, IQ4_XS = 23, I8 = 24, I16 = 25, I32 = 26, I64 = 27, F64 = 28, IQ1_M = 29,
    BF16 = 30,
};

struct TensorTypeInfo {
    std::string_view name;  // as ggml prints it: "q4_K", "bf16", ...
    uint32_t block_elems;   // elements per block (1 for plain types)
    uint32_t block_bytes;   // bytes per block
};

// nullopt for ids the file format does not define (or no longer defines).
std::optional<TensorTypeInfo> tensor_type_info(uint32_t id);
// static: the ISA-flagged kernel files include this header (see kernels/dense_impl.hpp).
static inline TensorTypeInfo tensor_type_info(TensorType t) { return *tensor_type_info(uint32_t(t)); }
static inline std::string_view tensor_type_name(TensorType t) { return tensor_type_info(t).name; }

// Bytes of one row of `n` elements, or nullopt when n is not a whole number of blocks.
std::optional<size_t> tensor_row_bytes(TensorType t, uint64_t n);

}  // namespace qwen
