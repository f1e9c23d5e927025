// The sampler chain behind qwen_sampler: penalties, logit bias, temperature, top-k, top-p,
// min-p and typical-p over one row of logits, then a draw from a seeded, platform-independent
// random stream. Deterministic: the same config, seed, history and logits give the same token.
#pragma once

#include <qwen/qwen.h>

#include <cstddef>
#include <cstdint>
#include <string>
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
};

class Sampler {
public:
    // Throws Error(QWEN_ERR_INVALID_ARGUMENT) naming the field for an out-of-range value.
    Sampler(const SamplerConfig& config, uint32_t n_vocab);

    // Samples from logits[0 .. n) (n must equal n_vocab) and accepts the token.
    int32_t sample(const float* logits, size_t n);
    // Adds tokens to the penalty history.
    void accept(const int32_t* tokens, size_t n);
    // Forgets the penalty history only (the random stream goes on): qwen_generate() sets the
    // history to each call's whole prompt.
    void clear_history();
    // Forgets the history, restarts the random stream from the seed.
    void reset();

    // The mutable state (random stream + history) as bytes, and back. load() validates and
    // throws Error(QWEN_ERR_FORMAT) without changing anything on bad bytes.
    void save_state(std::string& out) const;
    void load_state(const uint8_t* data, size_t n);

    const SamplerConfig& config() const { return config_; }
    uint32_t n_vocab() const { return n_vocab_; }

private:
    struct Impl;
    SamplerConfig config_;
    uint32_t n_vocab_;
    // Implementation state lives in sampler.cpp (candidates buffer, history, counts, rng).
    std::vector<int32_t> history_;
    uint64_t rng_[4] = {};
    std::vector<float> scratch_logits_;
    std::vector<int32_t> scratch_ids_;
    std::vector<uint32_t> counts_;
};

// Log-softmax of raw logits (double accumulation, max subtracted): *logprob of `token` (if
// not null) and the n_top most likely tokens, most likely first, ties lower id first.
void token_logprobs(const float* logits, size_t n, int32_t token, float* logprob, qwen_token_logprob* top,
                    size_t n_top);

}  // namespace qwen
