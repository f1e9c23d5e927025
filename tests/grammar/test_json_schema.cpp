// JSON Schema to GBNF, keyword by keyword: documents the schema accepts match, others do not;
// keywords that are not supported are errors that name them.
#include "grammar/json_schema.hpp"
#include "grammar/tools_grammar.hpp"
#include "grammar_test_util.hpp"

using namespace grammartest;
using qwen::ordered_json;

namespace {

std::shared_ptr<const qwen::Grammar> schema(const char* json) {
    return gbnf(qwen::json_schema_to_gbnf(ordered_json::parse(json)));
}

std::string schema_error(const char* json) {
    return error_of([&] { qwen::json_schema_to_gbnf(ordered_json::parse(json)); });
}

// A string schema with this pattern.
std::string cat_pattern(const std::string& pattern) {
    return ordered_json{{"type", "string"}, {"pattern", pattern}}.dump();
}

}  // namespace

TEST_CASE("json_schema: any value") {
    for (const char* any : {"true", "{}"}) {
        auto g = schema(any);
        for (const char* ok : {"1", "-0.5e+3", "\"a\\u00e9\\n\"", "true", "null", "[]", "[1, [2, {}]]",
                               "{\"a\": {\"b\": [null]}, \"c\": \"\"}", "{\n  \"a\": 1\n}"})
            CHECK_MESSAGE(matches(g, ok), ok);
        for (const char* bad : {"01", "1.", "\"a", "[1,]", "{\"a\" 1}", "{a: 1}", "\"\x01\"", "tru", "[1]  ",
                                "{\"a\":                         1}"})
            CHECK_MESSAGE(!matches(g, bad), bad);
    }
}

TEST_CASE("json_schema: object properties, required, optional in schema order") {
    auto g = schema(R"({"type": "object", "properties": {"a": {"type": "integer"}, "b": {"type": "string"},
                        "c": {"type": "boolean"}}, "required": ["b"], "additionalProperties": false})");
    for (const char* ok : {"{\"b\": \"x\"}", "{\"a\": 1, \"b\": \"x\"}", "{\"b\": \"x\", \"c\": true}",
                           "{\"a\": -5, \"b\": \"\", \"c\": false}"})
        CHECK_MESSAGE(matches(g, ok), ok);
    for (const char* bad : {"{}", "{\"a\": 1}", "{\"b\": \"x\", \"a\": 1}", "{\"b\": 1}", "{\"b\": \"x\", \"d\": 1}",
                            "{\"b\": \"x\",}", "{\"a\": 1.5, \"b\": \"x\"}"})
        CHECK_MESSAGE(!matches(g, bad), bad);
}

TEST_CASE("json_schema: nested objects, arrays with bounds, enum, const, null") {
    auto g = schema(R"({"type": "object", "properties": {
        "tags": {"type": "array", "items": {"enum": ["x", "y", 3]}, "minItems": 1, "maxItems": 2},
        "inner": {"type": "object", "properties": {"k": {"const": {"z": [1]}}}, "required": ["k"]},
        "n": {"type": ["null", "number"]}}, "required": ["tags", "inner", "n"]})");
    CHECK(matches(g, R"({"tags": ["x"], "inner": {"k": {"z":[1]}}, "n": null})"));
    CHECK(matches(g, R"({"tags": [3, "y"], "inner": {"k": {"z":[1]}}, "n": 2.5})"));
    CHECK_FALSE(matches(g, R"({"tags": [], "inner": {"k": {"z":[1]}}, "n": null})"));
    CHECK_FALSE(matches(g, R"({"tags": ["x", "y", "x"], "inner": {"k": {"z":[1]}}, "n": null})"));
    CHECK_FALSE(matches(g, R"({"tags": ["z"], "inner": {"k": {"z":[1]}}, "n": null})"));
    CHECK_FALSE(matches(g, R"({"tags": ["x"], "inner": {"k": {"z":[2]}}, "n": null})"));
    CHECK_FALSE(matches(g, R"({"tags": ["x"], "inner": {"k": {"z":[1]}}, "n": "1"})"));
}

TEST_CASE("json_schema: strings with lengths, patterns, formats") {
    auto len = schema(R"({"type": "string", "minLength": 2, "maxLength": 3})");
    CHECK(matches(len, "\"ab\""));
    CHECK(matches(len, "\"a\\nb\""));  // an escape is one character
    CHECK_FALSE(matches(len, "\"a\""));
    CHECK_FALSE(matches(len, "\"abcd\""));
    auto pat = schema(R"({"type": "string", "pattern": "^[A-Z]{2}-\\d+(\\.\\d)?$"})");
    CHECK(matches(pat, "\"AB-12\""));
    CHECK(matches(pat, "\"XY-1.5\""));
    CHECK_FALSE(matches(pat, "\"ab-12\""));
    CHECK_FALSE(matches(pat, "\"AB-\""));
    auto alt = schema(R"({"pattern": "^(cat|dog)s?$"})");
    CHECK(matches(alt, "\"dogs\""));
    CHECK_FALSE(matches(alt, "\"cow\""));
    auto unanchored = schema(R"({"type": "string", "pattern": "ab"})");
    CHECK(matches(unanchored, "\"xxabyy\""));
    CHECK_FALSE(matches(unanchored, "\"xxa\""));
    auto quote = schema(R"({"type": "string", "pattern": "^[ -~]+$"})");  // the class holds " and a backslash
    CHECK(matches(quote, "\"a b\""));
    CHECK_FALSE(matches(quote, "\"a\"b\""));
    CHECK(matches(schema(R"({"type": "string", "format": "date"})"), "\"2024-02-29\""));
    CHECK_FALSE(matches(schema(R"({"type": "string", "format": "date"})"), "\"2024-13-01\""));
    CHECK(matches(schema(R"({"type": "string", "format": "date-time"})"), "\"2024-02-29T23:59:01.5Z\""));
    CHECK(matches(schema(R"({"type": "string", "format": "time"})"), "\"10:00:00+02:00\""));
    CHECK(matches(schema(R"({"type": "string", "format": "uuid"})"), "\"123e4567-e89b-12d3-a456-426614174000\""));
    CHECK(matches(schema(R"({"type": "string", "format": "email"})"), "\"a.b@example.com\""));
    CHECK_FALSE(matches(schema(R"({"type": "string", "format": "email"})"), "\"a.b@\""));
}

TEST_CASE("json_schema: integer ranges") {
    struct Case {
        const char* schema;
        std::vector<long> in, out;
    };
    const Case cases[] = {
        {R"({"type": "integer", "minimum": 0})", {0, 1, 9, 10, 123456}, {-1, -10}},
        {R"({"type": "integer", "minimum": 17, "maximum": 342})", {17, 18, 99, 100, 299, 340, 342}, {16, 9, 343, 400, 1000}},
        {R"({"type": "integer", "minimum": -25, "maximum": 7})", {-25, -9, -10, -1, 0, 7}, {-26, -30, 8, 10}},
        {R"({"type": "integer", "exclusiveMinimum": 0, "exclusiveMaximum": 10})", {1, 9}, {0, 10}},
        {R"({"type": "integer", "maximum": -3})", {-3, -4, -100}, {-2, 0, 5}},
        {R"({"type": "integer", "minimum": 1.5, "maximum": 3.5})", {2, 3}, {1, 4}},
    };
    for (const Case& c : cases) {
        auto g = schema(c.schema);
        for (long v : c.in) CHECK_MESSAGE(matches(g, std::to_string(v)), c.schema, " ", v);
        for (long v : c.out) CHECK_MESSAGE(!matches(g, std::to_string(v)), c.schema, " ", v);
        CHECK_FALSE(matches(g, "05"));
    }
    CHECK(schema_error(R"({"type": "integer", "minimum": 5, "maximum": 4})").find("empty") != std::string::npos);
}

TEST_CASE("json_schema: anyOf, oneOf, allOf, $ref with recursion") {
    auto any = schema(R"({"anyOf": [{"type": "integer"}, {"type": "string", "maxLength": 1}]})");
    CHECK(matches(any, "5"));
    CHECK(matches(any, "\"a\""));
    CHECK_FALSE(matches(any, "\"ab\""));
    auto one = schema(R"({"oneOf": [{"type": "boolean"}, {"type": "null"}]})");
    CHECK(matches(one, "null"));
    auto all = schema(R"({"allOf": [{"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"]},
                                    {"$ref": "#/$defs/b"}], "$defs": {"b": {"properties": {"b": {"type": "null"}},
                                    "required": ["b"]}}})");
    CHECK(matches(all, "{\"a\": 1, \"b\": null}"));
    CHECK_FALSE(matches(all, "{\"a\": 1}"));
    auto tree = schema(R"({"$ref": "#/definitions/node", "definitions": {"node": {"type": "object",
        "properties": {"v": {"type": "integer"}, "kids": {"type": "array", "items": {"$ref": "#/definitions/node"}}},
        "required": ["v"], "additionalProperties": false}}})");
    CHECK(matches(tree, R"({"v": 1, "kids": [{"v": 2}, {"v": 3, "kids": [{"v": 4, "kids": []}]}]})"));
    CHECK_FALSE(matches(tree, R"({"v": 1, "kids": [{"w": 2}]})"));
    auto self = schema(R"({"type": "object", "properties": {"next": {"$ref": "#"}}})");
    CHECK(matches(self, R"({"next": {"next": {}}})"));
}

TEST_CASE("json_schema: maps (additionalProperties schema without properties)") {
    auto g = schema(R"({"type": "object", "additionalProperties": {"type": "integer"}})");
    CHECK(matches(g, "{\"x\": 1, \"y\": 2}"));
    CHECK_FALSE(matches(g, "{\"x\": \"1\"}"));
    CHECK(matches(schema(R"({"type": "object", "additionalProperties": false})"), "{}"));
}

TEST_CASE("json_schema: unsupported keywords are errors naming keyword and pointer") {
    CHECK(schema_error(R"({"type": "array", "uniqueItems": true})") ==
          "json_schema: unsupported keyword 'uniqueItems' at / (or it does not apply to the schema's type)");
    CHECK(schema_error(R"({"properties": {"a": {"type": "number", "multipleOf": 2}}})").find("'multipleOf' at /properties/a") !=
          std::string::npos);
    CHECK(schema_error(R"({"type": "number", "minimum": 0})").find("'minimum' at /") != std::string::npos);
    CHECK(schema_error(R"({"type": "string", "format": "ipv4"})").find("unsupported format") != std::string::npos);
    CHECK(schema_error(R"({"$ref": "https://example.com/s.json"})").find("only local references") != std::string::npos);
    CHECK(schema_error(R"({"$ref": "#/$defs/nope"})").find("points to nothing") != std::string::npos);
    CHECK(schema_error(R"({"type": "string", "pattern": "^a(?=b)$"})").find("lookaround") != std::string::npos);
    CHECK(schema_error(R"({"type": "string", "pattern": "\\bword"})").find("unsupported escape \\b") != std::string::npos);
    CHECK(schema_error(R"({"type": "frob"})").find("unknown type 'frob' at /type") != std::string::npos);
    CHECK(schema_error(R"({"items": {"not": {}}})").find("'not' at /items") != std::string::npos);
    CHECK(schema_error("false").find("accepts nothing") != std::string::npos);
    // Annotations are fine.
    CHECK(schema_error(R"({"title": "t", "description": "d", "$schema": "x", "examples": [1], "type": "null"})") == "");
}

TEST_CASE("tools grammar: free text or calls of the declared tools") {
    auto g = gbnf(qwen::tools_to_gbnf(ordered_json::parse(R"([
        {"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object",
            "properties": {"city": {"type": "string"}}, "required": ["city"]}}},
        {"name": "now"}])")));
    CHECK(matches(g, "It is sunny."));
    CHECK(matches(g, "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}\n</tool_call>"));
    CHECK(matches(g, "<tool_call>\n{\"name\": \"now\", \"arguments\": {}}\n</tool_call>\n<tool_call>\n{\"name\": "
                     "\"now\", \"arguments\": {\"tz\": 1}}\n</tool_call>"));
    CHECK_FALSE(matches(g, "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {}}\n</tool_call>"));
    CHECK_FALSE(matches(g, "<tool_call>\n{\"name\": \"other\", \"arguments\": {}}\n</tool_call>"));
    CHECK_FALSE(matches(g, "<tool_call>\nhello"));
    CHECK(error_of([] { qwen::tools_to_gbnf(ordered_json::parse(R"([{"function": {}}])")); }).find("tools[0]") !=
          std::string::npos);
}

TEST_CASE("json_schema: nested arrays do not double the grammar per level") {
    // Every level used to write its item twice: 30 levels of "items" made a gigabyte of text.
    auto nested_items = [](int depth) {
        std::string s;
        for (int i = 0; i < depth; ++i) s += "{\"items\": ";
        s += "{\"type\": \"integer\"}";
        for (int i = 0; i < depth; ++i) s += "}";
        return s;
    };
    // Twice as deep is at most four times as long (the rule names grow with the depth).
    const size_t g20 = qwen::json_schema_to_gbnf(ordered_json::parse(nested_items(20))).size();
    const size_t g40 = qwen::json_schema_to_gbnf(ordered_json::parse(nested_items(40))).size();
    CHECK(g40 < 4 * g20);
    const auto g = schema(nested_items(3).c_str());
    CHECK(matches(g, "[[[1, 2], []], [[3]]]"));
    CHECK(!matches(g, "[[1]]"));
}

TEST_CASE("json_schema: what compiles also parses (inputs found by fuzz_json_schema)") {
    // A pattern repetition with its maximum below its minimum used to pass through into a
    // grammar that parse_gbnf refused.
    CHECK(schema_error(R"({"type": "string", "pattern": "^[A-Z]{4,3}$"})").find("below its minimum") != std::string::npos);
    for (const char* bad : {"a{,}", "a{1,2,3}", "a{}", "a{99999}"})
        CHECK(schema_error(cat_pattern(bad).c_str()).find("bad repetition") != std::string::npos);
    CHECK(matches(schema(R"({"type": "string", "pattern": "^a{2,3}$"})"), "\"aaa\""));
    // An unbounded repetition of something that can be empty made a left-recursive grammar.
    for (const char* bad : {"(|[b-f]+)*\\d", "(a?)*", "(a*|b)+", "(()){2,}"})
        CHECK(schema_error(cat_pattern(bad).c_str()).find("can be empty") != std::string::npos);
    CHECK(matches(schema(R"({"type": "string", "pattern": "^(a?){0,3}(ab)*$"})"), "\"aaab\""));
    // Deep regex groups and deep anyOf: a clear error, or a grammar that parses.
    CHECK(schema_error(cat_pattern(std::string(150, '(') + "a" + std::string(150, ')')).c_str()).find("nested deeper") !=
          std::string::npos);
    std::string any;
    for (int i = 0; i < 250; ++i) any += "{\"anyOf\": [{\"type\": \"null\"}, ";
    any += "{\"type\": \"integer\"}";
    for (int i = 0; i < 250; ++i) any += "]}";
    CHECK(matches(schema(any.c_str()), "12"));
}
