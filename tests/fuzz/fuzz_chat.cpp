// The chat functions of the C API on fuzzed JSON and text: qwen_chat_render_json(messages,
// tools) and qwen_parse_tool_calls(answer) (the three parts of the input). Property: what
// qwen_parse_tool_calls returns is an assistant message that qwen_chat_render_json takes back.
#include "fuzz_util.hpp"

#include <nlohmann/json.hpp>

using namespace qwen::fuzz;

namespace {

// Calls a buffer-protocol function twice: to learn the size, then to fill the buffer.
template <class F>
qwen_status call_out(F&& f, std::string& out, const char* name) {
    size_t len = 0;
    qwen_status s = check(f(nullptr, 0, &len), name);
    if (s == QWEN_ERR_BUFFER_TOO_SMALL) {
        out.assign(len, '\0');
        s = check(f(out.data(), out.size(), &len), name);
        require(s != QWEN_ERR_BUFFER_TOO_SMALL && (s != QWEN_OK || len == out.size()), "the size asked for fits");
    } else if (s == QWEN_OK) {
        out.clear();
    }
    return s;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const auto parts = split({reinterpret_cast<const char*>(data), size}, 3);
    const std::string messages(parts[0]), tools(parts[1]), answer(parts[2]);  // C strings: up to a NUL
    std::string out;
    for (uint32_t flags : {0u, uint32_t(QWEN_CHAT_ADD_GENERATION_PROMPT)})
        call_out([&](char* b, size_t c, size_t* l) {
            return qwen_chat_render_json(messages.c_str(), tools.empty() ? nullptr : tools.c_str(), flags, b, c, l);
        }, out, "qwen_chat_render_json");

    std::string parsed;
    if (call_out([&](char* b, size_t c, size_t* l) { return qwen_parse_tool_calls(answer.c_str(), b, c, l); },
                 parsed, "qwen_parse_tool_calls") != QWEN_OK)
        return 0;
    auto message = nlohmann::ordered_json::parse(parsed, nullptr, /*allow_exceptions=*/false);
    require(message.is_object() && message.contains("content") && message.contains("tool_calls"),
            "qwen_parse_tool_calls gives {content, tool_calls}", parsed);
    nlohmann::ordered_json turn = {{"role", "assistant"}};
    turn.update(message);
    const std::string conversation = nlohmann::ordered_json::array({turn}).dump();
    const qwen_status s = call_out([&](char* b, size_t c, size_t* l) {
        return qwen_chat_render_json(conversation.c_str(), nullptr, 0, b, c, l);
    }, out, "qwen_chat_render_json");
    require(s == QWEN_OK, "qwen_chat_render_json takes back what qwen_parse_tool_calls gives",
            conversation + ": " + qwen_last_error());
    return 0;
}
