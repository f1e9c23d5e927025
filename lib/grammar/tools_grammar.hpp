// A grammar for Qwen2.5's answers when tools are declared: either plain text, or one or more
//   <tool_call>\n{"name": "<tool>", "arguments": <that tool's parameters>}\n</tool_call>
// blocks (separated by "\n", as the chat template renders them), each call's arguments
// constrained by the declared JSON Schema of its tool.
#pragma once

#include "grammar/json_schema.hpp"

#include <string>

namespace qwen {

// `tools`: a JSON array of tool definitions, OpenAI style {"type": "function", "function":
// {"name", "description", "parameters"}} or plain {"name", "parameters"}; a tool without
// parameters takes any object. Plain text may not start with '<' (so an answer that begins a
// tool call must finish it). Throws Error(QWEN_ERR_INVALID_ARGUMENT) naming the tool index and
// the schema problem.
std::string tools_to_gbnf(const ordered_json& tools);

}  // namespace qwen
