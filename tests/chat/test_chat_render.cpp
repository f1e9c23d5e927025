// qwen_chat_render / qwen_chat_render_json on fixed conversations (expected text as Jinja
// renders Qwen2.5's template; tests/python/test_chat_template.py checks hundreds of random
// ones against Jinja itself), the buffer protocol and the errors.
#include <qwen/qwen.h>

#include <doctest/doctest.h>

#include <string>
#include <vector>

namespace {

constexpr const char* kDefaultSystem =
    "<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\n";

constexpr const char* kWeatherTool =
    R"([{"type": "function", "function": {"name": "get_weather", "description": "Weather in a city", )"
    R"("parameters": {"type": "object", "properties": {"city": {"type": "string"}, "days": {"type": "integer", )"
    R"("default": 1.0}}, "required": ["city"]}}}])";

std::string tools_block(const std::string& system) {
    return "<|im_start|>system\n" + system +
           "\n\n# Tools\n\nYou may call one or more functions to assist with the user query.\n\n"
           "You are provided with function signatures within <tools></tools> XML tags:\n<tools>\n"
           R"({"type": "function", "function": {"name": "get_weather", "description": "Weather in a city", )"
           R"("parameters": {"type": "object", "properties": {"city": {"type": "string"}, "days": {"type": "integer", )"
           R"("default": 1.0}}, "required": ["city"]}}})"
           "\n</tools>\n\nFor each function call, return a json object with function name and arguments within "
           "<tool_call></tool_call> XML tags:\n<tool_call>\n{\"name\": <function-name>, \"arguments\": "
           "<args-json-object>}\n</tool_call><|im_end|>\n";
}

struct Rendered {
    qwen_status status;
    std::string text;  // the rendering, or qwen_last_error()
};

// The buffer protocol as a C caller uses it: ask for the size, then render into a buffer of it.
template <class Call>
Rendered render_with(Call call) {
    size_t len = 0;
    qwen_status st = call(nullptr, 0, &len);
    std::string out;
    if (st == QWEN_ERR_BUFFER_TOO_SMALL) {
        out.resize(len);
        st = call(out.data(), out.size(), &len);
    }
    if (st != QWEN_OK) return {st, qwen_last_error()};
    out.resize(len);
    return {st, out};
}

Rendered render_json(const char* messages, const char* tools = nullptr, uint32_t flags = 0) {
    return render_with([&](char* buf, size_t capacity, size_t* len) {
        return qwen_chat_render_json(messages, tools, flags, buf, capacity, len);
    });
}

Rendered render(const std::vector<qwen_chat_message>& messages, const char* tools = nullptr, uint32_t flags = 0) {
    return render_with([&](char* buf, size_t capacity, size_t* len) {
        return qwen_chat_render(messages.data(), messages.size(), tools, flags, buf, capacity, len);
    });
}

// The error message of a failed JSON rendering (and checks that it failed as invalid input).
std::string error_of(const char* messages, const char* tools = nullptr) {
    Rendered r = render_json(messages, tools);
    CHECK(r.status == QWEN_ERR_INVALID_ARGUMENT);
    return r.text;
}

}  // namespace

TEST_CASE("default system prompt, generation prompt") {
    Rendered r = render_json(R"([{"role": "user", "content": "Hi"}])", nullptr, QWEN_CHAT_ADD_GENERATION_PROMPT);
    REQUIRE(r.status == QWEN_OK);
    CHECK(r.text == std::string(kDefaultSystem) + "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n");
    r = render_json(R"([{"role": "user", "content": "Hi"}])");
    CHECK(r.text == std::string(kDefaultSystem) + "<|im_start|>user\nHi<|im_end|>\n");
}

TEST_CASE("explicit system prompt and several turns") {
    const char* json = R"([{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello!"}, {"role": "user", "content": "2+2?"}])";
    const std::string expected =
        "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n"
        "<|im_start|>assistant\nHello!<|im_end|>\n<|im_start|>user\n2+2?<|im_end|>\n<|im_start|>assistant\n";
    Rendered r = render_json(json, nullptr, QWEN_CHAT_ADD_GENERATION_PROMPT);
    REQUIRE(r.status == QWEN_OK);
    CHECK(r.text == expected);
    // The same conversation as C structs.
    r = render({{"system", "Be brief.", nullptr},
                {"user", "Hi", nullptr},
                {"assistant", "Hello!", nullptr},
                {"user", "2+2?", nullptr}},
               nullptr, QWEN_CHAT_ADD_GENERATION_PROMPT);
    REQUIRE(r.status == QWEN_OK);
    CHECK(r.text == expected);
}

TEST_CASE("empty content, a system message later on, empty tools") {
    Rendered r = render_json(R"([{"role": "system", "content": ""}, {"role": "user", "content": ""},
        {"role": "system", "content": "Later."}])", "[]");
    REQUIRE(r.status == QWEN_OK);
    CHECK(r.text == "<|im_start|>system\n<|im_end|>\n<|im_start|>user\n<|im_end|>\n<|im_start|>system\nLater.<|im_end|>\n");
    CHECK(render_json(R"([{"role": "user", "content": "x"}])", "null").text ==
          std::string(kDefaultSystem) + "<|im_start|>user\nx<|im_end|>\n");
}

TEST_CASE("tools, with the default and with an explicit system prompt") {
    Rendered r = render_json(R"([{"role": "user", "content": "Weather in Paris?"}])", kWeatherTool);
    REQUIRE(r.status == QWEN_OK);
    CHECK(r.text ==
          tools_block("You are Qwen, created by Alibaba Cloud. You are a helpful assistant.") +
              "<|im_start|>user\nWeather in Paris?<|im_end|>\n");
    r = render_json(R"([{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Weather in Paris?"}])",
                    kWeatherTool);
    REQUIRE(r.status == QWEN_OK);
    CHECK(r.text == tools_block("Be brief.") + "<|im_start|>user\nWeather in Paris?<|im_end|>\n");
}

TEST_CASE("tool calls in both forms and grouped tool responses") {
    const char* calls = R"([{"type": "function", "function": {"name": "get_weather", "arguments": {"city": "Paris", "days": 2}}},
                            {"name": "get_time", "arguments": "{\"tz\": \"CET\"}"}])";
    const std::string expected =
        tools_block("Be brief.") +
        "<|im_start|>user\nWeather in Paris?<|im_end|>\n"
        "<|im_start|>assistant\n<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\", \"days\": 2}}\n</tool_call>"
        "\n<tool_call>\n{\"name\": \"get_time\", \"arguments\": \"{\\\"tz\\\": \\\"CET\\\"}\"}\n</tool_call><|im_end|>\n"
        "<|im_start|>user\n<tool_response>\n{\"temp\": 21.5}\n</tool_response>\n<tool_response>\n12:00\n</tool_response><|im_end|>\n"
        "<|im_start|>assistant\nSunny, 21.5 C.<|im_end|>\n<|im_start|>assistant\n";
    Rendered r = render({{"system", "Be brief.", nullptr},
                         {"user", "Weather in Paris?", nullptr},
                         {"assistant", nullptr, calls},
                         {"tool", R"({"temp": 21.5})", nullptr},
                         {"tool", "12:00", nullptr},
                         {"assistant", "Sunny, 21.5 C.", nullptr}},
                        kWeatherTool, QWEN_CHAT_ADD_GENERATION_PROMPT);
    REQUIRE(r.status == QWEN_OK);
    CHECK(r.text == expected);

    // Content beside the calls goes before them; an empty one is left out, as is null.
    r = render_json(R"([{"role": "assistant", "content": "Let me look.", "tool_calls": [{"name": "f", "arguments": {}}]},
                        {"role": "assistant", "content": "", "tool_calls": [{"name": "g", "arguments": null}]}])");
    REQUIRE(r.status == QWEN_OK);
    CHECK(r.text == std::string(kDefaultSystem) +
                        "<|im_start|>assistant\nLet me look.\n<tool_call>\n{\"name\": \"f\", \"arguments\": {}}\n</tool_call><|im_end|>\n"
                        "<|im_start|>assistant\n<tool_call>\n{\"name\": \"g\", \"arguments\": null}\n</tool_call><|im_end|>\n");
    // Empty tool_calls is false in Jinja: a plain assistant turn.
    CHECK(render_json(R"([{"role": "assistant", "content": "ok", "tool_calls": []}])").text ==
          std::string(kDefaultSystem) + "<|im_start|>assistant\nok<|im_end|>\n");
    // A tool response first in the conversation, then one after a user turn: each its own user turn.
    CHECK(render_json(R"([{"role": "tool", "content": "a"}, {"role": "user", "content": "u"}, {"role": "tool"}])").text ==
          std::string(kDefaultSystem) +
              "<|im_start|>user\n<tool_response>\na\n</tool_response><|im_end|>\n<|im_start|>user\nu<|im_end|>\n"
              "<|im_start|>user\n<tool_response>\n\n</tool_response><|im_end|>\n");
}

TEST_CASE("the buffer protocol") {
    const char* json = R"([{"role": "user", "content": "Hi"}])";
    const std::string expected = std::string(kDefaultSystem) + "<|im_start|>user\nHi<|im_end|>\n";
    size_t len = 0;
    CHECK(qwen_chat_render_json(json, nullptr, 0, nullptr, 0, &len) == QWEN_ERR_BUFFER_TOO_SMALL);
    CHECK(len == expected.size());
    std::string buf(expected.size() + 8, '#');
    CHECK(qwen_chat_render_json(json, nullptr, 0, buf.data(), expected.size() - 1, &len) == QWEN_ERR_BUFFER_TOO_SMALL);
    CHECK(len == expected.size());
    CHECK(buf == std::string(expected.size() + 8, '#'));  // untouched
    CHECK(std::string(qwen_last_error()).find("needs " + std::to_string(expected.size()) + " bytes") != std::string::npos);
    CHECK(qwen_chat_render_json(json, nullptr, 0, buf.data(), expected.size(), &len) == QWEN_OK);
    CHECK(len == expected.size());
    CHECK(buf == expected + "########");  // exactly len bytes written, no NUL
}

TEST_CASE("argument errors") {
    size_t len = 0;
    char buf[8];
    qwen_chat_message m{"user", "Hi", nullptr};
    CHECK(qwen_chat_render(nullptr, 1, nullptr, 0, buf, sizeof buf, &len) == QWEN_ERR_INVALID_ARGUMENT);
    CHECK(std::string(qwen_last_error()).find("qwen_chat_render") == 0);
    CHECK(qwen_chat_render(&m, 1, nullptr, 0, nullptr, 8, &len) == QWEN_ERR_INVALID_ARGUMENT);
    CHECK(qwen_chat_render(&m, 1, nullptr, 0, buf, sizeof buf, nullptr) == QWEN_ERR_INVALID_ARGUMENT);
    CHECK(qwen_chat_render_json(nullptr, nullptr, 0, buf, sizeof buf, &len) == QWEN_ERR_INVALID_ARGUMENT);
    CHECK(qwen_chat_render(&m, 1, nullptr, 0x80, buf, sizeof buf, &len) == QWEN_ERR_INVALID_ARGUMENT);
    CHECK(std::string(qwen_last_error()) == "flags has unknown bits 128");
    CHECK(qwen_chat_render(&m, 0, nullptr, 0, buf, sizeof buf, &len) == QWEN_ERR_INVALID_ARGUMENT);
    CHECK(std::string(qwen_last_error()).find("messages is empty") == 0);

    qwen_chat_message no_role{nullptr, "Hi", nullptr};
    CHECK(qwen_chat_render(&no_role, 1, nullptr, 0, buf, sizeof buf, &len) == QWEN_ERR_INVALID_ARGUMENT);
    CHECK(std::string(qwen_last_error()) == "messages[0].role is NULL");
    qwen_chat_message bad_utf8[] = {{"user", "ok", nullptr}, {"user", "caf\xc3", nullptr}};
    CHECK(qwen_chat_render(bad_utf8, 2, nullptr, 0, buf, sizeof buf, &len) == QWEN_ERR_INVALID_ARGUMENT);
    CHECK(std::string(qwen_last_error()) == "messages[1].content is not UTF-8 (byte 3)");
    qwen_chat_message bad_calls[] = {{"user", "ok", nullptr}, {"assistant", nullptr, "[{\"name\": }]"}};
    CHECK(qwen_chat_render(bad_calls, 2, nullptr, 0, buf, sizeof buf, &len) == QWEN_ERR_INVALID_ARGUMENT);
    CHECK(std::string(qwen_last_error()).find("messages[1].tool_calls: invalid JSON at byte 10") == 0);
    CHECK(qwen_chat_render(&m, 1, "[{\"type\": ]", 0, buf, sizeof buf, &len) == QWEN_ERR_INVALID_ARGUMENT);
    CHECK(std::string(qwen_last_error()).find("tools_json: invalid JSON at byte 10") == 0);
}

TEST_CASE("shapes the template cannot render") {
    CHECK(error_of(R"([{"role": "user", "content": "Hi"}, {"role": "user", "content": "x"})").find(
              "messages_json: invalid JSON at byte 68") == 0);
    CHECK(error_of(R"({"role": "user"})") == "messages is an object, not an array");
    CHECK(error_of(R"([{"role": "user", "content": "Hi"}])", R"({"type": "function"})") ==
          "tools is an object, not an array");
    // Unknown roles: the template would drop the message without a word.
    CHECK(error_of(R"([{"role": "user", "content": "Hi"}, {"role": "developer", "content": "x"}])") ==
          R"(message 1: role "developer" is not one of "system", "user", "assistant", "tool")");
    CHECK(error_of(R"([{"role": 1, "content": "x"}])") ==
          R"(message 0: role 1 is not one of "system", "user", "assistant", "tool")");
    CHECK(error_of(R"([{"content": "x"}])") == R"(message 0 has no "role")");
    CHECK(error_of(R"(["Hi"])") == "message 0 is a string, not an object");
    // Content Jinja cannot concatenate (TypeError / UndefinedError there).
    CHECK(error_of(R"([{"role": "user", "content": null}])") == "message 0 (user): content is null, not a string");
    CHECK(error_of(R"([{"role": "user"}])") == "message 0 (user): content is missing");
    CHECK(error_of(R"([{"role": "system"}])") == "message 0 (system): content is missing");
    CHECK(error_of(R"([{"role": "user", "content": "a"}, {"role": "assistant", "content": [{"type": "text"}]}])") ==
          "message 1 (assistant): content is an array, not a string");
    CHECK(error_of(R"([{"role": "assistant", "content": 5, "tool_calls": [{"name": "f", "arguments": {}}]}])") ==
          "message 0 (assistant): content is a number, not a string");
    // Content Jinja would print as str(value): "None", "[...]" - refused.
    CHECK(error_of(R"([{"role": "tool", "content": null}])") == "message 0 (tool): content is null, not a string");
    CHECK(error_of(R"([{"role": "system", "content": ["x"]}])", kWeatherTool) ==
          "message 0 (system): content is an array, not a string");
    CHECK(error_of(R"([{"role": "assistant", "tool_calls": [{"name": 3, "arguments": {}}]}])") ==
          "message 0 (assistant): tool_calls[0].name is a number, not a string");
    // Tool calls tojson cannot write.
    CHECK(error_of(R"([{"role": "assistant", "tool_calls": [{"name": "f"}]}])") ==
          R"(message 0 (assistant): tool_calls[0] has no "arguments")");
    CHECK(error_of(R"([{"role": "assistant", "tool_calls": [{"function": {"name": "f", "args": {}}}]}])") ==
          R"(message 0 (assistant): tool_calls[0].function has no "arguments")");
    CHECK(error_of(R"([{"role": "assistant", "tool_calls": [{"function": null, "arguments": {}}]}])") ==
          R"(message 0 (assistant): tool_calls[0].function has no "arguments")");
    CHECK(error_of(R"([{"role": "assistant", "tool_calls": "call"}])") ==
          "message 0 (assistant): tool_calls is a string, not an array");
}

TEST_CASE("what Jinja renders from odd but valid shapes") {
    // A missing name is Undefined: printed as nothing. Falsy content beside calls is skipped.
    CHECK(render_json(R"([{"role": "assistant", "content": 0, "tool_calls": [{"arguments": [1.5, "x"]}]}])").text ==
          std::string(kDefaultSystem) +
              "<|im_start|>assistant\n<tool_call>\n{\"name\": \"\", \"arguments\": [1.5, \"x\"]}\n</tool_call><|im_end|>\n");
    // tool_calls on a user message is ignored; false tool_calls make a plain assistant turn.
    CHECK(render_json(R"([{"role": "user", "content": "u", "tool_calls": [1]},
                          {"role": "assistant", "content": "a", "tool_calls": null}])").text ==
          std::string(kDefaultSystem) + "<|im_start|>user\nu<|im_end|>\n<|im_start|>assistant\na<|im_end|>\n");
    // A leading system message without content, with tools: Undefined prints nothing.
    CHECK(render_json(R"([{"role": "system"}])", kWeatherTool).text == tools_block(""));
    // Any JSON values as tools, written with tojson.
    CHECK(render_json(R"([{"role": "user", "content": "u"}])", R"([1, "two", null])").text.find(
              "<tools>\n1\n\"two\"\nnull\n</tools>") != std::string::npos);
}
