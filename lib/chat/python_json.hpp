// JSON text exactly as Python's json.dumps(value, ensure_ascii=False) writes it, which is what
// the chat template's `tojson` filter produces under transformers (a filter transformers
// defines as json.dumps(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False)):
// ", " and ": " separators, keys in their given order, non-ASCII text as is, floats as Python's
// repr and NaN/Infinity spelled the way json.dumps spells them.
#pragma once

#include <nlohmann/json.hpp>

#include <string>
#include <string_view>

namespace qwen {

// Appends `value` to `out`. Binary and discarded values (which no JSON text can hold) throw
// Error(QWEN_ERR_INVALID_ARGUMENT).
void append_python_json(std::string& out, const nlohmann::ordered_json& value);

// Python's repr(float): the shortest digits that read back as `v`, in fixed notation when the
// decimal exponent is in [-4, 16) ("0.0001", "1e+16", "1.5", "100.0", "1e-05", "-0.0").
void append_python_float(std::string& out, double v);

// A JSON string literal as json.dumps(ensure_ascii=False) writes it: only '"', '\\' and the
// C0 controls are escaped (\n \r \t \b \f by name, the others as \u00XX).
void append_python_string(std::string& out, std::string_view s);

}  // namespace qwen
