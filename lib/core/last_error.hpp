// The per-thread message behind qwen_last_error().
#pragma once

#include <string>

namespace qwen {

void set_last_error(std::string message);
const char* last_error();

}  // namespace qwen
