// Shared by the grammar tests: grammars from text, whole-string matching, error matching.
#pragma once

#include "core/error.hpp"
#include "grammar/grammar.hpp"
#include "grammar/matcher.hpp"

#include <doctest/doctest.h>

#include <memory>
#include <string>
#include <string_view>

namespace grammartest {

inline std::shared_ptr<const qwen::Grammar> gbnf(std::string_view text) {
    return std::make_shared<const qwen::Grammar>(qwen::parse_gbnf(text));
}

// Whether the grammar matches all of `s` (complete), or a prefix of a match (prefix).
inline bool matches(const std::shared_ptr<const qwen::Grammar>& g, std::string_view s) {
    qwen::GrammarMatcher m(g);
    return m.accept(s) && m.is_accepting();
}
inline bool is_prefix(const std::shared_ptr<const qwen::Grammar>& g, std::string_view s) {
    qwen::GrammarMatcher m(g);
    return m.accept(s);
}

// The message of the Error that `f` throws ("" if none).
template <class F>
std::string error_of(F&& f) {
    try {
        f();
    } catch (const qwen::Error& e) {
        CHECK(e.status() == QWEN_ERR_INVALID_ARGUMENT);
        return e.what();
    }
    return "";
}

}  // namespace grammartest
