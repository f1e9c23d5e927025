// JSON text handed to the chat functions, parsed with errors that say where the text is wrong.
#pragma once

#include <nlohmann/json.hpp>

#include <string_view>

namespace qwen {

// Parses `text` (UTF-8 JSON, keys kept in their order; a repeated key keeps its first place
// and its last value, as Python's json.loads does). Throws Error(QWEN_ERR_INVALID_ARGUMENT)
// "<what>: ... at byte N" (N counted from 0) for text that is not JSON, and for an integer outside the 64-bit
// range: parsed, it would become an approximate float, and Python would have written it back
// digit for digit; and for values nested deeper than 512 levels.
nlohmann::ordered_json parse_json_text(std::string_view text, std::string_view what);

}  // namespace qwen
