#include "chat/tool_calls.hpp"

#include "chat/json_text.hpp"
#include "core/error.hpp"

#include <optional>

namespace qwen {

namespace {

constexpr std::string_view kOpen = "<tool_call>";
constexpr std::string_view kClose = "</tool_call>";

bool is_space(char c) { return c == ' ' || c == '\n' || c == '\r' || c == '\t'; }

std::string_view trim_left(std::string_view s) {
    while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
    return s;
}

std::string_view trim_right(std::string_view s) {
    while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
    return s;
}

std::optional<ToolCall> read_call(std::string_view body) {
    nlohmann::ordered_json j;
    try {
        j = parse_json_text(trim_right(trim_left(body)), "tool call");
    } catch (const Error&) {
        return std::nullopt;
    }
    if (!j.is_object()) return std::nullopt;
    auto name = j.find("name");
    if (name == j.end() || !name->is_string()) return std::nullopt;
    ToolCall call{name->get<std::string>(), nlohmann::ordered_json::object()};
    if (auto args = j.find("arguments"); args != j.end()) call.arguments = std::move(*args);
    return call;
}

}  // namespace

std::vector<ToolCall> parse_tool_calls(std::string_view text, std::string* content_without_calls) {
    std::vector<ToolCall> calls;
    std::string content;
    bool after_call = false;  // the text read last ended with a call taken out
    auto add_content = [&](std::string_view piece) {
        if (after_call) {
            piece = trim_left(piece);
            if (!piece.empty() && !content.empty()) content += '\n';
        }
        content += piece;
    };
    size_t pos = 0;
    while (pos < text.size()) {
        size_t open = text.find(kOpen, pos);
        if (open == std::string_view::npos) break;
        size_t body = open + kOpen.size();
        size_t close = text.find(kClose, body);
        size_t body_end = close == std::string_view::npos ? text.size() : close;
        size_t end = close == std::string_view::npos ? text.size() : close + kClose.size();
        std::optional<ToolCall> call = read_call(text.substr(body, body_end - body));
        if (!call) {  // not a call: its text stays content
            add_content(text.substr(pos, end - pos));
            after_call = false;
            pos = end;
            continue;
        }
        add_content(trim_right(text.substr(pos, open - pos)));
        calls.push_back(std::move(*call));
        after_call = true;
        pos = end;
    }
    if (pos < text.size()) add_content(text.substr(pos));
    if (content_without_calls) *content_without_calls = std::move(content);
    return calls;
}

}  // namespace qwen
