// The tojson filter's output (Python's json.dumps(ensure_ascii=False)); the values below are
// what CPython 3.11 prints. tests/python/test_chat_template.py compares many more with Python.
#include "chat/json_text.hpp"
#include "chat/python_json.hpp"
#include "core/error.hpp"

#include <doctest/doctest.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <random>

namespace {

std::string py_float(double v) {
    std::string s;
    qwen::append_python_float(s, v);
    return s;
}

std::string py_json(std::string_view text) {
    std::string s;
    qwen::append_python_json(s, qwen::parse_json_text(text, "test"));
    return s;
}

}  // namespace

TEST_CASE("floats are written as Python's repr") {
    struct Case {
        double v;
        const char* repr;
    };
    const Case cases[] = {
        {0.0, "0.0"},
        {-0.0, "-0.0"},
        {1.0, "1.0"},
        {-2.5, "-2.5"},
        {0.1, "0.1"},
        {100.0, "100.0"},
        {123.456, "123.456"},
        {1.0 / 3.0, "0.3333333333333333"},
        {1e15, "1000000000000000.0"},
        {9999999999999998.0, "9999999999999998.0"},
        {1234567890123456.0, "1234567890123456.0"},
        {1e16, "1e+16"},  // 17 digits before the point: exponent notation
        {12345678901234567.0, "1.2345678901234568e+16"},
        {1e22, "1e+22"},
        {1.5e300, "1.5e+300"},
        {1e-4, "0.0001"},
        {0.00012345, "0.00012345"},
        {1e-5, "1e-05"},  // two exponent digits at least
        {1e-7, "1e-07"},
        {-1e-300, "-1e-300"},
        {5e-324, "5e-324"},
        {2.2250738585072014e-308, "2.2250738585072014e-308"},
        {1.7976931348623157e308, "1.7976931348623157e+308"},
        {std::numeric_limits<double>::infinity(), "Infinity"},
        {-std::numeric_limits<double>::infinity(), "-Infinity"},
        {std::numeric_limits<double>::quiet_NaN(), "NaN"},
    };
    for (const auto& c : cases) {
        CAPTURE(c.repr);
        CHECK(py_float(c.v) == c.repr);
    }
}

TEST_CASE("random doubles read back exactly from their Python repr") {
    std::mt19937_64 rng(7);
    for (int i = 0; i < 100000; ++i) {
        uint64_t bits = rng();
        double v;
        std::memcpy(&v, &bits, sizeof v);
        if (!std::isfinite(v)) continue;
        std::string s = py_float(v);
        CAPTURE(s);
        REQUIRE(std::strtod(s.c_str(), nullptr) == v);
        REQUIRE(std::signbit(std::strtod(s.c_str(), nullptr)) == std::signbit(v));
    }
}

TEST_CASE("values are written as json.dumps(ensure_ascii=False) writes them") {
    CHECK(py_json(R"({"b":[1,-2,18446744073709551615,-9223372036854775808,true,false,null,{}],"a":[],"e":1E2,"z":-0})") ==
          R"({"b": [1, -2, 18446744073709551615, -9223372036854775808, true, false, null, {}], "a": [], "e": 100.0, "z": 0})");
    // Only '"', '\' and C0 controls are escaped, in lower-case hex; DEL, U+2028 and non-ASCII
    // text stay as they are (escapes in the input are decoded first).
    CHECK(py_json(R"(["\u0000\u001f\u007f\u2028\"\\\n\r\t\b\f\/ é \ud83d\ude00"])") ==
          "[\"\\u0000\\u001f\x7f\u2028\\\"\\\\\\n\\r\\t\\b\\f/ é 😀\"]");
    // A repeated key keeps its first place and its last value, as in Python's json.loads.
    CHECK(py_json(R"({"a":1,"b":2,"a":3})") == R"({"a": 3, "b": 2})");
}

TEST_CASE("JSON text errors name the byte") {
    auto error_of = [](std::string_view text) -> std::string {
        try {
            qwen::parse_json_text(text, "messages_json");
        } catch (const qwen::Error& e) {
            CHECK(e.status() == QWEN_ERR_INVALID_ARGUMENT);
            return e.what();
        }
        return "";
    };
    CHECK(error_of(R"([{"role": tru}])").find("messages_json: invalid JSON at byte 13") == 0);
    CHECK(error_of("[1, 2").find("messages_json: invalid JSON at byte 5") == 0);
    CHECK(error_of("[NaN]").find("invalid JSON at byte") != std::string::npos);
    CHECK(error_of("[1e999]").find("messages_json") == 0);
    // Integers beyond 64 bits would silently become floats.
    CHECK(error_of(R"({"n": 18446744073709551616})") == "messages_json: the integer at byte 6 does not fit in 64 bits");
    CHECK(error_of(R"([-9223372036854775809])") == "messages_json: the integer at byte 1 does not fit in 64 bits");
    CHECK(error_of(R"(["18446744073709551616 \" 99999999999999999999", 1.8446744073709551616e19])").empty());
}
