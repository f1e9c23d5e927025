// The tokenizer section of the C API (include/qwen/qwen.h): argument checks, buffer
// protocol (QWEN_ERR_BUFFER_TOO_SMALL with the size needed) and the streaming handle.
#include "api/guard.hpp"
#include "api/handles.hpp"
#include "tokenizer/detokenizer.hpp"
#include "tokenizer/tokenizer.hpp"

#include <cstring>

using qwen::fail;
using qwen::guarded;
using qwen::write_out;

struct qwen_detokenizer {
    qwen::Detokenizer detok;
};

namespace {

const qwen::Tokenizer& tokenizer_of(const qwen_model* model) {
    if (!model) fail(QWEN_ERR_INVALID_ARGUMENT, "model is NULL");
    if (!model->tokenizer) fail(QWEN_ERR_INVALID_ARGUMENT, "the model has no tokenizer");
    return *model->tokenizer;
}

// One push or flush of a streaming detokenizer, on a copy so that a failed call (a buffer
// too small) consumes nothing.
template <class Step>
void detokenizer_step(qwen_detokenizer* d, char* buf, size_t capacity, size_t* len, const char* what, Step step) {
    QWEN_REQUIRE_ARG(d != nullptr);
    QWEN_REQUIRE_ARG(buf != nullptr || capacity == 0);
    QWEN_REQUIRE_ARG(len != nullptr);
    qwen::Detokenizer next = d->detok;
    std::string s;
    step(next, s);
    write_out(s, buf, capacity, len, what);
    d->detok = next;
}

const qwen::Tokenizer* tokenizer_or_null(const qwen_model* model) {
    return model && model->tokenizer ? model->tokenizer.get() : nullptr;
}

}  // namespace

extern "C" {

QWEN_API qwen_status qwen_tokenize(const qwen_model* model, const char* text, size_t len, uint32_t flags,
                                   int32_t* tokens, size_t capacity, size_t* n_tokens) {
    return guarded(__func__, [&] {
        const auto& tok = tokenizer_of(model);
        QWEN_REQUIRE_ARG(text != nullptr || len == 0);
        QWEN_REQUIRE_ARG(tokens != nullptr || capacity == 0);
        QWEN_REQUIRE_ARG(n_tokens != nullptr);
        static_assert(QWEN_TOKENIZE_MAX_BYTES == qwen::kMaxEncodeBytes);
        std::vector<int32_t> ids;
        tok.encode(std::string_view(text ? text : "", len), (flags & QWEN_TOKENIZE_PARSE_SPECIAL) != 0, ids);
        *n_tokens = ids.size();
        size_t n = ids.size() < capacity ? ids.size() : capacity;
        if (n) std::memcpy(tokens, ids.data(), n * sizeof(int32_t));
        if (ids.size() > capacity)
            fail(QWEN_ERR_BUFFER_TOO_SMALL, "qwen_tokenize: ", ids.size(), " tokens do not fit in a buffer of ",
                 capacity);
    });
}

QWEN_API qwen_status qwen_detokenize(const qwen_model* model, const int32_t* tokens, size_t n_tokens,
                                     uint32_t flags, char* buf, size_t capacity, size_t* len) {
    return guarded(__func__, [&] {
        const auto& tok = tokenizer_of(model);
        QWEN_REQUIRE_ARG(tokens != nullptr || n_tokens == 0);
        QWEN_REQUIRE_ARG(buf != nullptr || capacity == 0);
        QWEN_REQUIRE_ARG(len != nullptr);
        if (n_tokens > QWEN_DETOKENIZE_MAX_TOKENS)
            fail(QWEN_ERR_INPUT_TOO_LARGE, "qwen_detokenize: ", n_tokens, " tokens is more than the limit of ",
                 QWEN_DETOKENIZE_MAX_TOKENS);
        std::span<const int32_t> ids(tokens, n_tokens);
        bool skip = (flags & QWEN_DETOKENIZE_SKIP_SPECIAL) != 0;
        std::string s = (flags & QWEN_DETOKENIZE_RAW_BYTES) ? tok.decode_bytes(ids, skip) : tok.decode(ids, skip);
        write_out(s, buf, capacity, len, "qwen_detokenize");
    });
}

QWEN_API qwen_status qwen_token_to_piece(const qwen_model* model, int32_t token, char* buf, size_t capacity,
                                         size_t* len) {
    return guarded(__func__, [&] {
        const auto& tok = tokenizer_of(model);
        QWEN_REQUIRE_ARG(buf != nullptr || capacity == 0);
        QWEN_REQUIRE_ARG(len != nullptr);
        write_out(tok.token_to_piece(token), buf, capacity, len, "qwen_token_to_piece");
    });
}

QWEN_API int32_t qwen_tokenizer_n_tokens(const qwen_model* model) {
    const auto* tok = tokenizer_or_null(model);
    return tok ? tok->n_vocab() : 0;
}

QWEN_API int32_t qwen_token_special(const qwen_model* model, qwen_special_token which) {
    const auto* tok = tokenizer_or_null(model);
    if (!tok) return -1;
    switch (which) {
        case QWEN_TOKEN_BOS: return tok->special_ids().bos;
        case QWEN_TOKEN_EOS: return tok->special_ids().eos;
        case QWEN_TOKEN_PAD: return tok->special_ids().pad;
    }
    return -1;
}

QWEN_API int32_t qwen_token_by_text(const qwen_model* model, const char* text, size_t len) {
    const auto* tok = tokenizer_or_null(model);
    if (!tok || !text) return -1;
    return tok->token_by_text(std::string_view(text, len));
}

QWEN_API int qwen_token_is_control(const qwen_model* model, int32_t token) {
    const auto* tok = tokenizer_or_null(model);
    if (!tok || token < 0 || token >= tok->n_vocab()) return 0;
    return tok->token_type(token) == qwen::TokenType::Control ? 1 : 0;
}

QWEN_API qwen_status qwen_detokenizer_create(const qwen_model* model, uint32_t flags, qwen_detokenizer** out) {
    return guarded(__func__, [&] {
        const auto& tok = tokenizer_of(model);
        QWEN_REQUIRE_ARG(out != nullptr);
        *out = new qwen_detokenizer{qwen::Detokenizer(tok, (flags & QWEN_DETOKENIZE_SKIP_SPECIAL) != 0,
                                                      (flags & QWEN_DETOKENIZE_RAW_BYTES) != 0)};
    });
}

QWEN_API qwen_status qwen_detokenizer_push(qwen_detokenizer* d, int32_t token, char* buf, size_t capacity,
                                           size_t* len) {
    return guarded(__func__, [&] {
        detokenizer_step(d, buf, capacity, len, "qwen_detokenizer_push",
                         [&](qwen::Detokenizer& next, std::string& s) { next.push(token, s); });
    });
}

QWEN_API qwen_status qwen_detokenizer_flush(qwen_detokenizer* d, char* buf, size_t capacity, size_t* len) {
    return guarded(__func__, [&] {
        detokenizer_step(d, buf, capacity, len, "qwen_detokenizer_flush",
                         [](qwen::Detokenizer& next, std::string& s) { next.flush(s); });
    });
}

QWEN_API void qwen_detokenizer_free(qwen_detokenizer* d) { delete d; }

}  // extern "C"
