// Reading <tool_call> blocks back out of an answer (chat/tool_calls.hpp).
#include "chat/chat_template.hpp"
#include "chat/tool_calls.hpp"

#include <doctest/doctest.h>

using Json = nlohmann::ordered_json;
using qwen::parse_tool_calls;

namespace {

// What the model writes after "<|im_start|>assistant\n" for this message, as the template
// renders it, up to <|im_end|>.
std::string answer_of(const Json& message) {
    std::string text = qwen::render_chat(Json::array({message}), nullptr, false);
    const std::string start = "<|im_start|>assistant";
    size_t from = text.find(start) + start.size();
    if (text[from] == '\n') ++from;
    return text.substr(from, text.rfind("<|im_end|>") - from);
}

}  // namespace

TEST_CASE("calls rendered by the template parse back to the same message") {
    const Json calls = Json::parse(R"([{"name": "get_weather", "arguments": {"city": "東京", "days": 2, "x": [1.5, null]}},
                                       {"name": "get_time", "arguments": {}}])");
    for (const char* content : {"Let me check.", "", "Two lines\n\nof text"}) {
        CAPTURE(content);
        Json message = {{"role", "assistant"}, {"content", content}, {"tool_calls", calls}};
        std::string answer = answer_of(message);
        std::string rest = "unset";
        auto parsed = parse_tool_calls(answer, &rest);
        REQUIRE(parsed.size() == 2);
        CHECK(rest == content);
        Json again = Json::array();
        for (const auto& c : parsed) again.push_back({{"name", c.name}, {"arguments", c.arguments}});
        CHECK(again == calls);
        CHECK(answer_of({{"role", "assistant"}, {"content", rest}, {"tool_calls", again}}) == answer);
    }
}

TEST_CASE("text without calls is all content") {
    std::string rest;
    CHECK(parse_tool_calls("Hello <b>there</b>\n", &rest).empty());
    CHECK(rest == "Hello <b>there</b>\n");
    CHECK(parse_tool_calls("", &rest).empty());
    CHECK(rest.empty());
    CHECK(parse_tool_calls("no content wanted", nullptr).empty());
}

TEST_CASE("what counts as a call") {
    std::string rest;
    // Whitespace inside the block is free; arguments may be absent ({}), a string or any value.
    auto calls = parse_tool_calls(R"(<tool_call>  {"name": "a"}</tool_call><tool_call>
{"arguments": "{\"k\": 1}", "name": "b"}

</tool_call>)",
                                  &rest);
    REQUIRE(calls.size() == 2);
    CHECK(calls[0].name == "a");
    CHECK(calls[0].arguments == Json::object());
    CHECK(calls[1].name == "b");
    CHECK(calls[1].arguments == "{\"k\": 1}");
    CHECK(rest.empty());

    // Malformed blocks stay in the content, word for word.
    const char* bad = "A <tool_call>\n{\"name\": \"f\", \"arguments\": {\n</tool_call> B "
                      "<tool_call>{\"arguments\": {}}</tool_call><tool_call>[1]</tool_call>"
                      "<tool_call>{\"name\": 7}</tool_call><tool_call>{\"name\": \"f\"} x</tool_call>";
    CHECK(parse_tool_calls(bad, &rest).empty());
    CHECK(rest == bad);

    // The last block may be left open; an open block that is not JSON is content.
    calls = parse_tool_calls("Sure.\n<tool_call>\n{\"name\": \"f\", \"arguments\": {\"q\": \"x\"}}\n", &rest);
    REQUIRE(calls.size() == 1);
    CHECK(calls[0].arguments == Json{{"q", "x"}});
    CHECK(rest == "Sure.");
    calls = parse_tool_calls("Sure.\n<tool_call>\n{\"name\": \"f\", \"argu", &rest);
    CHECK(calls.empty());
    CHECK(rest == "Sure.\n<tool_call>\n{\"name\": \"f\", \"argu");
}

TEST_CASE("content around and between calls") {
    std::string rest;
    auto calls = parse_tool_calls(
        "Before.\n<tool_call>\n{\"name\": \"a\"}\n</tool_call>\n\nBetween.\n<tool_call>{\"name\": \"b\"}</tool_call>  After.  ",
        &rest);
    REQUIRE(calls.size() == 2);
    CHECK(rest == "Before.\nBetween.\nAfter.  ");
    // A malformed block between two calls stays, its surrounding whitespace towards the calls dropped.
    calls = parse_tool_calls("<tool_call>{\"name\": \"a\"}</tool_call>\n<tool_call>oops</tool_call>\n"
                             "<tool_call>{\"name\": \"b\"}</tool_call>",
                             &rest);
    REQUIRE(calls.size() == 2);
    CHECK(rest == "<tool_call>oops</tool_call>");
}

TEST_CASE("a call nested deeper than the JSON limit is content, not a stack overflow") {
    const std::string deep = std::string(100000, '[') + std::string(100000, ']');
    const std::string text = "<tool_call>\n{\"name\": \"f\", \"arguments\": " + deep + "}\n</tool_call>";
    std::string content;
    CHECK(parse_tool_calls(text, &content).empty());
    CHECK(content == text);
    const std::string ok = "<tool_call>\n{\"name\": \"f\", \"arguments\": {\"a\": " + std::string(100, '[') +
                           std::string(100, ']') + "}}\n</tool_call>";
    CHECK(parse_tool_calls(ok, nullptr).size() == 1);
}
