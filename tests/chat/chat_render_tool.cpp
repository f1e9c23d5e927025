// Test driver for tests/python/test_chat_template.py (built with the tests, never installed):
// renders conversations through qwen_chat_render_json so that Python can compare the result
// with Jinja's rendering of the real template.
//
//   chat_render_tool            stdin: one JSON object {"messages", "tools"?, "add_generation_prompt"?};
//                               stdout: the rendering; exit 1 with the error on stderr
//   chat_render_tool --jsonl    stdin: one such object per line; stdout: one line per case,
//                               {"text": ...} or {"status": ..., "error": ...}
// "messages" and "tools" are JSON values, or strings holding JSON text that is passed on
// byte for byte (so the parser's own checks are exercised too).
#include <qwen/qwen.h>

#include <nlohmann/json.hpp>

#include <iostream>
#include <iterator>
#include <string>

namespace {

using Json = nlohmann::ordered_json;

struct Result {
    qwen_status status;
    std::string text;  // the rendering, or the error message
};

Result render(const Json& request) {
    auto text_of = [](const Json& v) { return v.is_string() ? v.get<std::string>() : v.dump(); };
    std::string messages = text_of(request.at("messages"));
    bool has_tools = request.contains("tools") && !request["tools"].is_null();
    std::string tools = has_tools ? text_of(request["tools"]) : std::string();
    uint32_t flags = request.value("add_generation_prompt", false) ? QWEN_CHAT_ADD_GENERATION_PROMPT : 0u;
    // The buffer protocol as a C caller uses it: ask for the size, then render.
    size_t len = 0;
    qwen_status st = qwen_chat_render_json(messages.c_str(), has_tools ? tools.c_str() : nullptr, flags, nullptr, 0, &len);
    std::string out;
    if (st == QWEN_ERR_BUFFER_TOO_SMALL) {
        out.resize(len);
        st = qwen_chat_render_json(messages.c_str(), has_tools ? tools.c_str() : nullptr, flags, out.data(), out.size(), &len);
    }
    if (st != QWEN_OK) return {st, qwen_last_error()};
    out.resize(len);
    return {st, out};
}

int run(bool jsonl) {
    if (!jsonl) {
        std::string input(std::istreambuf_iterator<char>(std::cin), {});
        Result r = render(Json::parse(input));
        if (r.status != QWEN_OK) {
            std::cerr << qwen_status_name(r.status) << ": " << r.text << "\n";
            return 1;
        }
        std::cout << r.text;
        return 0;
    }
    std::string line;
    while (std::getline(std::cin, line)) {
        Result r = render(Json::parse(line));
        Json out = r.status == QWEN_OK ? Json{{"text", r.text}}
                                       : Json{{"status", qwen_status_name(r.status)}, {"error", r.text}};
        std::cout << out.dump(-1, ' ', false, Json::error_handler_t::replace) << "\n";
    }
    return 0;
}
}  // namespace

int main(int argc, char** argv) {
    try {
        return run(argc > 1 && std::string(argv[1]) == "--jsonl");
    } catch (const std::exception& e) {  // a malformed request line
        std::cerr << "chat_render_tool: " << e.what() << "\n";
        return 2;
    }
}
