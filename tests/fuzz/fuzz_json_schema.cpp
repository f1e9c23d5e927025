// JSON Schema to GBNF on fuzzed text (qwen_json_schema_to_grammar): a schema (the first part of
// the input) and a regex (the second, as a string schema's "pattern"). Property: whatever
// compiles parses as a grammar - the compiler never hands the sampler a grammar it refuses.
#include "fuzz_util.hpp"

#include "core/error.hpp"
#include "grammar/grammar.hpp"

#include <nlohmann/json.hpp>

using namespace qwen::fuzz;

namespace {

void must_parse(const std::string& gbnf, std::string_view from) {
    try {
        qwen::parse_gbnf(gbnf);
    } catch (const qwen::Error& e) {
        bug("compiled grammar does not parse", std::string(from) + "\n" + gbnf + "\n" + e.what());
    }
}

// The schema through the C API; when it compiles, its grammar must parse.
void compile(const std::string& schema) {
    size_t len = 0;
    qwen_status s = check(qwen_json_schema_to_grammar(schema.c_str(), nullptr, 0, &len), "qwen_json_schema_to_grammar");
    if (s != QWEN_ERR_BUFFER_TOO_SMALL) return;
    std::string gbnf(len, '\0');
    s = check(qwen_json_schema_to_grammar(schema.c_str(), gbnf.data(), gbnf.size(), &len), "qwen_json_schema_to_grammar");
    require(s == QWEN_OK && len == gbnf.size(), "the size asked for fits");
    must_parse(gbnf, schema);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const auto parts = split({reinterpret_cast<const char*>(data), size}, 2);
    compile(std::string(parts[0]));  // a C string: up to the first NUL
    // The pattern as a JSON string holds it (patterns are UTF-8 text: others cannot be written).
    std::string pattern_schema;
    try {
        pattern_schema = nlohmann::json{{"type", "string"}, {"pattern", parts[1]}}.dump();
    } catch (const nlohmann::json::exception&) {
        return 0;
    }
    compile(pattern_schema);
    return 0;
}
