#include "quantizer/ftype.hpp"

#include <algorithm>
#include <array>
#include <string>

namespace qwen::quantizer {

namespace {

constexpr std::array<FtypeInfo, 15> kFtypes{{
    {QWEN_FTYPE_F32, "F32", TensorType::F32},
    {QWEN_FTYPE_F16, "F16", TensorType::F16},
    {QWEN_FTYPE_BF16, "BF16", TensorType::BF16},
    {QWEN_FTYPE_Q8_0, "Q8_0", TensorType::Q8_0},
    {QWEN_FTYPE_Q4_0, "Q4_0", TensorType::Q4_0},
    {QWEN_FTYPE_Q4_1, "Q4_1", TensorType::Q4_1},
    {QWEN_FTYPE_Q5_0, "Q5_0", TensorType::Q5_0},
    {QWEN_FTYPE_Q5_1, "Q5_1", TensorType::Q5_1},
    {QWEN_FTYPE_Q4_K_S, "Q4_K_S", TensorType::Q4_K},
    {QWEN_FTYPE_Q4_K_M, "Q4_K_M", TensorType::Q4_K},
    {QWEN_FTYPE_Q5_K_S, "Q5_K_S", TensorType::Q5_K},
    {QWEN_FTYPE_Q5_K_M, "Q5_K_M", TensorType::Q5_K},
    {QWEN_FTYPE_Q6_K, "Q6_K", TensorType::Q6_K},
    {QWEN_FTYPE_IQ4_NL, "IQ4_NL", TensorType::IQ4_NL},
    {QWEN_FTYPE_IQ4_XS, "IQ4_XS", TensorType::IQ4_XS},
}};

char upper(char c) { return c >= 'a' && c <= 'z' ? char(c - 'a' + 'A') : c; }

}  // namespace

std::optional<FtypeInfo> ftype_info(int ftype) {
    for (const auto& f : kFtypes)
        if (int(f.ftype) == ftype) return f;
    return std::nullopt;
}

std::optional<FtypeInfo> ftype_from_name(std::string_view name) {
    for (const auto& f : kFtypes)
        if (std::ranges::equal(f.name, name, [](char a, char b) { return a == upper(b); })) return f;
    return std::nullopt;
}

const std::string& ftype_names() {
    static const std::string names = [] {
        std::string s;
        for (const auto& f : kFtypes) s += (s.empty() ? "" : ", ") + std::string(f.name);
        return s;
    }();
    return names;
}

}  // namespace qwen::quantizer
