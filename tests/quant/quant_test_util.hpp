// Helpers shared by the quant unit tests.
#pragma once

#include "format/tensor_type.hpp"
#include "quant/dequantize.hpp"
#include "quant/quantize.hpp"

#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

namespace qwen::quant::test {

// Standard normal values, deterministic in `seed` on every platform (std::normal_distribution
// is not: the values come from the generator's bits through Box-Muller here).
inline std::vector<float> gaussian(size_t n, uint64_t seed, float scale = 1.0f) {
    std::mt19937_64 gen(seed);
    std::vector<float> v(n);
    for (size_t i = 0; i < n; i += 2) {
        const double u1 = (double(gen() >> 11) + 1.0) * 0x1p-53, u2 = double(gen() >> 11) * 0x1p-53;
        const double r = std::sqrt(-2.0 * std::log(u1));
        v[i] = float(r * std::cos(2 * M_PI * u2)) * scale;
        if (i + 1 < n) v[i + 1] = float(r * std::sin(2 * M_PI * u2)) * scale;
    }
    return v;
}

inline std::vector<uint8_t> quantize(TensorType t, const std::vector<float>& x) {
    std::vector<uint8_t> q(*tensor_row_bytes(t, x.size()));
    quantize_row(t, x.data(), q.data(), x.size());
    return q;
}

inline std::vector<float> dequantize(TensorType t, const std::vector<uint8_t>& q) {
    const auto info = tensor_type_info(t);
    std::vector<float> y(q.size() / info.block_bytes * info.block_elems);
    dequantize_row(t, q.data(), y.data(), y.size());
    return y;
}

// sqrt(mean((a - b)^2) / mean(a^2))
inline double rel_rmse(const std::vector<float>& a, const std::vector<float>& b) {
    double num = 0, den = 0;
    for (size_t i = 0; i < a.size(); ++i) {
        const double e = double(a[i]) - double(b[i]);
        num += e * e;
        den += double(a[i]) * double(a[i]);
    }
    return std::sqrt(num / den);
}

}  // namespace qwen::quant::test
