// Token masks: for every token, allowed iff feeding its bytes keeps a parse alive - checked
// against that definition on a small vocabulary and on Qwen2.5's real one, at several states.
#include "grammar/json_schema.hpp"
#include "grammar/token_mask.hpp"
#include "grammar_test_util.hpp"
#include "../tokenizer/oracle.hpp"

#include <vector>

using namespace grammartest;

namespace {

bool bit(const std::vector<uint64_t>& m, int32_t t) { return (m[size_t(t) >> 6] >> (t & 63)) & 1; }

// The mask at the constraint's current state against the definition, token by token.
void check_against_brute_force(qwen::GrammarConstraint& c, const std::shared_ptr<const qwen::Grammar>& g,
                               const qwen::GrammarState& state, size_t& n_allowed) {
    const std::vector<uint64_t>& mask = c.mask();
    const qwen::GrammarVocab& v = c.vocab();
    qwen::GrammarStepper stepper(g);
    qwen::GrammarState a, b;
    n_allowed = 0;
    for (uint32_t t = 0; t < v.n_vocab(); ++t) {
        bool want;
        if (v.is_end_of_turn(int32_t(t))) {
            want = qwen::GrammarStepper::accepting(state);
        } else if (!v.is_text(int32_t(t))) {
            want = false;
        } else {
            a = state;
            want = true;
            for (char ch : v.piece(int32_t(t))) {
                if (!stepper.advance(a, uint8_t(ch), b)) {
                    want = false;
                    break;
                }
                std::swap(a, b);
            }
        }
        n_allowed += want;
        if (bit(mask, int32_t(t)) != want) {
            INFO("token ", t, " '", v.piece(int32_t(t)), "'");
            CHECK(bit(mask, int32_t(t)) == want);
        }
    }
}

// Multi-byte tokens, partial UTF-8 characters, and a token for every single byte the test feeds.
std::shared_ptr<const qwen::GrammarVocab> small_vocab() {
    std::vector<std::string> pieces = {"", "<eot>"};
    for (const char* s : {"a", "b", "ab", "abc", "ba", "\"", "\"a", "a\"", "{", "}", "{\"", "\":", " ", "\n", "  ", "1",
                          "12", "-1", ".5", "e", "true", "tr", "null", ",", ",\"", "\xC3", "\xA9", "\xC3\xA9",
                          "\xE4\xB8", "\xAD", "\xE4\xB8\xAD", "\xFF", "[", "]", "[]", "x", ":", "\xE4", "\xB8", ".", "5", "2", "-"})
        pieces.push_back(s);
    return std::make_shared<const qwen::GrammarVocab>(std::move(pieces), std::vector<int32_t>{1});
}

}  // namespace

TEST_CASE("mask: small vocabulary, every state along a JSON text, against brute force") {
    auto g = gbnf(qwen::json_schema_to_gbnf(qwen::ordered_json::parse(
        R"({"type": "object", "properties": {"a": {"type": "string"}, "b": {"type": "array", "items": {"type": "number"}}}})")));
    auto v = small_vocab();
    qwen::GrammarConstraint c(g, v);
    qwen::GrammarMatcher m(g);
    const std::string text = "{\"a\": \"ab\xC3\xA9\xE4\xB8\xAD\", \"b\": [1, -1.5e12]}";
    size_t n_allowed = 0;
    for (char ch : text) {
        check_against_brute_force(c, g, m.state(), n_allowed);
        CHECK(n_allowed > 0);
        // Advance by the single-byte (or lead/continuation byte) token for ch.
        int32_t tok = -1;
        for (uint32_t t = 0; t < v->n_vocab(); ++t)
            if (v->piece(int32_t(t)) == std::string(1, ch)) tok = int32_t(t);
        INFO("byte ", int(uint8_t(ch)));
        REQUIRE(tok >= 0);
        REQUIRE(c.allowed(tok));
        c.accept(tok);
        REQUIRE(m.accept(std::string(1, ch)));
    }
    CHECK(c.is_accepting());
    CHECK(c.allowed(1));  // <eot>
    c.accept(1);
    CHECK(c.allowed(1));
    CHECK_FALSE(c.allowed(2));
}

TEST_CASE("mask: Qwen2.5's vocabulary at several JSON states, against brute force") {
    if (!qwen::test::have_oracle()) return;
    const qwen::Tokenizer& tok = qwen::test::qwen25();
    auto v = std::make_shared<const qwen::GrammarVocab>(tok, 151936);
    CHECK(v->n_vocab() == 151936);
    CHECK(v->end_of_turn() == std::vector<int32_t>{151643, 151645});
    auto g = gbnf(qwen::json_schema_to_gbnf(true));
    // Prefixes: the start, inside a string, inside a number, after a key, half a character.
    for (const std::string prefix : {"", "{\"na", "[12", "{\"key\":", "[\"\xE4\xB8", "{\"a\": [true, null], \"b\": {}}"}) {
        INFO("after '", prefix, "'");
        qwen::GrammarConstraint c(g, v);
        qwen::GrammarMatcher m(g);
        REQUIRE(m.accept(prefix));
        // Reach the state through tokens of the real vocabulary (the constraint's own path).
        for (int32_t t : tok.encode(prefix, false)) c.accept(t);
        size_t n_allowed = 0;
        check_against_brute_force(c, g, m.state(), n_allowed);
        CHECK(n_allowed > 0);
        MESSAGE(n_allowed, " tokens allowed after '", prefix, "'");
    }
}

TEST_CASE("mask: special tokens only at the end, and never others") {
    if (!qwen::test::have_oracle()) return;
    const qwen::Tokenizer& tok = qwen::test::qwen25();
    auto v = std::make_shared<const qwen::GrammarVocab>(tok, 151936);
    qwen::GrammarConstraint c(gbnf("root ::= \"<tool_call>\" [0-9]+"), v);
    const int32_t tool_call = tok.token_by_text("<tool_call>");
    CHECK(c.allowed(tool_call));  // a UserDefined token is text
    CHECK_FALSE(c.allowed(151645));
    c.accept(tool_call);
    c.accept(tok.token_by_text("7"));
    CHECK(c.allowed(151645));
    CHECK(c.allowed(151643));
    CHECK_FALSE(c.allowed(151644));  // <|im_start|>
    CHECK_FALSE(c.allowed(151900));  // padding
    CHECK(c.allowed(tok.token_by_text("8")));
    CHECK(error_of([&] { c.accept(tok.token_by_text("a")); }).find("not allowed by the grammar") != std::string::npos);
    c.accept(151645);
    CHECK(c.allowed(151645));
    CHECK_FALSE(c.allowed(tok.token_by_text("8")));
    c.reset();
    CHECK(c.allowed(tool_call));
}
