// qwen_generate*: the generation loop (generate/) behind the C API, and the chat and text
// front doors that render and tokenize before it.
#include "api/guard.hpp"
#include "api/handles.hpp"
#include "generate/generate.hpp"
#include "model/context.hpp"
#include "sample/sampler.hpp"
#include "tokenizer/tokenizer.hpp"

#include <cstring>

using qwen::fail;
using qwen::guarded;

namespace qwen {

static const qwen_generate_params kGenerateDefaults = {sizeof(qwen_generate_params), 512, nullptr, 0, 0, -1,
                                                       nullptr, nullptr};

namespace {

GenerateOptions options_from(const qwen_generate_params* params) {
    const qwen_generate_params p = read_params(params, kGenerateDefaults);
    GenerateOptions o;
    if (p.max_tokens < 0) fail(QWEN_ERR_INVALID_ARGUMENT, "max_tokens ", p.max_tokens, " is negative");
    o.max_tokens = uint32_t(p.max_tokens);
    if (p.n_stop > QWEN_MAX_STOP_STRINGS)
        fail(QWEN_ERR_INVALID_ARGUMENT, "n_stop ", p.n_stop, " is more than QWEN_MAX_STOP_STRINGS (",
             QWEN_MAX_STOP_STRINGS, ")");
    if (p.n_stop && !p.stop) fail(QWEN_ERR_INVALID_ARGUMENT, "stop is NULL but n_stop is ", p.n_stop);
    for (size_t i = 0; i < p.n_stop; ++i) {
        if (!p.stop[i]) fail(QWEN_ERR_INVALID_ARGUMENT, "stop[", i, "] is NULL");
        const size_t len = std::strlen(p.stop[i]);
        if (len == 0 || len > QWEN_MAX_STOP_BYTES)
            fail(QWEN_ERR_INVALID_ARGUMENT, "stop[", i, "] has ", len, " bytes, outside [1, ", QWEN_MAX_STOP_BYTES, "]");
        o.stop.emplace_back(p.stop[i], len);
    }
    constexpr uint32_t known = QWEN_GENERATE_KEEP_SPECIAL | QWEN_GENERATE_IGNORE_EOS;
    if (p.flags & ~known) fail(QWEN_ERR_INVALID_ARGUMENT, "unknown flags ", p.flags & ~known);
    o.keep_special = p.flags & QWEN_GENERATE_KEEP_SPECIAL;
    o.ignore_eos = p.flags & QWEN_GENERATE_IGNORE_EOS;
    if (p.logprobs < -1 || p.logprobs > QWEN_MAX_TOP_LOGPROBS)
        fail(QWEN_ERR_INVALID_ARGUMENT, "logprobs ", p.logprobs, " is outside [-1, ", QWEN_MAX_TOP_LOGPROBS, "]");
    o.logprobs = p.logprobs;
    o.callback = p.callback;
    o.user_data = p.user_data;
    return o;
}

// Writes as many bytes of the result as the caller's struct has.
void write_result(const qwen_generate_result& r, qwen_generate_result* out) {
    if (!out) return;
    if (out->struct_size < sizeof(size_t))
        fail(QWEN_ERR_INVALID_ARGUMENT, "result->struct_size is ", out->struct_size, ": set it to sizeof the struct");
    const size_t caller = out->struct_size;
    std::memcpy(static_cast<void*>(out), &r, caller < sizeof r ? caller : sizeof r);
    out->struct_size = caller;
}

const Tokenizer& tokenizer_of(const qwen_context* ctx) {
    const Tokenizer* t = ctx->model->tokenizer.get();
    if (!t) fail(QWEN_ERR_INVALID_ARGUMENT, "the context's model has no tokenizer");
    return *t;
}

void generate_tokens(qwen_context* ctx, qwen_sampler* sampler, const int32_t* prompt, size_t n,
                     const qwen_generate_params* params, qwen_generate_result* result) {
    if (result && result->struct_size < sizeof(size_t))
        fail(QWEN_ERR_INVALID_ARGUMENT, "result->struct_size is ", result->struct_size,
             ": set it to sizeof the struct");
    const GenerateOptions o = options_from(params);
    Sampler* s = sampler ? sampler->sampler.get() : nullptr;
    if (s && s->n_vocab() != ctx->ctx->model().hparams().n_vocab)
        fail(QWEN_ERR_INVALID_ARGUMENT, "the sampler was made for ", s->n_vocab(), " tokens, the model has ",
             ctx->ctx->model().hparams().n_vocab);
    write_result(generate(*ctx->ctx, tokenizer_of(ctx), s, prompt, n, o), result);
}

}  // namespace
}  // namespace qwen

extern "C" {

QWEN_API void qwen_generate_params_init(qwen_generate_params* params, size_t struct_size) {
    qwen::init_params(params, struct_size, qwen::kGenerateDefaults);
}

QWEN_API qwen_status qwen_generate(qwen_context* ctx, qwen_sampler* sampler, const int32_t* prompt, size_t n_prompt,
                                   const qwen_generate_params* params, qwen_generate_result* result) {
    return guarded(__func__, [&] {
        QWEN_REQUIRE_ARG(ctx);
        QWEN_REQUIRE_ARG(prompt);
        qwen::generate_tokens(ctx, sampler, prompt, n_prompt, params, result);
    });
}

QWEN_API qwen_status qwen_generate_text(qwen_context* ctx, qwen_sampler* sampler, const char* prompt, size_t len,
                                        const qwen_generate_params* params, qwen_generate_result* result) {
    return guarded(__func__, [&] {
        QWEN_REQUIRE_ARG(ctx);
        QWEN_REQUIRE_ARG(prompt != nullptr || len == 0);
        if (len > QWEN_TOKENIZE_MAX_BYTES)
            fail(QWEN_ERR_INPUT_TOO_LARGE, "the prompt has ", len, " bytes, more than QWEN_TOKENIZE_MAX_BYTES");
        std::vector<int32_t> ids;
        qwen::tokenizer_of(ctx).encode(std::string_view(prompt ? prompt : "", len), true, ids);
        qwen::generate_tokens(ctx, sampler, ids.data(), ids.size(), params, result);
    });
}

QWEN_API qwen_status qwen_generate_chat(qwen_context* ctx, qwen_sampler* sampler, const qwen_chat_message* messages,
                                        size_t n_messages, const char* tools_json, const qwen_generate_params* params,
                                        qwen_generate_result* result) {
    return guarded(__func__, [&] {
        QWEN_REQUIRE_ARG(ctx);
        QWEN_REQUIRE_ARG(messages != nullptr || n_messages == 0);
        // Through the public renderer: its argument checks and messages are the ones users know.
        size_t len = 0;
        qwen_status st = qwen_chat_render(messages, n_messages, tools_json, QWEN_CHAT_ADD_GENERATION_PROMPT,
                                          nullptr, 0, &len);
        std::string text(len, '\0');
        if (st == QWEN_ERR_BUFFER_TOO_SMALL)
            st = qwen_chat_render(messages, n_messages, tools_json, QWEN_CHAT_ADD_GENERATION_PROMPT, text.data(),
                                  text.size(), &len);
        if (st != QWEN_OK) fail(st, qwen_last_error());
        std::vector<int32_t> ids;
        qwen::tokenizer_of(ctx).encode(text, true, ids);
        qwen::generate_tokens(ctx, sampler, ids.data(), ids.size(), params, result);
    });
}

}  // extern "C"
