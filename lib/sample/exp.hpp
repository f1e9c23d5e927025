// exp(y) for y <= 0, the only exponentials sampling needs (a logit minus the largest one).
//
// Written out instead of calling std::exp for two reasons: the result must be the same on
// every machine (libm implementations round differently in the last bit, and a token choice
// may hinge on it), and a loop of these vectorizes, so a softmax over 151,936 logits costs
// tens of microseconds instead of a millisecond. Only IEEE adds and multiplies of floats are
// used; the module is compiled with -ffp-contract=off so no FMA changes a rounding.
//
// Method: y = n ln2 + r with |r| <= ln2 / 2 (ln2 split in two parts so n ln2 is exact), e^r
// from a degree-6 minimax polynomial (the classic Cephes coefficients), 2^n by building the
// exponent bits. Relative error below 2e-7 (tests/sample/test_exp.cpp). Results below
// e^-87 (~1.6e-38, 38 orders of magnitude below the most likely token) are flushed to 0,
// which also makes exp(-inf) exactly 0.
#pragma once

#include <bit>
#include <cstdint>

namespace qwen {

inline float exp_nonpositive(float y) {
    // Written without branches or selects of computed values (GCC will not if-convert those
    // under -ftrapping-math, and the loop would not vectorize): tiny inputs (and -inf) are
    // masked to 0 on the way in, so every step stays finite, and the result masked on the way out.
    const uint32_t keep = 0u - uint32_t(y >= -87.0f);
    const float x = std::bit_cast<float>(std::bit_cast<uint32_t>(y) & keep);
    // Round x / ln2 to the nearest integer: adding 1.5 * 2^23 leaves no fraction bits.
    const float n = (x * 1.44269504f + 12582912.0f) - 12582912.0f;
    float r = x - n * 0.693359375f;  // ln2's high part: n * it is exact for |n| < 2^15
    r = r - n * -2.12194440e-4f;     // the rest of ln2
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    const float er = p * (r * r) + r + 1.0f;
    const float scale = std::bit_cast<float>(uint32_t(int32_t(n) + 127) << 23);  // 2^n, n in [-126, 0]
    return std::bit_cast<float>(std::bit_cast<uint32_t>(er * scale) & keep);
}

}  // namespace qwen
