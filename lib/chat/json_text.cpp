#include "chat/json_text.hpp"

#include "core/error.hpp"

#include <charconv>
#include <cstdint>

namespace qwen {

namespace {

// Deeper JSON is refused: the library walks values recursively (schemas, dump()), and no
// conversation or schema a person writes comes near it.
constexpr int kMaxDepth = 512;
struct TooDeep {};

bool is_number_char(char c) {
    return (c >= '0' && c <= '9') || c == '-' || c == '+' || c == '.' || c == 'e' || c == 'E';
}

// Byte offset of the first integer literal of well-formed JSON `text` that fits neither
// int64 nor uint64 (nlohmann stores those as doubles), or npos.
size_t find_huge_integer(std::string_view text) {
    bool in_string = false;
    for (size_t i = 0; i < text.size(); ++i) {
        char c = text[i];
        if (in_string) {
            if (c == '\\') ++i;  // the escaped character cannot end the string
            else if (c == '"') in_string = false;
            continue;
        }
        if (c == '"') {
            in_string = true;
            continue;
        }
        if (c != '-' && (c < '0' || c > '9')) continue;
        size_t end = i;
        bool integer = true;
        while (end < text.size() && is_number_char(text[end])) {
            if (text[end] == '.' || text[end] == 'e' || text[end] == 'E') integer = false;
            ++end;
        }
        if (integer) {
            const char* first = text.data() + i;
            const char* last = text.data() + end;
            int64_t s;
            uint64_t u;
            bool fits = std::from_chars(first, last, s).ec == std::errc{} ||
                        (c != '-' && std::from_chars(first, last, u).ec == std::errc{});
            if (!fits) return i;
        }
        i = end - 1;
    }
    return std::string_view::npos;
}

}  // namespace

nlohmann::ordered_json parse_json_text(std::string_view text, std::string_view what) {
    nlohmann::ordered_json value;
    try {
        auto depth_guard = [](int depth, nlohmann::ordered_json::parse_event_t, nlohmann::ordered_json&) {
            if (depth > kMaxDepth) throw TooDeep{};
            return true;
        };
        value = nlohmann::ordered_json::parse(text.begin(), text.end(), depth_guard);
    } catch (const TooDeep&) {
        fail(QWEN_ERR_INVALID_ARGUMENT, what, ": JSON nested deeper than ", kMaxDepth, " levels");
    } catch (const nlohmann::json::parse_error& e) {
        // e.what() is "[json.exception.parse_error.101] parse error at line 1, column 7: ...";
        // a 0-based offset is what a caller holding one string can use (e.byte counts the
        // bytes read, the one that was wrong included).
        std::string_view detail = e.what();
        if (auto p = detail.find("] "); p != std::string_view::npos) detail.remove_prefix(p + 2);
        fail(QWEN_ERR_INVALID_ARGUMENT, what, ": invalid JSON at byte ", e.byte ? e.byte - 1 : 0, ": ", detail);
    } catch (const nlohmann::json::exception& e) {  // e.g. a number too large for a double
        fail(QWEN_ERR_INVALID_ARGUMENT, what, ": invalid JSON: ", e.what());
    }
    if (size_t at = find_huge_integer(text); at != std::string_view::npos)
        fail(QWEN_ERR_INVALID_ARGUMENT, what, ": the integer at byte ", at, " does not fit in 64 bits");
    return value;
}

}  // namespace qwen
