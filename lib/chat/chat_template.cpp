// Qwen2.5's chat template, transcribed from its Jinja source (llama.cpp's
// models/templates/Qwen-Qwen2.5-7B-Instruct.jinja, identical to the GGUF's
// tokenizer.chat_template) one branch at a time, so the two can be read side by side.
//
// Where the template touches a value, this code does what Jinja does with it: `if x` is
// Python truthiness, a missing key is Undefined (printed as "", an error when concatenated
// or passed to tojson), `tool_call.function is defined` unwraps OpenAI's form, and a shape
// that makes Jinja raise is an error here too. Two deliberate differences, both errors here
// where the template would render something no one wants:
//   - a role other than system/user/assistant/tool (the template silently drops the message);
//   - printing a value that is not a string (Jinja prints str(value): "None", "[1, 2]").

#include "chat/chat_template.hpp"

#include "chat/python_json.hpp"
#include "core/error.hpp"

#include <string_view>
#include <vector>

namespace qwen {

namespace {

using Json = nlohmann::ordered_json;

constexpr std::string_view kDefaultSystem = "You are Qwen, created by Alibaba Cloud. You are a helpful assistant.";
constexpr std::string_view kToolsHeader =
    "\n\n# Tools\n\nYou may call one or more functions to assist with the user query.\n\n"
    "You are provided with function signatures within <tools></tools> XML tags:\n<tools>";
constexpr std::string_view kToolsFooter =
    "\n</tools>\n\nFor each function call, return a json object with function name and arguments within "
    "<tool_call></tool_call> XML tags:\n<tool_call>\n{\"name\": <function-name>, \"arguments\": "
    "<args-json-object>}\n</tool_call><|im_end|>\n";

enum class Role { System, User, Assistant, Tool };

// Python's bool(value) for what json.loads returns.
bool truthy(const Json& v) {
    switch (v.type()) {
        case Json::value_t::null: return false;
        case Json::value_t::boolean: return v.get<bool>();
        case Json::value_t::number_integer: return v.get<int64_t>() != 0;
        case Json::value_t::number_unsigned: return v.get<uint64_t>() != 0;
        case Json::value_t::number_float: return v.get<double>() != 0.0;  // NaN is true, as in Python
        case Json::value_t::string: return !v.get_ref<const std::string&>().empty();
        case Json::value_t::array:
        case Json::value_t::object: return !v.empty();
        default: return true;
    }
}

// `obj.key` in Jinja: nullptr stands for Undefined (no such key, or not an object).
const Json* member(const Json& obj, const char* key) {
    if (!obj.is_object()) return nullptr;
    auto it = obj.find(key);
    return it == obj.end() ? nullptr : &*it;
}

// "a string", "an array", "null": a value's type for error messages.
std::string a_type(const Json& v) {
    if (v.is_null()) return "null";
    std::string name = v.type_name();
    return (name[0] == 'a' || name[0] == 'o' ? "an " : "a ") + name;
}

// Names a message in errors: "message 3 (assistant)".
std::string where(size_t i, const Json& message) {
    const Json* role = member(message, "role");
    return role && role->is_string() ? cat("message ", i, " (", role->get_ref<const std::string&>(), ")")
                                     : cat("message ", i);
}

Role role_of(const Json& message, size_t i) {
    if (!message.is_object()) fail(QWEN_ERR_INVALID_ARGUMENT, "message ", i, " is ", a_type(message), ", not an object");
    const Json* role = member(message, "role");
    if (!role) fail(QWEN_ERR_INVALID_ARGUMENT, "message ", i, " has no \"role\"");
    if (role->is_string()) {
        const auto& r = role->get_ref<const std::string&>();
        if (r == "system") return Role::System;
        if (r == "user") return Role::User;
        if (r == "assistant") return Role::Assistant;
        if (r == "tool") return Role::Tool;
    }
    fail(QWEN_ERR_INVALID_ARGUMENT, "message ", i, ": role ", role->dump(),
         " is not one of \"system\", \"user\", \"assistant\", \"tool\"");
}

// `'...' + value + '...'`: Python concatenation accepts only a string. `what()` names the
// value for the error message; it is only called when there is one.
template <class What>
const std::string& concatenated(const Json* value, What&& what) {
    if (!value) fail(QWEN_ERR_INVALID_ARGUMENT, what(), " is missing");
    if (!value->is_string())
        fail(QWEN_ERR_INVALID_ARGUMENT, what(), " is ", a_type(*value), ", not a string");
    return value->get_ref<const std::string&>();
}

// `{{ value }}`: Undefined prints nothing; anything but a string is refused (see the top).
template <class What>
std::string_view printed(const Json* value, What&& what) {
    return value ? std::string_view(concatenated(value, what)) : std::string_view();
}

// The assistant branch's loop over message.tool_calls.
void append_tool_calls(std::string& out, const Json& calls, size_t i, const Json& message) {
    if (!calls.is_array())  // iterating a string or an object yields strings: no "arguments"
        fail(QWEN_ERR_INVALID_ARGUMENT, where(i, message), ": tool_calls is ", a_type(calls), ", not an array");
    for (size_t k = 0; k < calls.size(); ++k) {
        const Json* call = &calls[k];
        const Json* function = member(*call, "function");
        if (function) call = function;  // {% if tool_call.function is defined %}
        auto name = [&] { return cat(where(i, message), ": tool_calls[", k, "]", function ? ".function" : ""); };
        const Json* arguments = member(*call, "arguments");
        if (!arguments)  // tojson of Undefined raises
            fail(QWEN_ERR_INVALID_ARGUMENT, name(), " has no \"arguments\"");
        out += "\n<tool_call>\n{\"name\": \"";
        out += printed(member(*call, "name"), [&] { return name() + ".name"; });
        out += "\", \"arguments\": ";
        append_python_json(out, *arguments);
        out += "}\n</tool_call>";
    }
}

}  // namespace

std::string render_chat(const Json& messages, const Json& tools, bool add_generation_prompt) {
    if (!messages.is_array())
        fail(QWEN_ERR_INVALID_ARGUMENT, "messages is ", a_type(messages), ", not an array");
    if (messages.empty())  // messages[0]['role'] is an error in Jinja
        fail(QWEN_ERR_INVALID_ARGUMENT, "messages is empty: the template needs at least one message");
    if (!tools.is_null() && !tools.is_array())
        fail(QWEN_ERR_INVALID_ARGUMENT, "tools is ", a_type(tools), ", not an array");
    std::vector<Role> roles(messages.size());
    for (size_t i = 0; i < messages.size(); ++i) roles[i] = role_of(messages[i], i);

    std::string out = "<|im_start|>system\n";
    const Json* system = roles[0] == Role::System ? member(messages[0], "content") : nullptr;
    auto system_what = [&] { return where(0, messages[0]) + ": content"; };
    if (truthy(tools)) {
        out += roles[0] == Role::System ? printed(system, system_what) : kDefaultSystem;
        out += kToolsHeader;
        for (const Json& tool : tools) {
            out += '\n';
            append_python_json(out, tool);
        }
        out += kToolsFooter;
    } else {
        out += roles[0] == Role::System ? concatenated(system, system_what) : kDefaultSystem;
        out += "<|im_end|>\n";
    }

    for (size_t i = 0; i < messages.size(); ++i) {
        const Json& message = messages[i];
        const Json* content = member(message, "content");
        const Json* tool_calls = member(message, "tool_calls");
        Role role = roles[i];
        auto content_what = [&] { return where(i, message) + ": content"; };
        bool plain = role == Role::User || (role == Role::System && i > 0) ||
                     (role == Role::Assistant && !(tool_calls && truthy(*tool_calls)));
        if (plain) {
            out += "<|im_start|>";
            out += member(message, "role")->get_ref<const std::string&>();
            out += '\n';
            out += concatenated(content, content_what);
            out += "<|im_end|>\n";
        } else if (role == Role::Assistant) {
            out += "<|im_start|>assistant";
            if (content && truthy(*content)) {
                out += '\n';
                out += concatenated(content, content_what);
            }
            append_tool_calls(out, *tool_calls, i, message);
            out += "<|im_end|>\n";
        } else if (role == Role::Tool) {
            // Consecutive tool responses share one user turn.
            if (i == 0 || roles[i - 1] != Role::Tool) out += "<|im_start|>user";
            out += "\n<tool_response>\n";
            out += printed(content, content_what);
            out += "\n</tool_response>";
            if (i + 1 == messages.size() || roles[i + 1] != Role::Tool) out += "<|im_end|>\n";
        }
        // A leading system message was written above.
    }
    if (add_generation_prompt) out += "<|im_start|>assistant\n";
    return out;
}

}  // namespace qwen
