// A GBNF grammar from fuzzed text (first part), then a generation constrained by it over a
// small vocabulary (single bytes, multi-byte pieces, pieces that split a UTF-8 character, an
// end-of-turn token), the tokens chosen by the second part. Property: the token mask (the
// memoized byte trie walk) agrees with the plain GrammarMatcher fed the same bytes, for the
// tokens it allows and for some it forbids, and end of turn is allowed exactly when a parse is
// complete.
#include "fuzz_util.hpp"

#include "core/error.hpp"
#include "grammar/grammar.hpp"
#include "grammar/matcher.hpp"
#include "grammar/token_mask.hpp"

#include <memory>

using namespace qwen::fuzz;

namespace {

std::shared_ptr<const qwen::GrammarVocab> make_vocab() {
    std::vector<std::string> pieces;
    for (int b = 0; b < 256; ++b) pieces.emplace_back(1, char(b));
    for (const char* p : {"{", "}", "\"", "\": ", ", ", "true", "false", "null", "  ", "\n", "ab", "abc", "12", "-0.5",
                          "\xc3\xa9", "\xc3", "\xa9\xc3", "\xe2\x82\xac", "\xf0\x9f\x98\x80", "<tool_call>", "\\u00"})
        pieces.emplace_back(p);
    const int32_t end_of_turn = int32_t(pieces.size());
    pieces.emplace_back("");  // its text is irrelevant: it is not a text token
    return std::make_shared<const qwen::GrammarVocab>(std::move(pieces), std::vector<int32_t>{end_of_turn});
}

// Generates up to 64 tokens chosen by `choices`, checking the mask against the matcher.
void walk(const std::shared_ptr<const qwen::Grammar>& grammar, std::string_view choices) {
    static const auto vocab = make_vocab();
    qwen::GrammarConstraint constraint(grammar, vocab);
    qwen::GrammarMatcher matcher(grammar);
    const int32_t end_of_turn = vocab->end_of_turn()[0];
    // At most 64 tokens: longer walks mostly repeat states, and each step scans the vocabulary.
    for (uint8_t choice : choices.substr(0, 64)) {
        const std::vector<uint64_t>& mask = constraint.mask();
        std::vector<int32_t> allowed;
        for (int32_t t = 0; t < int32_t(vocab->n_vocab()); ++t)
            if ((mask[size_t(t) >> 6] >> (t & 63)) & 1) allowed.push_back(t);
        require(((mask[size_t(end_of_turn) >> 6] >> (end_of_turn & 63)) & 1) == matcher.is_accepting(),
                "end of turn is allowed exactly when the parse is complete");
        // One forbidden text token: the matcher must refuse its bytes too.
        const int32_t other = int32_t(choice % (vocab->n_vocab() - 1));
        if (!constraint.allowed(other) && !vocab->piece(other).empty()) {
            qwen::GrammarMatcher probe = matcher;
            require(!probe.accept(vocab->piece(other)), "a forbidden token's bytes fail the matcher",
                    vocab->piece(other));
        }
        if (allowed.empty() || allowed[choice % allowed.size()] == end_of_turn) return;
        const int32_t token = allowed[choice % allowed.size()];
        require(matcher.accept(vocab->piece(token)), "an allowed token's bytes pass the matcher", vocab->piece(token));
        constraint.accept(token);
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const auto parts = split({reinterpret_cast<const char*>(data), size}, 2);
    std::shared_ptr<const qwen::Grammar> grammar;
    try {
        grammar = std::make_shared<const qwen::Grammar>(qwen::parse_gbnf(parts[0]));
    } catch (const qwen::Error&) {
        return 0;
    }
    try {
        walk(grammar, parts[1]);
    } catch (const qwen::Error& e) {
        // A grammar whose live parses multiply is stopped: the only error a parsed grammar has.
        require(e.status() == QWEN_ERR_INPUT_TOO_LARGE, "only an exploding grammar fails", e.what());
    }
    return 0;
}
