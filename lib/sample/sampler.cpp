// The stages, and where their definitions come from.
//
// Semantics follow Hugging Face transformers, whose generate() produced the published
// generation_config.json, so the same settings mean the same distribution:
// - repetition_penalty: RepetitionPenaltyLogitsProcessor - every distinct token of the
//   window, once, whatever its count: l / r if l > 0 else l * r.
// - frequency / presence penalties (OpenAI; transformers has none): l -= count * f + p,
//   applied after the repetition penalty, as llama.cpp's penalties sampler does.
// - temperature, top-k, top-p, min-p, typical-p: the warpers of the same names, in the order
//   _get_logits_warper() builds them. Top-p keeps the smallest most-likely set whose
//   probability reaches top_p (llama.cpp's is the same set); min-p compares probabilities
//   after the stages before it (llama.cpp compares logits before temperature by default).
// - greedy (temperature <= 0): argmax after penalties and bias, the lower id on ties
//   (torch.argmax returns the first maximum too).
// - default order: penalties, then logit bias, as qwen.h documents. transformers
//   (SequenceBiasLogitsProcessor) and llama.cpp (logit_bias first in common_sampler) add the
//   bias first; the two differ only for a token with a finite bias inside the penalty window.
// Deliberately unlike transformers: the draw is an inverse CDF over our own random stream,
// not torch.multinomial, so tokens match transformers' distribution, not its exact samples.
#include "sample/sampler.hpp"

#include "core/error.hpp"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>

namespace qwen {

namespace {

constexpr qwen_sampler_stage kDefaultOrder[] = {
    QWEN_STAGE_PENALTIES, QWEN_STAGE_LOGIT_BIAS, QWEN_STAGE_TEMPERATURE, QWEN_STAGE_TOP_K,
    QWEN_STAGE_TOP_P,     QWEN_STAGE_MIN_P,      QWEN_STAGE_TYPICAL_P,
};
constexpr const char* kStageNames[] = {"penalties", "logit_bias", "temperature", "top_k",
                                       "top_p",     "min_p",      "typical_p"};
constexpr int kStageCount = int(std::size(kStageNames));

// The integer a stage holds, read without loading an enum that may be out of range (a C
// caller can put any int there, and loading it as the enum would be undefined behaviour).
int32_t stage_value(const qwen_sampler_stage& s) {
    static_assert(sizeof(qwen_sampler_stage) == sizeof(int32_t));
    int32_t v;
    std::memcpy(&v, &s, sizeof v);
    return v;
}

void require(bool ok, const char* field, float value, const char* rule) {
    if (!ok) fail(QWEN_ERR_INVALID_ARGUMENT, field, " = ", value, ": ", rule);
}

std::vector<qwen_sampler_stage> validated_order(const std::vector<qwen_sampler_stage>& order) {
    if (order.empty()) return {std::begin(kDefaultOrder), std::end(kDefaultOrder)};
    if (order.size() > QWEN_SAMPLER_MAX_STAGES)
        fail(QWEN_ERR_INVALID_ARGUMENT, "order has ", order.size(), " stages, more than QWEN_SAMPLER_MAX_STAGES (",
             QWEN_SAMPLER_MAX_STAGES, ")");
    bool seen[kStageCount] = {};
    for (size_t i = 0; i < order.size(); ++i) {
        const int32_t v = stage_value(order[i]);
        if (v < 0 || v >= kStageCount) fail(QWEN_ERR_INVALID_ARGUMENT, "order[", i, "] = ", v, " is not a known stage");
        if (seen[v]) fail(QWEN_ERR_INVALID_ARGUMENT, "order[", i, "] repeats the stage ", kStageNames[v]);
        seen[v] = true;
    }
    return order;
}

}  // namespace

Sampler::Sampler(const SamplerConfig& config, uint32_t n_vocab)
    : config_(config),
      n_vocab_(n_vocab),
      window_(n_vocab, config.penalty_last_n < 0 ? -1 : config.penalty_last_n),
      rng_(config.seed),
      cands_(n_vocab) {
    const SamplerConfig& c = config_;
    if (n_vocab == 0) fail(QWEN_ERR_INVALID_ARGUMENT, "the vocabulary is empty");
    require(std::isfinite(c.temperature), "temperature", c.temperature, "must be a finite number (<= 0: greedy)");
    if (c.top_k < 0) fail(QWEN_ERR_INVALID_ARGUMENT, "top_k = ", c.top_k, ": must be >= 0 (0: off)");
    require(c.top_p > 0 && c.top_p <= 1, "top_p", c.top_p, "must be in (0, 1] (1: off)");
    require(c.min_p >= 0 && c.min_p <= 1, "min_p", c.min_p, "must be in [0, 1] (0: off)");
    require(c.typical_p > 0 && c.typical_p <= 1, "typical_p", c.typical_p, "must be in (0, 1] (1: off)");
    require(c.repetition_penalty > 0 && std::isfinite(c.repetition_penalty), "repetition_penalty",
            c.repetition_penalty, "must be a finite number > 0 (1: off)");
    require(std::isfinite(c.frequency_penalty), "frequency_penalty", c.frequency_penalty, "must be finite (0: off)");
    require(std::isfinite(c.presence_penalty), "presence_penalty", c.presence_penalty, "must be finite (0: off)");
    if (c.penalty_last_n < -1)
        fail(QWEN_ERR_INVALID_ARGUMENT, "penalty_last_n = ", c.penalty_last_n, ": must be >= -1 (-1: all, 0: none)");
    for (size_t i = 0; i < c.logit_bias.size(); ++i) {
        const qwen_logit_bias& b = c.logit_bias[i];
        if (b.token < 0 || uint32_t(b.token) >= n_vocab)
            fail(QWEN_ERR_INVALID_ARGUMENT, "logit_bias[", i, "].token = ", b.token, " is outside the vocabulary [0, ",
                 n_vocab, ")");
        // -inf bans a token; +inf would make every other token impossible and the
        // arithmetic undefined (inf - inf), so a caller who means "force" uses a large value.
        if (std::isnan(b.bias) || b.bias == INFINITY)
            fail(QWEN_ERR_INVALID_ARGUMENT, "logit_bias[", i, "].bias = ", b.bias, ": must be a number or -INFINITY");
    }
    order_ = validated_order(c.order);

    bias_ = c.logit_bias;
    std::stable_sort(bias_.begin(), bias_.end(), [](auto& a, auto& b) { return a.token < b.token; });
    size_t out = 0;
    for (size_t i = 0; i < bias_.size(); ++i) {
        if (out > 0 && bias_[out - 1].token == bias_[i].token)
            bias_[out - 1].bias += bias_[i].bias;
        else
            bias_[out++] = bias_[i];
    }
    bias_.resize(out);
}

Sampler::Sampler(const Sampler& o)
    : config_(o.config_),
      n_vocab_(o.n_vocab_),
      order_(o.order_),
      bias_(o.bias_),
      window_(o.window_),
      rng_(o.rng_),
      cands_(o.n_vocab_),
      grammar_(o.grammar_ ? std::make_unique<GrammarConstraint>(*o.grammar_) : nullptr) {}

float Sampler::penalize(float l, uint32_t count) const {
    const float r = config_.repetition_penalty;
    l = l > 0 ? l / r : l * r;
    // In double, so that a banned token (-inf) minus a negative penalty stays -inf instead
    // of becoming -inf + inf = NaN.
    return float(double(l) - (double(count) * double(config_.frequency_penalty) + double(config_.presence_penalty)));
}

void Sampler::apply_penalties() {
    const SamplerConfig& c = config_;
    if (window_.empty() || (c.repetition_penalty == 1 && c.frequency_penalty == 0 && c.presence_penalty == 0)) return;
    if (cands_.dense()) {
        float* l = cands_.writable();
        for (int32_t t : window_.distinct()) l[t] = penalize(l[t], window_.count(t));
    } else {
        for (Candidate& cand : cands_.candidates())
            if (const uint32_t n = window_.count(cand.id)) cand.logit = penalize(cand.logit, n);
    }
}

void Sampler::apply_logit_bias() {
    if (bias_.empty()) return;
    if (cands_.dense()) {
        float* l = cands_.writable();
        for (const qwen_logit_bias& b : bias_) l[b.token] += b.bias;
    } else {
        for (Candidate& cand : cands_.candidates()) {
            auto it = std::lower_bound(bias_.begin(), bias_.end(), cand.id,
                                       [](const qwen_logit_bias& b, int32_t id) { return b.token < id; });
            if (it != bias_.end() && it->token == cand.id) cand.logit += it->bias;
        }
    }
}

void Sampler::set_grammar(std::unique_ptr<GrammarConstraint> grammar) {
    if (grammar && grammar->vocab().n_vocab() != n_vocab_)
        fail(QWEN_ERR_INVALID_ARGUMENT, "the grammar's vocabulary has ", grammar->vocab().n_vocab(),
             " tokens, the sampler's ", n_vocab_);
    grammar_ = std::move(grammar);
}

// Bans what the grammar forbids. Only the words of the mask with a zero bit cost anything:
// inside a JSON string nearly every token is allowed.
void Sampler::apply_grammar() {
    const std::vector<uint64_t>& mask = grammar_->mask();
    bool any = false;
    for (uint64_t w : mask) any = any || w != 0;
    if (!any) fail(QWEN_ERR_INVALID_ARGUMENT, "the grammar allows no token here (is it missing an end?)");
    float* l = cands_.writable();
    for (size_t w = 0; w < mask.size(); ++w) {
        uint64_t banned = ~mask[w];
        if (w + 1 == mask.size() && n_vocab_ % 64) banned &= (uint64_t{1} << (n_vocab_ % 64)) - 1;
        for (; banned; banned &= banned - 1) l[w * 64 + size_t(std::countr_zero(banned))] = -INFINITY;
    }
}

void Sampler::run(const float* logits, size_t n) {
    if (!logits) fail(QWEN_ERR_INVALID_ARGUMENT, "logits is NULL");
    if (n != n_vocab_)
        fail(QWEN_ERR_INVALID_ARGUMENT, "n_logits = ", n, " but the vocabulary has ", n_vocab_, " tokens");
    cands_.start(logits);
    if (grammar_) apply_grammar();
    const SamplerConfig& c = config_;
    for (qwen_sampler_stage stage : order_) {
        if (greedy() && stage != QWEN_STAGE_PENALTIES && stage != QWEN_STAGE_LOGIT_BIAS) continue;
        switch (stage) {
            case QWEN_STAGE_PENALTIES: apply_penalties(); break;
            case QWEN_STAGE_LOGIT_BIAS: apply_logit_bias(); break;
            case QWEN_STAGE_TEMPERATURE:
                if (c.temperature != 1) cands_.scale(1.0f / c.temperature);
                break;
            case QWEN_STAGE_TOP_K:
                if (c.top_k > 0) cands_.top_k(size_t(c.top_k));
                break;
            case QWEN_STAGE_TOP_P:
                if (c.top_p < 1) cands_.top_p(double(c.top_p));
                break;
            case QWEN_STAGE_MIN_P:
                if (c.min_p > 0) cands_.min_p(c.min_p);
                break;
            case QWEN_STAGE_TYPICAL_P:
                if (c.typical_p < 1) cands_.typical(double(c.typical_p));
                break;
        }
    }
}

int32_t Sampler::sample(const float* logits, size_t n) {
    run(logits, n);
    int32_t token;
    if (greedy()) {
        token = cands_.argmax();
    } else {
        Rng next = rng_;  // advanced only once the draw succeeded
        token = cands_.draw(next.uniform());
        rng_ = next;
    }
    if (grammar_) grammar_->accept(token);
    window_.push(token);
    return token;
}

std::vector<std::pair<int32_t, float>> Sampler::distribution(const float* logits, size_t n) {
    run(logits, n);
    std::vector<std::pair<int32_t, float>> out;
    if (greedy())
        out.emplace_back(cands_.argmax(), 1.0f);
    else
        cands_.distribution(out);
    return out;
}

void Sampler::accept(const int32_t* tokens, size_t n) {
    if (!tokens && n) fail(QWEN_ERR_INVALID_ARGUMENT, "tokens is NULL");
    for (size_t i = 0; i < n; ++i)
        if (tokens[i] < 0 || uint32_t(tokens[i]) >= n_vocab_)
            fail(QWEN_ERR_INVALID_ARGUMENT, "tokens[", i, "] = ", tokens[i], " is outside the vocabulary [0, ",
                 n_vocab_, ")");
    for (size_t i = 0; i < n; ++i) window_.push(tokens[i]);
}

void Sampler::clear_history() {
    window_.clear();
    if (grammar_) grammar_->reset();
}

void Sampler::reset() {
    window_.clear();
    if (grammar_) grammar_->reset();
    rng_.seed_with(config_.seed);
}

}  // namespace qwen
