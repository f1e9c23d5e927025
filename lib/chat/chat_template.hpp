// Qwen2.5's chat template (ChatML), rendered byte for byte as the official Jinja template
// does under transformers' apply_chat_template: default system prompt, tools in the system
// turn, assistant tool calls as <tool_call> blocks, tool responses grouped in a user turn.
#pragma once

#include <nlohmann/json.hpp>

#include <string>

namespace qwen {

// messages: a JSON array of {"role", "content", "tool_calls"?}; tools: null or an array.
// Throws Error(QWEN_ERR_INVALID_ARGUMENT) naming the message index and the problem.
std::string render_chat(const nlohmann::ordered_json& messages, const nlohmann::ordered_json& tools,
                        bool add_generation_prompt);

}  // namespace qwen
