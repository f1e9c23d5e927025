// Passes over a whole row of logits (151,936 of them for Qwen2.5), written as loops over
// fixed groups of lanes so they vectorize, with a fixed order of additions so the results do
// not depend on the machine.
#pragma once

#include <cstddef>

namespace qwen {

// Throws Error(QWEN_ERR_INVALID_ARGUMENT) naming the first NaN or +infinity: "logits[7] is NaN".
void check_logits(const float* x, size_t n);

// The largest of x[0 .. n), -inf when n is 0 or all are -inf.
float max_value(const float* x, size_t n);

// Sum of exp(x[i] * s - ymax) in double; every exponent must be <= 0 (ymax >= max(x) * s).
double sum_exp(const float* x, size_t n, float s, float ymax);

// Sum of w[i] over the i with key[i] >= t, in double, in a fixed order.
double mass_at_least(const float* key, const float* w, size_t n, float t);

// The same sum, and sum of exp(y) * y with y = x[i] * s - ymax (terms with exp(y) = 0 left out).
void exp_moments(const float* x, size_t n, float s, float ymax, double& z, double& zy);

}  // namespace qwen
