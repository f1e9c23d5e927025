// The GBNF reader and the matcher: what parses, where errors point, which strings match.
#include "grammar_test_util.hpp"

using namespace grammartest;

TEST_CASE("gbnf: literals, classes, alternation, groups") {
    auto g = gbnf(R"(root ::= "ab" [0-9x] | ( "c" | "d" ) "e")");
    CHECK(matches(g, "ab5"));
    CHECK(matches(g, "abx"));
    CHECK(matches(g, "ce"));
    CHECK(matches(g, "de"));
    CHECK_FALSE(matches(g, "ab"));
    CHECK(is_prefix(g, "ab"));
    CHECK_FALSE(is_prefix(g, "aby"));
    CHECK_FALSE(matches(g, "cde"));
}

TEST_CASE("gbnf: repetitions") {
    auto g = gbnf("root ::= \"a\"* \"b\"+ \"c\"? [0-9]{2} [x]{1,3} \"y\"{2,}");
    CHECK(matches(g, "bb12xyy"));
    CHECK(matches(g, "aaab12xxxyyyy"));
    CHECK(matches(g, "bc99xxyy"));
    CHECK_FALSE(matches(g, "b12xxxxyy"));  // x{1,3}
    CHECK_FALSE(matches(g, "b1xyy"));      // [0-9]{2}
    CHECK_FALSE(matches(g, "b12xy"));      // y{2,}
    CHECK_FALSE(matches(g, "12xyy"));      // b+
}

TEST_CASE("gbnf: escapes, negated classes, any character, comments, rules across lines") {
    auto g = gbnf(
        "# a comment\n"
        "root ::= \"\\\"\" body \"\\\"\"  # trailing comment\n"
        "body ::=\n"
        "  ( [^\"\\\\] | \"\\\\\" . )*\n"
        "other ::= \"\\x41\\u00e9\\n\\t\"\n");
    CHECK(matches(g, "\"hello\""));
    CHECK(matches(g, "\"a\\\"b\""));
    CHECK(matches(g, "\"\xC3\xA9t\xC3\xA9\""));  // UTF-8 é
    CHECK_FALSE(matches(g, "\"a\"b\""));
    auto o = gbnf("root ::= \"\\x41\\u00e9\\n\\t\" [\\x30-\\x39\\]]");
    CHECK(matches(o, "A\xC3\xA9\n\t]"));
    CHECK(matches(o, "A\xC3\xA9\n\t7"));
}

TEST_CASE("gbnf: UTF-8 byte by byte, ill-formed bytes rejected") {
    auto g = gbnf("root ::= [\\u00e0-\\u00ff] \"\xE4\xB8\xAD\" [\\U0001F600-\\U0001F64F]");
    qwen::GrammarMatcher m(g);
    const std::string s = "\xC3\xA9\xE4\xB8\xAD\xF0\x9F\x98\x80";
    for (char c : s) REQUIRE(m.accept(std::string_view(&c, 1)));
    CHECK(m.is_accepting());
    CHECK_FALSE(is_prefix(g, "\xC3"
                             "A"));                  // a lead byte, then no continuation
    CHECK_FALSE(is_prefix(g, "\xC2\xA9"));           // U+00A9: outside the class
    CHECK_FALSE(is_prefix(g, "\xC2"));               // no character starting with C2 is in [à-ÿ]
    CHECK(is_prefix(g, "\xC3"));                     // but C3 starts one
    CHECK_FALSE(is_prefix(g, "\xC0\xA9"));           // overlong
    CHECK_FALSE(is_prefix(g, "\x80"));               // a stray continuation byte
    auto any = gbnf("root ::= .");
    CHECK_FALSE(is_prefix(any, "\xED\xA0"));         // a surrogate
    CHECK(matches(any, "\xF4\x8F\xBF\xBF"));         // U+10FFFF
    CHECK_FALSE(is_prefix(any, "\xF4\x90"));         // above U+10FFFF
}

TEST_CASE("gbnf: a failed accept keeps the state") {
    auto g = gbnf("root ::= \"abc\"");
    qwen::GrammarMatcher m(g);
    REQUIRE(m.accept("a"));
    CHECK_FALSE(m.accept("bx"));
    CHECK(m.accept("bc"));
    CHECK(m.is_accepting());
}

TEST_CASE("gbnf: recursion (balanced parentheses) and nullable rules") {
    auto g = gbnf("root ::= item*\nitem ::= \"(\" root \")\" | \"x\"\n");
    CHECK(matches(g, ""));
    CHECK(matches(g, "(()x)(x)"));
    CHECK(matches(g, "((((((((((x))))))))))"));
    CHECK_FALSE(matches(g, "(()"));
    CHECK_FALSE(is_prefix(g, "())"));
    auto n = gbnf("root ::= a b \"!\"\na ::= \"a\"?\nb ::= \"b\"*\n");
    CHECK(matches(n, "!"));
    CHECK(matches(n, "abb!"));
    CHECK(matches(n, "bb!"));
}

TEST_CASE("gbnf: syntax errors name line and column") {
    CHECK(error_of([] { qwen::parse_gbnf("root ::= \"a"); }) == "grammar: line 1, column 10: unterminated literal");
    CHECK(error_of([] { qwen::parse_gbnf("root ::= \"a\"\nx = \"b\""); }).find("line 2, column 3: expected a literal") !=
          std::string::npos);
    CHECK(error_of([] { qwen::parse_gbnf("root ::= ( \"a\" "); }).find("line 1, column 16: expected ')'") !=
          std::string::npos);
    CHECK(error_of([] { qwen::parse_gbnf("root ::= [a-"); }).find("column 10: unterminated character class") !=
          std::string::npos);
    CHECK(error_of([] { qwen::parse_gbnf("root ::= \"a\"{3,1}"); }).find("below its minimum") != std::string::npos);
    CHECK(error_of([] { qwen::parse_gbnf("root ::= \"\\q\""); }).find("column 11: unknown escape '\\q'") !=
          std::string::npos);
    CHECK(error_of([] { qwen::parse_gbnf("root ::= [z-a]"); }).find("below its start") != std::string::npos);
    CHECK(error_of([] { qwen::parse_gbnf("root ::= *"); }).find("column 10: expected a literal") != std::string::npos);
    CHECK(error_of([] { qwen::parse_gbnf("root ::= \"\\uD800\""); }).find("is not a character") != std::string::npos);
}

TEST_CASE("gbnf: undefined, duplicate and missing rules; left recursion") {
    CHECK(error_of([] { qwen::parse_gbnf("root ::= \"a\" missing"); }) ==
          "grammar: line 1, column 14: the rule 'missing' is used but never defined");
    CHECK(error_of([] { qwen::parse_gbnf("root ::= \"a\"\nroot ::= \"b\""); }).find("line 2, column 1: the rule 'root' is defined twice") !=
          std::string::npos);
    CHECK(error_of([] { qwen::parse_gbnf("start ::= \"a\""); }).find("expected a rule named 'root'") != std::string::npos);
    CHECK(error_of([] { qwen::parse_gbnf("root ::= root \"a\" | \"b\""); }).find("'root' is left-recursive") !=
          std::string::npos);
    // Indirect, through a nullable prefix.
    const std::string e = error_of([] { qwen::parse_gbnf("root ::= a\na ::= b? c\nb ::= \"b\"\nc ::= \"x\" | a \"y\""); });
    CHECK(e.find("left-recursive") != std::string::npos);
    // Right recursion is fine.
    CHECK(matches(gbnf("root ::= \"a\" root | \"b\""), "aaab"));
}

TEST_CASE("gbnf: deep groups and long chains of rules are refused, not followed into a stack overflow") {
    // Both inputs used to crash the parser (recursion per group; a quadratic nullable sweep,
    // then recursion per rule, on the chain).
    const std::string deep = "root ::= " + std::string(100000, '(') + "\"a\"" + std::string(100000, ')');
    CHECK(error_of([&] { qwen::parse_gbnf(deep); }).find("nested deeper than 256 levels") != std::string::npos);
    const std::string ok = "root ::= " + std::string(200, '(') + "\"a\"" + std::string(200, ')');
    CHECK(matches(gbnf(ok), "a"));

    auto chain = [](int n) {
        std::string g = "root ::= r0\n";
        for (int i = 0; i < n; ++i) g += "r" + std::to_string(i) + " ::= r" + std::to_string(i + 1) + " | \"x\"\n";
        return g + "r" + std::to_string(n) + " ::= \"a\"\n";
    };
    CHECK(error_of([&] { qwen::parse_gbnf(chain(100000)); }).find("more than 1000 rules") != std::string::npos);
    const auto g = gbnf(chain(900));
    CHECK(matches(g, "a"));
    CHECK(matches(g, "x"));
    CHECK(!matches(g, "ax"));
}

TEST_CASE("gbnf: a grammar whose live parses multiply is stopped with a clear error") {
    // Found by fuzz_grammar: every character can open another nested expr, so the parses alive
    // grew without bound and the token mask took minutes.
    const auto g = gbnf("root ::= (expr \"\\n\")*\nexpr ::= term root ([-+*/] term)*\nterm ::= [0-9]+ | \"(\" expr \")\" | .\n");
    qwen::GrammarMatcher m(g);
    try {
        for (int i = 0; i < 2000; ++i) m.accept("1");
        FAIL("no error");
    } catch (const qwen::Error& e) {
        CHECK(e.status() == QWEN_ERR_INPUT_TOO_LARGE);
        CHECK(std::string(e.what()).find("too ambiguous") != std::string::npos);
    }
    // Exponential forking in one expansion: 2^40 ways to reach the same character.
    std::string fork = "root ::= r0\n";
    for (int i = 0; i < 40; ++i) fork += "r" + std::to_string(i) + " ::= r" + std::to_string(i + 1) + " | r" + std::to_string(i + 1) + "\n";
    fork += "r40 ::= \"a\"\n";
    CHECK_THROWS_AS(qwen::GrammarStepper(gbnf(fork)).initial(), qwen::Error);
    // JSON nested deep is far from the bound.
    const auto json = gbnf("root ::= v\nv ::= \"[\" ( v ( \",\" v )* )? \"]\" | [0-9]+\n");
    CHECK(matches(json, std::string(1000, '[') + "1" + std::string(1000, ']')));
}
