// JSON Schema to GBNF, so that everything the grammar allows is JSON the schema accepts.
//
// Supported (anything else that constrains values is an error naming the keyword and its JSON
// pointer; annotations such as title, description, examples, default, $schema, $id, $comment
// are ignored):
//   type (one or a list), const, enum, anyOf, oneOf (generated as anyOf: its branches should
//   not overlap), allOf of object schemas (merged), $ref to "#", "#/$defs/..." and
//   "#/definitions/..." (recursion included), $defs / definitions;
//   objects: properties (written in schema order; the required ones always, the others
//   optionally), required, additionalProperties false / true / absent (only the declared
//   properties are written: a valid subset), or a schema when there are no properties (a map);
//   an object schema without properties is any object;
//   arrays: items, minItems, maxItems;  strings: minLength, maxLength, pattern (see
//   regex_to_gbnf), format date, time, date-time, uuid, email;
//   integers: minimum, maximum, exclusiveMinimum, exclusiveMaximum (numbers: none of them).
// Numbers have at most 16 integer and 16 fraction digits, and whitespace between tokens is
// bounded (one space, or a newline and up to 20 spaces or tabs), so a model cannot loop
// forever inside a number or in whitespace.
#pragma once

#include <nlohmann/json.hpp>

#include <map>
#include <string>
#include <string_view>

namespace qwen {

using ordered_json = nlohmann::ordered_json;

// The GBNF text for `schema` (true or {}: any JSON value). Throws
// Error(QWEN_ERR_INVALID_ARGUMENT) "json_schema: <what> at <pointer>".
std::string json_schema_to_gbnf(const ordered_json& schema);

// A GBNF literal ("...") for these bytes.
std::string gbnf_literal(std::string_view bytes);

// An ECMAScript regular expression (the subset: literals, escapes \d \w \s \D \W \S and of
// punctuation, classes, ., groups, |, * + ? {m} {m,} {m,n}, anchors ^ $ at the ends) as a GBNF
// expression for the contents of a JSON string matching it (the regex applies to the decoded
// string, so a " in the pattern is written \"). Without ^ or $ the match may have anything
// around it. Characters that JSON must escape are left out of classes and of `.`.
// Throws Error(QWEN_ERR_INVALID_ARGUMENT) naming the offset and `pointer`.
std::string regex_to_gbnf(std::string_view pattern, const std::string& pointer);

// Builds one grammar from several schemas (each with its own "#" for $ref).
class JsonSchemaConverter {
public:
    JsonSchemaConverter();
    // A GBNF expression for values of `schema`, whose document (for "#" references) is
    // `document`; `prefix` keeps the rule names of different documents apart.
    std::string convert(const ordered_json& document, const std::string& prefix);
    // Adds a rule; returns its name (made unique from `hint`).
    std::string add_rule(const std::string& hint, const std::string& body);
    // The text: `root ::= <root_body>` and every rule added.
    std::string text(const std::string& root_body) const;

private:
    std::string visit(const ordered_json& schema, const std::string& pointer, const std::string& hint);
    std::string visit_object(const ordered_json& schema, const std::string& pointer, const std::string& hint);
    std::string visit_array(const ordered_json& schema, const std::string& pointer, const std::string& hint);
    std::string visit_string(const ordered_json& schema, const std::string& pointer);
    std::string visit_integer(const ordered_json& schema, const std::string& pointer);
    std::string visit_ref(const std::string& ref, const std::string& pointer);
    // The node a local $ref ("#", "#/a/b") points to in the current document.
    const ordered_json& resolve(const ordered_json& ref, const std::string& pointer) const;

    const ordered_json* document_ = nullptr;
    std::string prefix_;
    std::map<std::string, std::string> rules_;      // name -> body
    std::map<std::string, std::string> ref_rules_;  // prefix + pointer -> rule name
};

}  // namespace qwen
