// The sampler chain behind qwen_sampler: penalties, logit bias, temperature, top-k, top-p,
// min-p and typical-p over one row of logits, then a draw from a seeded, platform-independent
// random stream. Deterministic: the same config, seed, history and logits give the same token.
#pragma once

#include <qwen/qwen.h>

#include "grammar/token_mask.hpp"
#include "sample/candidates.hpp"
#include "sample/rng.hpp"
#include "sample/token_window.hpp"

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace qwen {

struct SamplerConfig {
    uint64_t seed = 0xC0FFEE;
    float temperature = 0.7f;
    int32_t top_k = 20;
    float top_p = 0.8f;
    float min_p = 0.0f;
    float typical_p = 1.0f;
    float repetition_penalty = 1.1f;
    float frequency_penalty = 0.0f;
    float presence_penalty = 0.0f;
    int32_t penalty_last_n = -1;
    std::vector<qwen_logit_bias> logit_bias;
    std::vector<qwen_sampler_stage> order;  // empty: the default order

    // Every stage at its neutral value: temperature 1 and nothing else, so the distribution is
    // the softmax of the logits (set temperature = 0 for plain greedy decoding).
    static SamplerConfig neutral() {
        SamplerConfig c;
        c.temperature = 1.0f;
        c.top_k = 0;
        c.top_p = 1.0f;
        c.repetition_penalty = 1.0f;
        return c;
    }
};

class Sampler {
public:
    // Throws Error(QWEN_ERR_INVALID_ARGUMENT) naming the field for an out-of-range value.
    Sampler(const SamplerConfig& config, uint32_t n_vocab);

    // Constrains sample() and distribution() to the tokens the grammar allows (before every
    // stage, the others get -inf); sample() then advances it, reset() restarts it. Its
    // vocabulary must have n_vocab tokens. nullptr: no constraint.
    void set_grammar(std::unique_ptr<GrammarConstraint> grammar);
    GrammarConstraint* grammar() { return grammar_.get(); }

    // Copies carry their own copy of the grammar's state.
    Sampler(const Sampler& other);
    Sampler& operator=(const Sampler&) = delete;

    // Samples from logits[0 .. n) (n must equal n_vocab) and accepts the token.
    int32_t sample(const float* logits, size_t n);
    // Adds tokens to the penalty history (not to the grammar: prompts are not its output).
    void accept(const int32_t* tokens, size_t n);
    // Forgets the penalty history and restarts the grammar (the random stream goes on):
    // qwen_generate() sets the history to each call's whole prompt, and each call's output is
    // one answer of the grammar.
    void clear_history();
    // Forgets the history, restarts the random stream from the seed and the grammar.
    void reset();

    // The distribution sample() would draw from for these logits, after every stage: (token,
    // probability) for the tokens still in play, most likely first (ties: the lower id).
    // Greedy gives the argmax with probability 1. Draws nothing and accepts nothing.
    std::vector<std::pair<int32_t, float>> distribution(const float* logits, size_t n);

    // The mutable state (random stream + history) as bytes, and back. load() validates and
    // throws Error(QWEN_ERR_FORMAT) without changing anything on bad bytes.
    void save_state(std::string& out) const;
    void load_state(const uint8_t* data, size_t n);

    const SamplerConfig& config() const { return config_; }
    uint32_t n_vocab() const { return n_vocab_; }

private:
    bool greedy() const { return !(config_.temperature > 0); }
    // Runs the stages over one row of logits, leaving the survivors in cands_.
    void run(const float* logits, size_t n);
    void apply_penalties();
    void apply_logit_bias();
    void apply_grammar();
    float penalize(float logit, uint32_t count) const;

    SamplerConfig config_;
    uint32_t n_vocab_;
    std::vector<qwen_sampler_stage> order_;  // validated; the default one if config_.order is empty
    std::vector<qwen_logit_bias> bias_;      // sorted by token, a token given twice summed
    TokenWindow window_;
    Rng rng_;
    Candidates cands_;  // scratch of a step, reserved once
    std::unique_ptr<GrammarConstraint> grammar_;
};

}  // namespace qwen
