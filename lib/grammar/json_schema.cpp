#include "grammar/json_schema.hpp"

#include "core/error.hpp"

#include <cmath>
#include <cstdio>
#include <optional>
#include <set>
#include <vector>

namespace qwen {

namespace {

// The building blocks every schema grammar shares. The string characters are JSON's: no raw
// control characters, escapes as RFC 8259 lists them.
constexpr const char* kBaseRules = R"(ws ::= ( " " | "\n" [ \t]{0,20} )?
value ::= object | array | string | number | "true" | "false" | "null"
object ::= "{" ws ( member ( "," ws member )* )? "}"
member ::= string ws ":" ws value ws
array ::= "[" ws ( value ws ( "," ws value ws )* )? "]"
string ::= "\"" char* "\""
char ::= [^"\\\x00-\x1f] | "\\" ( ["\\/bfnrt] | "u" [0-9a-fA-F]{4} )
integer ::= "-"? ( "0" | [1-9] [0-9]{0,15} )
number ::= integer ( "." [0-9]{1,16} )? ( [eE] [-+]? [0-9]{1,3} )?
boolean ::= "true" | "false"
null ::= "null"
date ::= [0-9]{4} "-" ( "0" [1-9] | "1" [0-2] ) "-" ( "0" [1-9] | [12] [0-9] | "3" [01] )
time ::= ( [01] [0-9] | "2" [0-3] ) ":" [0-5] [0-9] ":" [0-5] [0-9] ( "." [0-9]{1,6} )? ( "Z" | [+-] ( [01] [0-9] | "2" [0-3] ) ":" [0-5] [0-9] )
uuid ::= [0-9a-f]{8} "-" [0-9a-f]{4} "-" [0-9a-f]{4} "-" [0-9a-f]{4} "-" [0-9a-f]{12}
email ::= [a-zA-Z0-9._%+-]{1,64} "@" [a-zA-Z0-9-]{1,63} ( "." [a-zA-Z0-9-]{1,63} )* "." [a-zA-Z]{2,24}
)";

const std::set<std::string, std::less<>> kAnnotations = {
    "title", "description", "$schema", "$id", "$comment", "examples", "default", "deprecated", "readOnly", "writeOnly",
};

std::string escape_pointer(const std::string& key) {
    std::string out;
    for (char c : key) {
        if (c == '~') out += "~0";
        else if (c == '/') out += "~1";
        else out += c;
    }
    return out;
}

std::string sanitize(const std::string& hint) {
    std::string out;
    for (char c : hint) {
        const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-';
        out += ok ? c : '-';
    }
    return out.empty() ? "r" : out;
}

// The keywords of one schema object, and the check that each was understood.
class Keywords {
public:
    Keywords(const ordered_json& schema, std::string pointer) : schema_(schema), pointer_(std::move(pointer)) {}
    const ordered_json* take(std::string_view key) {
        auto it = schema_.find(key);
        if (it == schema_.end()) return nullptr;
        used_.emplace(key);
        return &*it;
    }
    bool has(std::string_view key) const { return schema_.contains(key); }
    void finish() const {
        for (auto it = schema_.begin(); it != schema_.end(); ++it)
            if (!used_.count(it.key()) && !kAnnotations.count(it.key()))
                fail(QWEN_ERR_INVALID_ARGUMENT, "json_schema: unsupported keyword '", it.key(), "' at ",
                     pointer_.empty() ? "/" : pointer_, " (or it does not apply to the schema's type)");
    }

private:
    const ordered_json& schema_;
    std::string pointer_;
    std::set<std::string, std::less<>> used_;
};

[[noreturn]] void bad(const std::string& pointer, const std::string& what) {
    fail(QWEN_ERR_INVALID_ARGUMENT, "json_schema: ", what, " at ", pointer.empty() ? "/" : pointer);
}

uint64_t count_value(const ordered_json& v, const std::string& pointer, const char* key) {
    if (!v.is_number_unsigned() && !(v.is_number_integer() && v.get<int64_t>() >= 0))
        bad(pointer + "/" + key, cat("'", key, "' must be a non-negative integer"));
    const uint64_t n = v.get<uint64_t>();
    if (n > 10000) bad(pointer + "/" + key, cat("'", key, "' above 10000 is not supported"));
    return n;
}

// "x{lo,hi}" with hi = nullopt for unbounded.
std::string repeat(const std::string& x, uint64_t lo, std::optional<uint64_t> hi) {
    if (hi && *hi == lo) return lo == 1 ? x : cat(x, "{", lo, "}");
    if (!hi) return lo == 0 ? x + "*" : lo == 1 ? x + "+" : cat(x, "{", lo, ",}");
    return lo == 0 && *hi == 1 ? x + "?" : cat(x, "{", lo, ",", *hi, "}");
}

// Decimal integers in [lo, hi] for 0 <= lo <= hi written with the same number of digits.
std::string same_length_range(const std::string& a, const std::string& b) {
    if (a.empty()) return "\"\"";
    if (a == b) return gbnf_literal(a);
    if (a[0] == b[0]) return gbnf_literal(a.substr(0, 1)) + " " + same_length_range(a.substr(1), b.substr(1));
    const size_t rest = a.size() - 1;
    const std::string any_rest = rest ? " " + repeat("[0-9]", rest, rest) : "";
    if (a.substr(1) == std::string(rest, '0') && b.substr(1) == std::string(rest, '9'))
        return cat("[", a[0], "-", b[0], "]", any_rest);
    std::string out = "( " + gbnf_literal(a.substr(0, 1)) + " " + same_length_range(a.substr(1), std::string(rest, '9'));
    if (b[0] - a[0] >= 2) out += cat(" | [", char(a[0] + 1), "-", char(b[0] - 1), "]", any_rest);
    return out + " | " + gbnf_literal(b.substr(0, 1)) + " " + same_length_range(std::string(rest, '0'), b.substr(1)) + " )";
}

// Non-negative integers in [lo, hi] (hi = nullopt: unbounded, up to 16 digits).
std::string natural_range(uint64_t lo, std::optional<uint64_t> hi) {
    constexpr size_t kMaxDigits = 16;
    std::vector<std::string> alts;
    const std::string slo = std::to_string(lo);
    const size_t max_len = hi ? std::to_string(*hi).size() : std::max(slo.size(), kMaxDigits);
    for (size_t len = slo.size(); len <= max_len; ++len) {
        const std::string first = len == slo.size() ? slo : (len == 1 ? "0" : "1" + std::string(len - 1, '0'));
        std::string last(len, '9');
        if (hi && len == max_len) last = std::to_string(*hi);
        if (!hi && len > slo.size()) {
            alts.push_back(cat("[1-9] ", repeat("[0-9]", len - 1, max_len - 1)));
            break;
        }
        alts.push_back(same_length_range(first, last));
    }
    std::string out = "( ";
    for (size_t i = 0; i < alts.size(); ++i) out += (i ? " | " : "") + alts[i];
    return out + " )";
}

}  // namespace

std::string gbnf_literal(std::string_view bytes) {
    std::string out = "\"";
    for (char ch : bytes) {
        const auto c = uint8_t(ch);
        if (c == '"' || c == '\\') {
            out += '\\';
            out += ch;
        } else if (c == '\n') {
            out += "\\n";
        } else if (c == '\t') {
            out += "\\t";
        } else if (c < 0x20 || c == 0x7F) {
            char buf[8];
            std::snprintf(buf, sizeof buf, "\\x%02X", unsigned(c));
            out += buf;
        } else {
            out += ch;
        }
    }
    return out + "\"";
}

JsonSchemaConverter::JsonSchemaConverter() = default;

std::string JsonSchemaConverter::add_rule(const std::string& hint, const std::string& body) {
    std::string name = sanitize(hint);
    for (int i = 2; rules_.count(name) || name == "root" || std::string_view(kBaseRules).find("\n" + name + " ::=") !=
                                                                std::string_view::npos || name == "ws";
         ++i)
        name = cat(sanitize(hint), "-", i);
    rules_[name] = body;
    return name;
}

std::string JsonSchemaConverter::text(const std::string& root_body) const {
    std::string out = "root ::= " + root_body + "\n" + kBaseRules;
    for (const auto& [name, body] : rules_) out += name + " ::= " + body + "\n";
    return out;
}

std::string JsonSchemaConverter::convert(const ordered_json& document, const std::string& prefix) {
    document_ = &document;
    prefix_ = prefix;
    return visit(document, "", prefix.empty() ? "schema" : prefix);
}

const ordered_json& JsonSchemaConverter::resolve(const ordered_json& ref_value, const std::string& pointer) const {
    if (!ref_value.is_string()) bad(pointer + "/$ref", "'$ref' must be a string");
    const std::string ref = ref_value.get<std::string>();
    if (ref.empty() || ref[0] != '#') bad(pointer + "/$ref", "only local references (\"#...\") are supported, not '" + ref + "'");
    const ordered_json* node = document_;
    for (size_t pos = 2; pos <= ref.size() && ref.size() > 1;) {
        const size_t end = std::min(ref.find('/', pos), ref.size());
        std::string part = ref.substr(pos, end - pos);
        for (size_t i; (i = part.find("~1")) != std::string::npos;) part.replace(i, 2, "/");
        for (size_t i; (i = part.find("~0")) != std::string::npos;) part.replace(i, 2, "~");
        if (!node->is_object() || !node->contains(part)) bad(pointer + "/$ref", "the reference '" + ref + "' points to nothing");
        node = &(*node)[part];
        pos = end + 1;
    }
    return *node;
}

std::string JsonSchemaConverter::visit_ref(const std::string& ref, const std::string& pointer) {
    const std::string key = prefix_ + ref;
    if (auto it = ref_rules_.find(key); it != ref_rules_.end()) return it->second;
    const ordered_json& node = resolve(ref, pointer);
    const std::string target = ref.substr(1);
    // Named before it is visited, so a recursive reference finds the rule.
    const std::string name = add_rule(prefix_ + "-ref" + target, "");
    ref_rules_[key] = name;
    rules_[name] = visit(node, target, name);
    return name;
}

std::string JsonSchemaConverter::visit(const ordered_json& schema, const std::string& pointer, const std::string& hint) {
    if (schema.is_boolean()) {
        if (!schema.get<bool>()) bad(pointer, "the schema false accepts nothing");
        return "value";
    }
    if (!schema.is_object()) bad(pointer, "a schema must be an object or a boolean");
    Keywords kw(schema, pointer);
    kw.take("$defs");
    kw.take("definitions");
    std::string out;
    if (const ordered_json* ref = kw.take("$ref")) {
        resolve(*ref, pointer);  // checks it
        out = visit_ref(ref->get<std::string>(), pointer);
    } else if (const ordered_json* c = kw.take("const")) {
        kw.take("type");  // the value decides
        out = gbnf_literal(c->dump());
    } else if (const ordered_json* e = kw.take("enum")) {
        kw.take("type");
        if (!e->is_array() || e->empty()) bad(pointer + "/enum", "'enum' must be a non-empty array");
        out = "( ";
        for (size_t i = 0; i < e->size(); ++i) out += (i ? " | " : "") + gbnf_literal((*e)[i].dump());
        out += " )";
    } else if (const ordered_json* any = kw.has("anyOf") ? kw.take("anyOf") : kw.take("oneOf")) {
        const std::string key = schema.contains("anyOf") ? "anyOf" : "oneOf";
        if (!any->is_array() || any->empty()) bad(pointer + "/" + key, "'" + key + "' must be a non-empty array");
        std::string alts;
        for (size_t i = 0; i < any->size(); ++i)
            alts += (i ? " | " : "") + visit((*any)[i], cat(pointer, "/", key, "/", i), cat(hint, "-", i));
        // A rule, not a group: nested anyOf would otherwise nest GBNF groups past their limit.
        out = add_rule(hint, alts);
    } else if (const ordered_json* all = kw.take("allOf")) {
        // Object schemas only: their properties and required lists merged into one object.
        if (!all->is_array() || all->empty()) bad(pointer + "/allOf", "'allOf' must be a non-empty array");
        ordered_json merged = {{"type", "object"}, {"properties", ordered_json::object()}, {"required", ordered_json::array()}};
        for (size_t i = 0; i < all->size(); ++i) {
            const ordered_json* part = &(*all)[i];
            const std::string at = cat(pointer, "/allOf/", i);
            if (part->is_object() && part->contains("$ref") && part->size() == 1) {
                part = &resolve((*part)["$ref"], at);
            }
            if (!part->is_object()) bad(at, "allOf is supported for object schemas only");
            for (auto it = part->begin(); it != part->end(); ++it) {
                if (it.key() == "properties")
                    for (auto p = it->begin(); p != it->end(); ++p) merged["properties"][p.key()] = *p;
                else if (it.key() == "required")
                    for (const auto& r : *it) merged["required"].push_back(r);
                else if (it.key() == "type" && *it == "object") continue;
                else if (it.key() == "additionalProperties") merged[it.key()] = *it;
                else if (!kAnnotations.count(it.key()))
                    bad(at, "allOf is supported for object schemas (type, properties, required, additionalProperties) only; found '" +
                                it.key() + "'");
            }
        }
        out = visit_object(merged, pointer, hint);
    } else {
        // The types: given, or implied by the keywords present.
        std::vector<std::string> types;
        if (const ordered_json* t = kw.take("type")) {
            if (t->is_string()) types.push_back(t->get<std::string>());
            else if (t->is_array() && !t->empty())
                for (const auto& x : *t) types.push_back(x.is_string() ? x.get<std::string>() : "");
            else bad(pointer + "/type", "'type' must be a string or a non-empty list of strings");
        } else if (kw.has("properties") || kw.has("required") || kw.has("additionalProperties")) {
            types.push_back("object");
        } else if (kw.has("items") || kw.has("minItems") || kw.has("maxItems")) {
            types.push_back("array");
        } else if (kw.has("minLength") || kw.has("maxLength") || kw.has("pattern") || kw.has("format")) {
            types.push_back("string");
        } else if (kw.has("minimum") || kw.has("maximum") || kw.has("exclusiveMinimum") || kw.has("exclusiveMaximum")) {
            types.push_back("integer");
        }
        if (types.empty()) out = "value";
        for (size_t i = 0; i < types.size(); ++i) {
            const std::string& t = types[i];
            std::string alt;
            if (t == "object") {
                for (const char* k : {"properties", "required", "additionalProperties"}) kw.take(k);
                alt = visit_object(schema, pointer, hint);
            } else if (t == "array") {
                for (const char* k : {"items", "minItems", "maxItems"}) kw.take(k);
                alt = visit_array(schema, pointer, hint);
            } else if (t == "string") {
                for (const char* k : {"minLength", "maxLength", "pattern", "format"}) kw.take(k);
                alt = visit_string(schema, pointer);
            } else if (t == "integer") {
                for (const char* k : {"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"}) kw.take(k);
                alt = visit_integer(schema, pointer);
            } else if (t == "number" || t == "boolean" || t == "null") {
                alt = t;
            } else {
                bad(pointer + "/type", "unknown type '" + t + "'");
            }
            out += (i ? " | " : "( ") + alt + (i + 1 == types.size() ? " )" : "");
        }
    }
    kw.finish();
    return out;
}

std::string JsonSchemaConverter::visit_object(const ordered_json& schema, const std::string& pointer, const std::string& hint) {
    const ordered_json empty = ordered_json::object();
    const ordered_json& props = schema.contains("properties") ? schema["properties"] : empty;
    if (!props.is_object()) bad(pointer + "/properties", "'properties' must be an object");
    std::set<std::string> required;
    if (schema.contains("required")) {
        const ordered_json& r = schema["required"];
        if (!r.is_array()) bad(pointer + "/required", "'required' must be an array of strings");
        for (const auto& x : r) {
            if (!x.is_string()) bad(pointer + "/required", "'required' must be an array of strings");
            required.insert(x.get<std::string>());
        }
    }
    const ordered_json* extra = schema.contains("additionalProperties") ? &schema["additionalProperties"] : nullptr;
    if (props.empty() && required.empty()) {
        // A map: any keys, every value of the additional schema (or anything).
        if (extra && extra->is_boolean() && !extra->get<bool>()) return "( \"{\" ws \"}\" )";
        const std::string v = extra && !extra->is_boolean() ? visit(*extra, pointer + "/additionalProperties", hint + "-value") : "value";
        if (v == "value") return "object";
        const std::string member = add_rule(hint + "-member", "string ws \":\" ws " + v + " ws");
        return cat("( \"{\" ws ( ", member, " ( \",\" ws ", member, " )* )? \"}\" )");
    }
    if (extra && !extra->is_boolean())
        bad(pointer + "/additionalProperties", "a schema for additionalProperties is supported only without 'properties'");
    // Declared properties in schema order, then required names the properties do not declare.
    struct Prop {
        std::string kv;
        bool required;
    };
    std::vector<Prop> list;
    for (auto it = props.begin(); it != props.end(); ++it) {
        const std::string at = pointer + "/properties/" + escape_pointer(it.key());
        const std::string v = visit(*it, at, hint + "-" + it.key());
        list.push_back({add_rule(hint + "-" + it.key() + "-kv", gbnf_literal(ordered_json(it.key()).dump()) + " ws \":\" ws " + v + " ws"),
                        required.count(it.key()) > 0});
    }
    for (const std::string& r : required)
        if (!props.contains(r))
            list.push_back({add_rule(hint + "-" + r + "-kv", gbnf_literal(ordered_json(r).dump()) + " ws \":\" ws value ws"), true});
    // after[i]: what may follow once something was written, from property i on;
    // first[i]: the same when nothing was written yet (no comma before the first).
    std::string after = "\"\"", first = "\"\"";
    for (size_t i = list.size(); i-- > 0;) {
        const Prop& p = list[i];
        const std::string next_after = after, next_first = first;
        const std::string with = "\",\" ws " + p.kv + " " + next_after;
        after = add_rule(hint + "-after-" + std::to_string(i), p.required ? with : "( " + with + " )?" + " " + next_after);
        const std::string start = p.kv + " " + next_after;
        first = add_rule(hint + "-first-" + std::to_string(i), p.required ? start : start + " | " + next_first);
    }
    return "( \"{\" ws " + first + " \"}\" )";
}

std::string JsonSchemaConverter::visit_array(const ordered_json& schema, const std::string& pointer, const std::string& hint) {
    std::string item = schema.contains("items") ? visit(schema["items"], pointer + "/items", hint + "-item") : "value";
    // The item is written twice below: an expression becomes a rule, or every level of nested
    // arrays would double the grammar (30 levels of "items" made a gigabyte).
    if (item.find_first_of(" ([\"") != std::string::npos) item = add_rule(hint + "-item", item);
    const uint64_t lo = schema.contains("minItems") ? count_value(schema["minItems"], pointer, "minItems") : 0;
    std::optional<uint64_t> hi;
    if (schema.contains("maxItems")) hi = count_value(schema["maxItems"], pointer, "maxItems");
    if (hi && *hi < lo) bad(pointer, "maxItems is below minItems");
    if (hi && *hi == 0) return "( \"[\" ws \"]\" )";
    const std::string rest = "( \",\" ws " + item + " ws )";
    const std::string items =
        item + " ws " + repeat(rest, lo ? lo - 1 : 0, hi ? std::optional<uint64_t>(*hi - 1) : std::nullopt);
    return "( \"[\" ws " + (lo ? items : "( " + items + " )?") + " \"]\" )";
}

std::string JsonSchemaConverter::visit_string(const ordered_json& schema, const std::string& pointer) {
    if (schema.contains("format")) {
        const ordered_json& f = schema["format"];
        const std::string name = f.is_string() ? f.get<std::string>() : "";
        std::string body;
        if (name == "date" || name == "time" || name == "uuid" || name == "email") body = name;
        else if (name == "date-time") body = "date \"T\" time";
        else bad(pointer + "/format", "unsupported format '" + f.dump() + "'");
        if (schema.contains("pattern") || schema.contains("minLength") || schema.contains("maxLength"))
            bad(pointer, "'format' cannot be combined with pattern, minLength or maxLength");
        return "( \"\\\"\" " + body + " \"\\\"\" )";
    }
    if (schema.contains("pattern")) {
        const ordered_json& p = schema["pattern"];
        if (!p.is_string()) bad(pointer + "/pattern", "'pattern' must be a string");
        if (schema.contains("minLength") || schema.contains("maxLength"))
            bad(pointer, "'pattern' cannot be combined with minLength or maxLength");
        return "( \"\\\"\" " + regex_to_gbnf(p.get<std::string>(), pointer + "/pattern") + " \"\\\"\" )";
    }
    const uint64_t lo = schema.contains("minLength") ? count_value(schema["minLength"], pointer, "minLength") : 0;
    std::optional<uint64_t> hi;
    if (schema.contains("maxLength")) hi = count_value(schema["maxLength"], pointer, "maxLength");
    if (hi && *hi < lo) bad(pointer, "maxLength is below minLength");
    if (lo == 0 && !hi) return "string";
    if (hi && *hi == 0) return "( \"\\\"\" \"\\\"\" )";
    return "( \"\\\"\" " + repeat("char", lo, hi) + " \"\\\"\" )";
}

std::string JsonSchemaConverter::visit_integer(const ordered_json& schema, const std::string& pointer) {
    // Bounds as integers: exclusive ones move inwards by one; fractional ones round inwards.
    auto bound = [&](const char* key, bool upper, bool exclusive) -> std::optional<int64_t> {
        if (!schema.contains(key)) return std::nullopt;
        const ordered_json& v = schema[key];
        if (!v.is_number()) bad(pointer + "/" + key, cat("'", key, "' must be a number"));
        const double d = v.get<double>();
        if (!(d > -1e15 && d < 1e15)) bad(pointer + "/" + key, cat("'", key, "' beyond +-1e15 is not supported"));
        double r = upper ? std::floor(d) : std::ceil(d);
        if (exclusive && r == d) r += upper ? -1 : 1;
        return int64_t(r);
    };
    std::optional<int64_t> lo = bound("minimum", false, false), hi = bound("maximum", true, false);
    if (auto x = bound("exclusiveMinimum", false, true)) lo = lo ? std::max(*lo, *x) : *x;
    if (auto x = bound("exclusiveMaximum", true, true)) hi = hi ? std::min(*hi, *x) : *x;
    if (!lo && !hi) return "integer";
    if (lo && hi && *lo > *hi) bad(pointer, "the integer range is empty");
    std::vector<std::string> alts;
    // Negative numbers: "-" and their magnitudes in [max(1, -hi), -lo].
    if (!lo || *lo < 0) {
        const uint64_t mlo = hi && *hi < 0 ? uint64_t(-*hi) : 1;
        std::optional<uint64_t> mhi;
        if (lo) mhi = uint64_t(-*lo);
        alts.push_back("\"-\" " + natural_range(mlo, mhi));
    }
    if (!hi || *hi >= 0) {
        std::optional<uint64_t> nhi;
        if (hi) nhi = uint64_t(*hi);
        alts.push_back(natural_range(lo && *lo > 0 ? uint64_t(*lo) : 0, nhi));
    }
    return alts.size() == 1 ? alts[0] : "( " + alts[0] + " | " + alts[1] + " )";
}

std::string json_schema_to_gbnf(const ordered_json& schema) {
    JsonSchemaConverter c;
    const std::string root = c.convert(schema, "");
    return c.text(root);
}

}  // namespace qwen
