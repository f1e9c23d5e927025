// Tool calls in a Qwen2.5 answer. The template's system prompt asks the model for
//   <tool_call>\n{"name": <function-name>, "arguments": <args-json-object>}\n</tool_call>
// blocks, which is also how it renders the assistant's earlier calls; this reads them back.
#pragma once

#include <nlohmann/json.hpp>

#include <string>
#include <string_view>
#include <vector>

namespace qwen {

struct ToolCall {
    std::string name;
    nlohmann::ordered_json arguments;  // as the model wrote it: usually an object; {} if absent
};

// The calls in `text`, in order. A block counts when its body (whitespace around it aside) is
// a JSON object with a string "name" and optionally "arguments"; the last block may lack its
// </tool_call> (generation stopped right after the JSON). Anything else - a malformed block
// included - is content: if `content_without_calls` is given it receives the text with the
// calls taken out, whitespace touching a call dropped, and text found on both sides of a call
// joined by one "\n". So for an answer shaped the way the template renders one,
// content + calls render back to the same text.
std::vector<ToolCall> parse_tool_calls(std::string_view text, std::string* content_without_calls);

}  // namespace qwen
