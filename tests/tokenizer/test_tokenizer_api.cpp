// The tokenizer section of the C API: buffer protocol, flags, errors as statuses.
#include "api/handles.hpp"
#include "model/model.hpp"  // qwen_model owns a Model (empty here)
#include "oracle.hpp"

#include <qwen/qwen.h>

#include <cstring>

using namespace qwen::test;

namespace {

// A qwen_model holding only the Qwen2.5 tokenizer (the model half is not needed here).
qwen_model* tokenizer_model() {
    static qwen_model* m = [] {
        auto* h = new qwen_model;
        h->tokenizer = qwen::Tokenizer::from_hf_json(qwen3_tokenizer_json(), qwen3_tokenizer_config(),
                                                     qwen::Tokenizer::HfOptions{151664});
        return h;
    }();
    return m;
}

}  // namespace

TEST_CASE("qwen_tokenize: flags, sizes and errors") {
    if (!have_oracle()) return;
    const qwen_model* m = tokenizer_model();
    const char* text = "<|im_start|>user\nHi<|im_end|>";
    size_t n = 0;
    CHECK(qwen_tokenize(m, text, std::strlen(text), QWEN_TOKENIZE_PARSE_SPECIAL, nullptr, 0, &n) ==
          QWEN_ERR_BUFFER_TOO_SMALL);
    REQUIRE(n == 5);
    std::vector<int32_t> ids(n);
    CHECK(qwen_tokenize(m, text, std::strlen(text), QWEN_TOKENIZE_PARSE_SPECIAL, ids.data(), ids.size(), &n) == QWEN_OK);
    CHECK(ids == std::vector<int32_t>{151644, 872, 198, 13048, 151645});
    CHECK(qwen_tokenize(m, text, std::strlen(text), 0, nullptr, 0, &n) == QWEN_ERR_BUFFER_TOO_SMALL);
    CHECK(n > 5);  // without the flag the control tokens are plain text

    CHECK(qwen_tokenize(nullptr, text, 1, 0, nullptr, 0, &n) == QWEN_ERR_INVALID_ARGUMENT);
    CHECK(std::strlen(qwen_last_error()) > 0);
    CHECK(qwen_tokenize(m, nullptr, 1, 0, nullptr, 0, &n) == QWEN_ERR_INVALID_ARGUMENT);
    CHECK(qwen_tokenize(m, nullptr, 0, 0, nullptr, 0, &n) == QWEN_OK);
    CHECK(n == 0);
    CHECK(qwen_tokenize(m, text, 1, 0, nullptr, 4, &n) == QWEN_ERR_INVALID_ARGUMENT);
    CHECK(qwen_tokenize(m, text, 1, 0, nullptr, 0, nullptr) == QWEN_ERR_INVALID_ARGUMENT);
    std::string huge(QWEN_TOKENIZE_MAX_BYTES + 1u, 'x');
    CHECK(qwen_tokenize(m, huge.data(), huge.size(), 0, nullptr, 0, &n) == QWEN_ERR_INPUT_TOO_LARGE);
}

TEST_CASE("qwen_detokenize, qwen_token_to_piece and lookups") {
    if (!have_oracle()) return;
    const qwen_model* m = tokenizer_model();
    int32_t ids[] = {151644, 9707, 151645};
    char buf[64];
    size_t len = 0;
    CHECK(qwen_detokenize(m, ids, 3, 0, buf, 4, &len) == QWEN_ERR_BUFFER_TOO_SMALL);
    CHECK(len == std::strlen("<|im_start|>Hello<|im_end|>"));
    CHECK(qwen_detokenize(m, ids, 3, 0, buf, sizeof buf, &len) == QWEN_OK);
    CHECK(std::string(buf, len) == "<|im_start|>Hello<|im_end|>");
    CHECK(qwen_detokenize(m, ids, 3, QWEN_DETOKENIZE_SKIP_SPECIAL, buf, sizeof buf, &len) == QWEN_OK);
    CHECK(std::string(buf, len) == "Hello");
    int32_t bad[] = {9707, -5};
    CHECK(qwen_detokenize(m, bad, 2, 0, buf, sizeof buf, &len) == QWEN_ERR_INVALID_ARGUMENT);
    CHECK(std::string(qwen_last_error()).find("-5") != std::string::npos);
    CHECK(qwen_detokenize(m, nullptr, 1, 0, buf, sizeof buf, &len) == QWEN_ERR_INVALID_ARGUMENT);
    CHECK(qwen_detokenize(m, ids, QWEN_DETOKENIZE_MAX_TOKENS + size_t{1}, 0, buf, sizeof buf, &len) ==
          QWEN_ERR_INPUT_TOO_LARGE);

    CHECK(qwen_token_to_piece(m, 220, buf, sizeof buf, &len) == QWEN_OK);
    CHECK(std::string(buf, len) == " ");
    CHECK(qwen_token_to_piece(m, 151665, buf, sizeof buf, &len) == QWEN_ERR_INVALID_ARGUMENT);
    CHECK(qwen_token_to_piece(m, 9707, buf, 2, &len) == QWEN_ERR_BUFFER_TOO_SMALL);
    CHECK(len == 5);

    CHECK(qwen_tokenizer_n_tokens(m) == 151665);
    CHECK(qwen_tokenizer_n_tokens(nullptr) == 0);
    CHECK(qwen_token_special(m, QWEN_TOKEN_EOS) == 151645);
    CHECK(qwen_token_special(m, QWEN_TOKEN_PAD) == 151643);
    CHECK(qwen_token_special(m, QWEN_TOKEN_BOS) == -1);
    CHECK(qwen_token_special(nullptr, QWEN_TOKEN_EOS) == -1);
    CHECK(qwen_token_by_text(m, "<|im_start|>", 12) == 151644);
    CHECK(qwen_token_by_text(m, "<|endoftext|>", 13) == 151643);
    CHECK(qwen_token_by_text(m, "no such token!", 14) == -1);
    CHECK(qwen_token_by_text(m, nullptr, 3) == -1);
    CHECK(qwen_token_is_control(m, 151645) == 1);
    CHECK(qwen_token_is_control(m, 151657) == 0);
    CHECK(qwen_token_is_control(m, 9707) == 0);
    CHECK(qwen_token_is_control(m, -1) == 0);
}

TEST_CASE("qwen_detokenizer: streaming with a retry after a short buffer") {
    if (!have_oracle()) return;
    const qwen_model* m = tokenizer_model();
    const std::string text = "Emoji 🦙 and <|im_end|> \xF0\x9F\x98";
    size_t n = 0;
    qwen_tokenize(m, text.data(), text.size(), QWEN_TOKENIZE_PARSE_SPECIAL, nullptr, 0, &n);
    std::vector<int32_t> ids(n);
    REQUIRE(qwen_tokenize(m, text.data(), text.size(), QWEN_TOKENIZE_PARSE_SPECIAL, ids.data(), n, &n) == QWEN_OK);

    qwen_detokenizer* d = nullptr;
    REQUIRE(qwen_detokenizer_create(m, QWEN_DETOKENIZE_SKIP_SPECIAL, &d) == QWEN_OK);
    std::string streamed;
    char buf[64];
    size_t len = 0;
    for (int32_t id : ids) {
        // First without room: a token that completes text is refused and not consumed.
        qwen_status s = qwen_detokenizer_push(d, id, buf, 0, &len);
        if (s == QWEN_OK) {
            CHECK(len == 0);
            continue;
        }
        CHECK(s == QWEN_ERR_BUFFER_TOO_SMALL);
        CHECK(len > 0);
        REQUIRE(qwen_detokenizer_push(d, id, buf, sizeof buf, &len) == QWEN_OK);
        streamed.append(buf, len);
    }
    CHECK(qwen_detokenizer_push(d, 999999, buf, sizeof buf, &len) == QWEN_ERR_INVALID_ARGUMENT);
    REQUIRE(qwen_detokenizer_flush(d, buf, sizeof buf, &len) == QWEN_OK);
    streamed.append(buf, len);
    qwen_detokenizer_free(d);
    qwen_detokenizer_free(nullptr);

    std::vector<char> whole(256);
    REQUIRE(qwen_detokenize(m, ids.data(), ids.size(), QWEN_DETOKENIZE_SKIP_SPECIAL, whole.data(), whole.size(), &len) ==
            QWEN_OK);
    CHECK(streamed == std::string(whole.data(), len));
    CHECK(streamed == "Emoji 🦙 and  \xEF\xBF\xBD");
    CHECK(qwen_detokenizer_create(nullptr, 0, &d) == QWEN_ERR_INVALID_ARGUMENT);
}
