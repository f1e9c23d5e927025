#include "sample/logprobs.hpp"

#include "core/error.hpp"
#include "sample/row.hpp"

#include <cmath>

namespace qwen {

void logprobs(const float* logits, size_t n, int32_t token, float* logprob, qwen_token_logprob* top, size_t n_top) {
    if (!logits) fail(QWEN_ERR_INVALID_ARGUMENT, "logits is NULL");
    if (n_top > QWEN_MAX_TOP_LOGPROBS)
        fail(QWEN_ERR_INVALID_ARGUMENT, "n_top = ", n_top, " is more than QWEN_MAX_TOP_LOGPROBS (", QWEN_MAX_TOP_LOGPROBS, ")");
    if (n_top > n) fail(QWEN_ERR_INVALID_ARGUMENT, "n_top = ", n_top, " is more than the ", n, " logits");
    if (n_top && !top) fail(QWEN_ERR_INVALID_ARGUMENT, "top is NULL but n_top = ", n_top);
    if (logprob && (token < 0 || size_t(token) >= n))
        fail(QWEN_ERR_INVALID_ARGUMENT, "token = ", token, " is outside the ", n, " logits");
    check_logits(logits, n);
    const float m = max_value(logits, n);
    if (m == -INFINITY) fail(QWEN_ERR_INVALID_ARGUMENT, "every logit is -infinity");
    const double log_z = std::log(sum_exp(logits, n, 1.0f, m));
    auto logprob_of = [&](float x) { return float(double(x) - double(m) - log_z); };
    if (logprob) *logprob = logprob_of(logits[token]);

    // The n_top best by insertion into a sorted array of at most 20: after the first few
    // hundred logits almost nothing gets past the comparison with the last one.
    size_t filled = 0;
    for (size_t i = 0; i < n && n_top; ++i) {
        const float x = logits[i];
        if (filled == n_top && !(x > top[n_top - 1].logprob)) continue;  // equal: the lower id stays
        size_t j = filled < n_top ? filled++ : n_top - 1;
        for (; j > 0 && x > top[j - 1].logprob; --j) top[j] = top[j - 1];
        top[j] = {int32_t(i), x};
    }
    for (size_t j = 0; j < n_top; ++j) top[j].logprob = logprob_of(top[j].logprob);
}

}  // namespace qwen
