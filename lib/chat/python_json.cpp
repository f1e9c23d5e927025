#include "chat/python_json.hpp"

#include "core/error.hpp"

#include <charconv>
#include <cmath>
#include <cstdlib>
#include <system_error>

namespace qwen {

void append_python_float(std::string& out, double v) {
    if (std::isnan(v)) {
        out += "NaN";
        return;
    }
    if (std::isinf(v)) {
        out += v > 0 ? "Infinity" : "-Infinity";
        return;
    }
    // to_chars without a precision gives the shortest digits that round-trip, the nearest to
    // v among them: the same digits as Python's repr (David Gay's dtoa, mode 0). Only the
    // layout differs, so take the digits and the exponent apart and lay them out as Python.
    char buf[32];
    auto res = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::scientific);
    std::string_view s(buf, static_cast<size_t>(res.ptr - buf));  // -?d(.d+)?e[+-]dd+
    if (s.front() == '-') {
        out += '-';
        s.remove_prefix(1);
    }
    size_t e = s.find('e');
    std::string digits(s.substr(0, e));
    if (digits.size() > 1) digits.erase(1, 1);  // the '.'
    int exp = std::atoi(std::string(s.substr(e + 1)).c_str());
    int point = exp + 1;  // digits[0 .. point) are the integer part
    int n = static_cast<int>(digits.size());
    if (point <= -4 || point > 16) {  // CPython's float_repr: exponent notation outside this range
        out += digits[0];
        if (n > 1) {
            out += '.';
            out.append(digits, 1);
        }
        out += exp < 0 ? "e-" : "e+";
        int a = std::abs(exp);
        if (a < 10) out += '0';
        out += std::to_string(a);
    } else if (point <= 0) {
        out += "0.";
        out.append(static_cast<size_t>(-point), '0');
        out += digits;
    } else if (point >= n) {
        out += digits;
        out.append(static_cast<size_t>(point - n), '0');
        out += ".0";
    } else {
        out.append(digits, 0, static_cast<size_t>(point));
        out += '.';
        out.append(digits, static_cast<size_t>(point));
    }
}

void append_python_string(std::string& out, std::string_view s) {
    static constexpr char hex[] = "0123456789abcdef";
    out += '"';
    for (char ch : s) {
        auto c = static_cast<unsigned char>(ch);
        switch (c) {
            case '"': out += "\\\""; break;
            case '\\': out += "\\\\"; break;
            case '\n': out += "\\n"; break;
            case '\r': out += "\\r"; break;
            case '\t': out += "\\t"; break;
            case '\b': out += "\\b"; break;
            case '\f': out += "\\f"; break;
            default:
                if (c < 0x20) {
                    out += "\\u00";
                    out += hex[c >> 4];
                    out += hex[c & 15];
                } else {
                    out += ch;  // DEL, non-ASCII and U+2028/U+2029 stay as they are
                }
        }
    }
    out += '"';
}

namespace {

template <class Int>
void append_int(std::string& out, Int v) {
    char buf[24];
    auto res = std::to_chars(buf, buf + sizeof buf, v);
    out.append(buf, res.ptr);
}

}  // namespace

void append_python_json(std::string& out, const nlohmann::ordered_json& value) {
    using Type = nlohmann::ordered_json::value_t;
    switch (value.type()) {
        case Type::null: out += "null"; return;
        case Type::boolean: out += value.get<bool>() ? "true" : "false"; return;
        case Type::number_integer: append_int(out, value.get<int64_t>()); return;
        case Type::number_unsigned: append_int(out, value.get<uint64_t>()); return;
        case Type::number_float: append_python_float(out, value.get<double>()); return;
        case Type::string: append_python_string(out, value.get_ref<const std::string&>()); return;
        case Type::array: {
            out += '[';
            bool first = true;
            for (const auto& item : value) {
                if (!first) out += ", ";
                first = false;
                append_python_json(out, item);
            }
            out += ']';
            return;
        }
        case Type::object: {
            out += '{';
            bool first = true;
            for (const auto& [key, item] : value.items()) {
                if (!first) out += ", ";
                first = false;
                append_python_string(out, key);
                out += ": ";
                append_python_json(out, item);
            }
            out += '}';
            return;
        }
        case Type::binary:
        case Type::discarded: break;
    }
    fail(QWEN_ERR_INVALID_ARGUMENT, "a ", value.type_name(), " value has no JSON text");
}

}  // namespace qwen
