#include "format/tensor_type.hpp"

namespace qwen {

std::optional<TensorTypeInfo> tensor_type_info(uint32_t id) {
    switch (TensorType(id)) {
    case TensorType::F32: return TensorTypeInfo{"f32", 1, 4};
    case TensorType::F16: return TensorTypeInfo{"f16", 1, 2};
    case TensorType::BF16: return TensorTypeInfo{"bf16", 1, 2};
    case TensorType::F64: return TensorTypeInfo{"f64", 1, 8};
    case TensorType::I8: return TensorTypeInfo{"i8", 1, 1};
    case TensorType::I16: return TensorTypeInfo{"i16", 1, 2};
    case TensorType::I32: return TensorTypeInfo{"i32", 1, 4};
    case TensorType::I64: return TensorTypeInfo{"i64", 1, 8};
    case TensorType::Q4_0: return TensorTypeInfo{"q4_0", 32, 18};
    case TensorType::Q4_1: return TensorTypeInfo{"q4_1", 32, 20};
    case TensorType::Q5_0: return TensorTypeInfo{"q5_0", 32, 22};
    case TensorType::Q5_1: return TensorTypeInfo{"q5_1", 32, 24};
    case TensorType::Q8_0: return TensorTypeInfo{"q8_0", 32, 34};
    case TensorType::Q8_1: return TensorTypeInfo{"q8_1", 32, 36};
    case TensorType::Q2_K: return TensorTypeInfo{"q2_K", 256, 84};
    case TensorType::Q3_K: return TensorTypeInfo{"q3_K", 256, 110};
    case TensorType::Q4_K: return TensorTypeInfo{"q4_K", 256, 144};
    case TensorType::Q5_K: return TensorTypeInfo{"q5_K", 256, 176};
    case TensorType::Q6_K: return TensorTypeInfo{"q6_K", 256, 210};
    case TensorType::Q8_K: return TensorTypeInfo{"q8_K", 256, 292};
    case TensorType::IQ2_XXS: return TensorTypeInfo{"iq2_xxs", 256, 66};
    case TensorType::IQ2_XS: return TensorTypeInfo{"iq2_xs", 256, 74};
    case TensorType::IQ3_XXS: return TensorTypeInfo{"iq3_xxs", 256, 98};
    case TensorType::IQ1_S: return TensorTypeInfo{"iq1_s", 256, 50};
    case TensorType::IQ4_NL: return TensorTypeInfo{"iq4_nl", 32, 18};
    case TensorType::IQ3_S: return TensorTypeInfo{"iq3_s", 256, 110};
    case TensorType::IQ2_S: return TensorTypeInfo{"iq2_s", 256, 82};
    case TensorType::IQ4_XS: return TensorTypeInfo{"iq4_xs", 256, 136};
    case TensorType::IQ1_M: return TensorTypeInfo{"iq1_m", 256, 56};
    }
    return std::nullopt;
}

std::optional<size_t> tensor_row_bytes(TensorType t, uint64_t n) {
    auto info = tensor_type_info(uint32_t(t));
    if (!info || n % info->block_elems) return std::nullopt;
    return size_t(n / info->block_elems) * info->block_bytes;
}

}  // namespace qwen
