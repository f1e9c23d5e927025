// The chat section of the C API (include/qwen/qwen.h): C strings and JSON text in, the
// rendered conversation out through the usual buffer protocol.
#include "api/guard.hpp"
#include "chat/chat_template.hpp"
#include "chat/json_text.hpp"
#include "tokenizer/unicode.hpp"

#include <cstring>

using qwen::cat;
using qwen::fail;
using qwen::guarded;
using Json = nlohmann::ordered_json;

namespace {

constexpr uint32_t kKnownFlags = QWEN_CHAT_ADD_GENERATION_PROMPT;

// A C string of the caller's, checked to be UTF-8 (Jinja only ever sees valid text).
std::string_view utf8_arg(const char* s, const char* what, size_t index) {
    std::string_view text(s);
    const auto* p = reinterpret_cast<const unsigned char*>(text.data());
    for (size_t at = 0; at < text.size();) {
        uint32_t cp;
        int n = qwen::unicode::decode_utf8(p + at, text.size() - at, &cp);
        if (n < 0) fail(QWEN_ERR_INVALID_ARGUMENT, "messages[", index, "].", what, " is not UTF-8 (byte ", at, ")");
        at += static_cast<size_t>(n);
    }
    return text;
}

Json tools_arg(const char* tools_json) {
    return tools_json ? qwen::parse_json_text(tools_json, "tools_json") : Json();
}

// Renders and copies out if it fits; the caller's buffer is untouched otherwise.
void render_out(const Json& messages, const Json& tools, uint32_t flags, char* buf, size_t capacity, size_t* len) {
    if (flags & ~kKnownFlags) fail(QWEN_ERR_INVALID_ARGUMENT, "flags has unknown bits ", flags & ~kKnownFlags);
    qwen::write_out(qwen::render_chat(messages, tools, (flags & QWEN_CHAT_ADD_GENERATION_PROMPT) != 0), buf,
                    capacity, len, "the conversation");
}

}  // namespace

extern "C" {

QWEN_API qwen_status qwen_chat_render(const qwen_chat_message* messages, size_t n_messages, const char* tools_json,
                                      uint32_t flags, char* buf, size_t capacity, size_t* len) {
    return guarded(__func__, [&] {
        QWEN_REQUIRE_ARG(messages != nullptr || n_messages == 0);
        QWEN_REQUIRE_ARG(buf != nullptr || capacity == 0);
        QWEN_REQUIRE_ARG(len != nullptr);
        Json list = Json::array();
        for (size_t i = 0; i < n_messages; ++i) {
            const qwen_chat_message& m = messages[i];
            if (!m.role) fail(QWEN_ERR_INVALID_ARGUMENT, "messages[", i, "].role is NULL");
            // NULL content is a missing key: what Jinja allows of it depends on the branch
            // (nothing printed for a tool response, an error in a user turn).
            Json message = {{"role", utf8_arg(m.role, "role", i)}};
            if (m.content) message["content"] = utf8_arg(m.content, "content", i);
            if (m.tool_calls) message["tool_calls"] = qwen::parse_json_text(m.tool_calls, cat("messages[", i, "].tool_calls"));
            list.push_back(std::move(message));
        }
        render_out(list, tools_arg(tools_json), flags, buf, capacity, len);
    });
}

QWEN_API qwen_status qwen_chat_render_json(const char* messages_json, const char* tools_json, uint32_t flags,
                                           char* buf, size_t capacity, size_t* len) {
    return guarded(__func__, [&] {
        QWEN_REQUIRE_ARG(messages_json != nullptr);
        QWEN_REQUIRE_ARG(buf != nullptr || capacity == 0);
        QWEN_REQUIRE_ARG(len != nullptr);
        render_out(qwen::parse_json_text(messages_json, "messages_json"), tools_arg(tools_json), flags, buf, capacity,
                   len);
    });
}

}  // extern "C"
