#include "grammar/tools_grammar.hpp"

#include "core/error.hpp"

namespace qwen {

std::string tools_to_gbnf(const ordered_json& tools) {
    if (!tools.is_array() || tools.empty())
        fail(QWEN_ERR_INVALID_ARGUMENT, "tools: expected a non-empty JSON array of tool definitions");
    JsonSchemaConverter c;
    std::string calls;
    for (size_t i = 0; i < tools.size(); ++i) {
        const ordered_json& t = tools[i];
        const ordered_json& f = t.is_object() && t.contains("function") ? t["function"] : t;
        if (!f.is_object() || !f.contains("name") || !f["name"].is_string())
            fail(QWEN_ERR_INVALID_ARGUMENT, "tools[", i, "]: expected an object with a string \"name\"");
        const std::string name = f["name"].get<std::string>();
        const ordered_json params = f.contains("parameters") ? f["parameters"] : ordered_json{{"type", "object"}};
        std::string args;
        try {
            args = c.convert(params, "tool" + std::to_string(i));
        } catch (const Error& e) {
            fail(e.status(), "tools[", i, "] (", name, ") parameters: ", e.what());
        }
        const std::string call = c.add_rule("call-" + name, gbnf_literal(ordered_json(name).dump()) +
                                                                " ws \",\" ws \"\\\"arguments\\\"\" ws \":\" ws " + args);
        calls += (calls.empty() ? "" : " | ") + call;
    }
    const std::string block = c.add_rule(
        "tool-call", "\"<tool_call>\\n{\" ws \"\\\"name\\\"\" ws \":\" ws ( " + calls + " ) ws \"}\\n</tool_call>\"");
    const std::string text = c.add_rule("free-text", "[^<] .*");
    return c.text(text + " | " + block + " ( \"\\n\" " + block + " )*");
}

}  // namespace qwen
