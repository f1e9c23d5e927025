// The structured-output section of the C API: JSON Schema and tool grammars as GBNF text, and
// tool calls read back out of an answer.
#include "api/guard.hpp"
#include "chat/json_text.hpp"
#include "chat/tool_calls.hpp"
#include "grammar/json_schema.hpp"
#include "grammar/tools_grammar.hpp"

using qwen::guarded;
using Json = nlohmann::ordered_json;

namespace {

// JSON text in, a grammar out through the buffer protocol.
template <class Convert>
qwen_status grammar_of(const char* api, const char* json, const char* what, Convert convert, char* buf,
                       size_t capacity, size_t* len) {
    return guarded(api, [&] {
        QWEN_REQUIRE_ARG(json != nullptr);
        QWEN_REQUIRE_ARG(buf != nullptr || capacity == 0);
        QWEN_REQUIRE_ARG(len != nullptr);
        qwen::write_out(convert(qwen::parse_json_text(json, what)), buf, capacity, len, "the grammar");
    });
}

}  // namespace

extern "C" {

QWEN_API qwen_status qwen_json_schema_to_grammar(const char* schema_json, char* buf, size_t capacity, size_t* len) {
    return grammar_of(__func__, schema_json, "schema_json", qwen::json_schema_to_gbnf, buf, capacity, len);
}

QWEN_API qwen_status qwen_tools_grammar(const char* tools_json, char* buf, size_t capacity, size_t* len) {
    return grammar_of(__func__, tools_json, "tools_json", qwen::tools_to_gbnf, buf, capacity, len);
}

QWEN_API qwen_status qwen_parse_tool_calls(const char* text, char* buf, size_t capacity, size_t* len) {
    return guarded(__func__, [&] {
        QWEN_REQUIRE_ARG(text != nullptr);
        QWEN_REQUIRE_ARG(buf != nullptr || capacity == 0);
        QWEN_REQUIRE_ARG(len != nullptr);
        std::string content;
        Json calls = Json::array();
        for (qwen::ToolCall& c : qwen::parse_tool_calls(text, &content))
            calls.push_back({{"name", std::move(c.name)}, {"arguments", std::move(c.arguments)}});
        const Json message = {{"content", std::move(content)}, {"tool_calls", std::move(calls)}};
        // A model's text may hold ill-formed UTF-8: written as U+FFFD rather than refused.
        qwen::write_out(message.dump(-1, ' ', false, Json::error_handler_t::replace), buf, capacity, len,
                        "the tool calls");
    });
}

}  // extern "C"
