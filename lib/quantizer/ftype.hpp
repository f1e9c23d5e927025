// llama.cpp's file types (LLAMA_FTYPE_*): their names and the tensor type each is built on.
#pragma once

#include "format/tensor_type.hpp"

#include <qwen/qwen.h>

#include <optional>
#include <string>
#include <string_view>

namespace qwen::quantizer {

struct FtypeInfo {
    qwen_ftype ftype;
    std::string_view name;  // llama-quantize's spelling: "Q4_K_M"
    TensorType base;        // the type of every matrix the mix does not single out
};

// nullopt for a value that is not one of qwen_ftype's.
std::optional<FtypeInfo> ftype_info(int ftype);
// Case-insensitive; nullopt for an unknown name.
std::optional<FtypeInfo> ftype_from_name(std::string_view name);
// "F32, F16, BF16, Q8_0, ..." for messages.
const std::string& ftype_names();

}  // namespace qwen::quantizer
