// qwen_sampler_* and qwen_logprobs: the sampler chain of sample/ behind the C API.
#include "api/guard.hpp"
#include "api/handles.hpp"
#include "chat/json_text.hpp"
#include "format/model_source.hpp"
#include "grammar/json_schema.hpp"
#include "grammar/token_mask.hpp"
#include "model/model.hpp"
#include "sample/logprobs.hpp"
#include "sample/sampler.hpp"
#include "tokenizer/tokenizer.hpp"

using qwen::guarded;

qwen_sampler::~qwen_sampler() = default;

namespace {

// The defaults live in SamplerConfig; the C struct mirrors them.
qwen_sampler_params default_params() {
    const qwen::SamplerConfig c;
    qwen_sampler_params p{};
    p.struct_size = sizeof p;
    p.seed = c.seed;
    p.temperature = c.temperature;
    p.top_k = c.top_k;
    p.top_p = c.top_p;
    p.min_p = c.min_p;
    p.typical_p = c.typical_p;
    p.repetition_penalty = c.repetition_penalty;
    p.frequency_penalty = c.frequency_penalty;
    p.presence_penalty = c.presence_penalty;
    p.penalty_last_n = c.penalty_last_n;
    return p;
}

// guarded(), where a bad value found inside the library (the sampler's checks of its config
// or logits) is reported as the caller's argument: with the C function's name in front.
template <class F>
qwen_status guarded_args(const char* api, F&& body) noexcept {
    return guarded(api, [&] {
        try {
            body();
        } catch (const qwen::ArgumentError&) {
            throw;
        } catch (const qwen::Error& e) {
            if (e.status() == QWEN_ERR_INVALID_ARGUMENT) throw qwen::ArgumentError(e.what());
            throw;
        }
    });
}

// The constraint of params.grammar / params.json_schema over the model's vocabulary, or null.
std::unique_ptr<qwen::GrammarConstraint> constraint(const qwen_model& model, const qwen_sampler_params& p) {
    if (!p.grammar && !p.json_schema) return nullptr;
    if (p.grammar && p.json_schema)
        qwen::fail(QWEN_ERR_INVALID_ARGUMENT, "grammar and json_schema are both set: give one of them");
    const std::string gbnf =
        p.grammar ? std::string(p.grammar)
                  : qwen::json_schema_to_gbnf(qwen::parse_json_text(p.json_schema, "json_schema"));
    auto grammar = std::make_shared<const qwen::Grammar>(qwen::parse_gbnf(gbnf));
    return std::make_unique<qwen::GrammarConstraint>(std::move(grammar), model.grammar_vocab());
}

}  // namespace

std::shared_ptr<const qwen::GrammarVocab> qwen_model::grammar_vocab() const {
    const std::lock_guard lock(grammar_vocab_mutex_);
    if (!grammar_vocab_) grammar_vocab_ = std::make_shared<const qwen::GrammarVocab>(*tokenizer, model->hparams().n_vocab);
    return grammar_vocab_;
}

extern "C" {

QWEN_API void qwen_sampler_params_init(qwen_sampler_params* params, size_t struct_size) {
    qwen::init_params(params, struct_size, default_params());
}

QWEN_API qwen_status qwen_sampler_params_from_model(const qwen_model* model, qwen_sampler_params* params) {
    return guarded_args(__func__, [&] {
        QWEN_REQUIRE_ARG(model);
        QWEN_REQUIRE_ARG(params);
        qwen_sampler_params p = qwen::read_params(params, default_params());
        const auto g = model->model->source().generation_defaults();
        if (!g) return;
        // Read as transformers reads the file: do_sample false is greedy decoding (the
        // repetition penalty still applies), and so is top_p 0, which keeps one token.
        p.temperature = g->do_sample && g->top_p > 0 ? g->temperature : 0.0f;
        if (g->top_p > 0) p.top_p = g->top_p;
        p.top_k = g->top_k;
        p.repetition_penalty = g->repetition_penalty;
        qwen::init_params(params, params->struct_size, p);  // only the bytes the caller's struct has
    });
}

QWEN_API qwen_status qwen_sampler_create(const qwen_model* model, const qwen_sampler_params* params,
                                         qwen_sampler** out) {
    return guarded_args(__func__, [&] {
        QWEN_REQUIRE_ARG(model);
        QWEN_REQUIRE_ARG(out);
        const qwen_sampler_params p = qwen::read_params(params, default_params());
        QWEN_REQUIRE_ARG(p.logit_bias != nullptr || p.n_logit_bias == 0);
        QWEN_REQUIRE_ARG(p.order != nullptr || p.n_order == 0);
        if (p.n_order > QWEN_SAMPLER_MAX_STAGES)
            qwen::fail(QWEN_ERR_INVALID_ARGUMENT, "n_order = ", p.n_order, " is more than QWEN_SAMPLER_MAX_STAGES (",
                       QWEN_SAMPLER_MAX_STAGES, ")");
        qwen::SamplerConfig c;
        c.seed = p.seed;
        c.temperature = p.temperature;
        c.top_k = p.top_k;
        c.top_p = p.top_p;
        c.min_p = p.min_p;
        c.typical_p = p.typical_p;
        c.repetition_penalty = p.repetition_penalty;
        c.frequency_penalty = p.frequency_penalty;
        c.presence_penalty = p.presence_penalty;
        c.penalty_last_n = p.penalty_last_n;
        c.logit_bias.assign(p.logit_bias, p.logit_bias + p.n_logit_bias);
        // Copied as bytes: the Sampler reads each stage as an integer before trusting it.
        c.order.resize(p.n_order);
        if (p.n_order) std::memcpy(static_cast<void*>(c.order.data()), p.order, p.n_order * sizeof *p.order);
        auto s = std::make_unique<qwen_sampler>();
        s->sampler = std::make_unique<qwen::Sampler>(c, model->model->hparams().n_vocab);
        s->sampler->set_grammar(constraint(*model, p));
        *out = s.release();
    });
}

QWEN_API void qwen_sampler_free(qwen_sampler* sampler) { delete sampler; }

QWEN_API qwen_status qwen_sampler_sample(qwen_sampler* sampler, const float* logits, size_t n_logits,
                                         int32_t* token) {
    return guarded_args(__func__, [&] {
        QWEN_REQUIRE_ARG(sampler);
        QWEN_REQUIRE_ARG(logits);
        QWEN_REQUIRE_ARG(token);
        *token = sampler->sampler->sample(logits, n_logits);
    });
}

QWEN_API qwen_status qwen_sampler_accept(qwen_sampler* sampler, const int32_t* tokens, size_t n_tokens) {
    return guarded_args(__func__, [&] {
        QWEN_REQUIRE_ARG(sampler);
        QWEN_REQUIRE_ARG(tokens != nullptr || n_tokens == 0);
        sampler->sampler->accept(tokens, n_tokens);
    });
}

QWEN_API void qwen_sampler_reset(qwen_sampler* sampler) {
    if (sampler) sampler->sampler->reset();
}

QWEN_API qwen_status qwen_logprobs(const float* logits, size_t n_logits, int32_t token, float* logprob,
                                   qwen_token_logprob* top, size_t n_top) {
    return guarded_args(__func__, [&] {
        QWEN_REQUIRE_ARG(logits);
        QWEN_REQUIRE_ARG(top != nullptr || n_top == 0);
        qwen::logprobs(logits, n_logits, token, logprob, top, n_top);
    });
}

}  // extern "C"
