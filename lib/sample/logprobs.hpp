// Log-probabilities under the model's own distribution: the log-softmax of the raw logits,
// before any sampler stage (what OpenAI's `logprobs` report).
#pragma once

#include <qwen/qwen.h>

#include <cstddef>
#include <cstdint>

namespace qwen {

// *logprob (if not null) gets the log-probability of `token`, and top[0 .. n_top) the n_top
// most likely tokens, most likely first, the lower id first on ties. The normaliser is summed
// in double after subtracting the largest logit. Throws Error(QWEN_ERR_INVALID_ARGUMENT) for
// a NaN or +infinity logit (naming its index), all logits -infinity, `token` outside
// [0, n) when logprob is wanted, n_top > QWEN_MAX_TOP_LOGPROBS or n_top > n.
void logprobs(const float* logits, size_t n, int32_t token, float* logprob, qwen_token_logprob* top, size_t n_top);

}  // namespace qwen
