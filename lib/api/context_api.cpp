// qwen_context_*: KV cache, evaluation, logits.
#include "api/guard.hpp"
#include "api/handles.hpp"
#include "model/context.hpp"

#include <cstring>
#include <vector>

qwen_context::~qwen_context() = default;

namespace qwen {
static const qwen_context_params kContextDefaults = {sizeof(qwen_context_params), 0, 0, QWEN_KV_F16};
}

extern "C" {

QWEN_API void qwen_context_params_init(qwen_context_params* params, size_t struct_size) {
    qwen::init_params(params, struct_size, qwen::kContextDefaults);
}

QWEN_API qwen_status qwen_context_create(const qwen_model* model, const qwen_context_params* params,
                                         qwen_context** out) {
    return qwen::guarded(__func__, [&] {
        QWEN_REQUIRE_ARG(model);
        QWEN_REQUIRE_ARG(out);
        qwen_context_params p = qwen::read_params(params, qwen::kContextDefaults);
        // Read the enum's bytes as an integer: a caller's out-of-range value must not be
        // loaded as a qwen_kv_type (undefined behaviour in C++).
        int kv_type;
        static_assert(sizeof kv_type == sizeof p.kv_type);
        std::memcpy(&kv_type, &p.kv_type, sizeof kv_type);
        if (kv_type != QWEN_KV_F16 && kv_type != QWEN_KV_F32)
            qwen::fail(QWEN_ERR_INVALID_ARGUMENT, "kv_type ", kv_type, " is not a qwen_kv_type");
        if (p.n_threads < 0) qwen::fail(QWEN_ERR_INVALID_ARGUMENT, "n_threads ", p.n_threads, " is negative");
        qwen::ContextParams cp;
        const uint32_t train = model->model->hparams().n_ctx_train;
        cp.n_ctx = p.n_ctx ? p.n_ctx : (train < 4096 ? train : 4096);
        cp.n_threads = p.n_threads;
        cp.kv_f16 = kv_type == QWEN_KV_F16;
        auto c = std::make_unique<qwen_context>();
        c->ctx = std::make_unique<qwen::Context>(*model->model, cp);
        c->model = model;
        *out = c.release();
    });
}

QWEN_API void qwen_context_free(qwen_context* ctx) { delete ctx; }

QWEN_API qwen_status qwen_eval(qwen_context* ctx, const int32_t* tokens, size_t n_tokens, uint32_t flags) {
    return qwen::guarded(__func__, [&] {
        QWEN_REQUIRE_ARG(ctx);
        if (flags & ~QWEN_EVAL_ALL_LOGITS) qwen::fail(QWEN_ERR_INVALID_ARGUMENT, "qwen_eval: unknown flags ", flags);
        ctx->ctx->eval(tokens, n_tokens, (flags & QWEN_EVAL_ALL_LOGITS) != 0);
    });
}

QWEN_API qwen_status qwen_eval_batch(qwen_context* const* ctxs, const int32_t* tokens, size_t n) {
    return qwen::guarded(__func__, [&] {
        QWEN_REQUIRE_ARG(ctxs);
        std::vector<qwen::Context*> inner(n);
        for (size_t i = 0; i < n; ++i) {
            if (!ctxs[i]) qwen::fail(QWEN_ERR_INVALID_ARGUMENT, "qwen_eval_batch: context ", i, " is NULL");
            inner[i] = ctxs[i]->ctx.get();
        }
        qwen::Context::eval_batch(inner.data(), tokens, n);
    });
}

QWEN_API const float* qwen_context_logits(const qwen_context* ctx, size_t* n_rows) {
    size_t rows = ctx ? ctx->ctx->n_logit_rows() : 0;
    if (n_rows) *n_rows = rows;
    return ctx ? ctx->ctx->logits() : nullptr;
}

QWEN_API uint32_t qwen_context_n_past(const qwen_context* ctx) { return ctx ? ctx->ctx->n_past() : 0; }
QWEN_API uint32_t qwen_context_n_ctx(const qwen_context* ctx) { return ctx ? ctx->ctx->n_ctx() : 0; }

QWEN_API const int32_t* qwen_context_tokens(const qwen_context* ctx, size_t* n_tokens) {
    const size_t n = ctx ? ctx->ctx->tokens().size() : 0;
    if (n_tokens) *n_tokens = n;
    return n ? ctx->ctx->tokens().data() : nullptr;
}

QWEN_API void qwen_context_abort(qwen_context* ctx) {
    if (ctx) ctx->ctx->request_abort();
}

QWEN_API qwen_status qwen_context_truncate(qwen_context* ctx, uint32_t n_keep) {
    return qwen::guarded(__func__, [&] {
        QWEN_REQUIRE_ARG(ctx);
        ctx->ctx->truncate(n_keep);
    });
}

}  // extern "C"
