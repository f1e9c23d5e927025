// The dense (F32 / F16 / BF16 weight) kernels of kernels/matmul on the path QWEN_ISA selects
// (CTest runs this binary once per path the machine has): the half-precision weights are
// widened exactly, and every product equals a double-precision sum of the same terms to
// float rounding, for shapes that reach every register tile (one row for decode, 6 rows (AVX-512)
// and 4 rows x 1..4 tokens, single rows, and more than the 64-token block), and each token's
// result is the same bits as when it is multiplied alone.

#include "core/half.hpp"
#include "kernels/dispatch.hpp"
#include "kernels/matmul.hpp"

#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

using namespace qwen;

namespace {

float widen(TensorType type, const uint8_t* row, size_t c) {
    if (type == TensorType::F32) {
        float v;
        std::memcpy(&v, row + 4 * c, 4);
        return v;
    }
    uint16_t h;
    std::memcpy(&h, row + 2 * c, 2);
    return type == TensorType::F16 ? f16_to_f32(h) : bf16_to_f32(h);
}

// BF16 weights whose rows the AVX512_BF16 kernel takes: activations rounded to bf16 and
// subnormal bf16 values counted as zero (vdpbf16ps; tests/kernels/test_bf16_kernels.cpp).
bool bf16_kernel(TensorType type, size_t cols) {
    return type == TensorType::BF16 && kernels::kernel_table().bf16_rows && cols % kernels::kBf16Cols == 0;
}

// Every finite 16-bit pattern of `type` (subnormals, both zeros, the largest values) as the
// weights of a rows x cols matrix; multiplied with one-hot activations, each product is one
// weight times 1 plus zeros, so the result is that weight's widened value exactly (zero for
// the subnormals on the vdpbf16ps path).
void check_exact_widening(TensorType type, size_t rows, size_t cols) {
    const uint16_t exp_mask = type == TensorType::F16 ? 0x7c00 : 0x7f80;
    std::vector<uint16_t> w;
    for (uint32_t h = 0; h < 65536; ++h)
        if ((h & exp_mask) != exp_mask) w.push_back(uint16_t(h));
    REQUIRE(w.size() == rows * cols);
    const Matrix m{type, reinterpret_cast<const uint8_t*>(w.data()), rows, cols, cols * 2};
    std::vector<float> x(cols * cols, 0.0f), y(cols * rows, NAN);
    for (size_t t = 0; t < cols; ++t) x[t * cols + t] = 1.0f;
    matmul(m, x.data(), cols, cols, y.data(), rows);
    size_t wrong = 0;
    for (size_t t = 0; t < cols; ++t)
        for (size_t r = 0; r < rows; ++r) {
            float want = widen(type, m.data + r * m.row_bytes, t);
            if (bf16_kernel(type, cols) && std::fpclassify(want) == FP_SUBNORMAL) want = 0.0f;
            if (!(y[t * rows + r] == want)) {
                if (wrong++ < 5) FAIL_CHECK("pattern " << w[r * cols + t] << ": " << y[t * rows + r] << " != " << want);
            }
        }
    CHECK(wrong == 0);
}

std::vector<uint8_t> random_weights(TensorType type, size_t rows, size_t cols, std::mt19937_64& gen) {
    std::normal_distribution<float> nd(0.0f, 1.0f);
    const size_t elem = type == TensorType::F32 ? 4 : 2;
    std::vector<uint8_t> w(rows * cols * elem);
    for (size_t i = 0; i < rows * cols; ++i) {
        const float v = nd(gen);
        if (type == TensorType::F32) {
            std::memcpy(&w[4 * i], &v, 4);
        } else {
            const uint16_t h = type == TensorType::F16 ? f32_to_f16(v) : f32_to_bf16(v);
            std::memcpy(&w[2 * i], &h, 2);
        }
    }
    return w;
}

void check_products(TensorType type, size_t cols) {
    // 16-row chunks, each 6 + 6 + 4 rows on AVX-512 (4 x 4 elsewhere), and a last one of 4 + 1
    // (decode: one row at a time).
    const size_t rows = 37;
    std::mt19937_64 gen(cols * 131 + size_t(type));
    const std::vector<uint8_t> w = random_weights(type, rows, cols, gen);
    const size_t row_bytes = w.size() / rows;
    const Matrix m{type, w.data(), rows, cols, row_bytes};
    const bool rounded = bf16_kernel(type, cols);  // no subnormals among these weights or activations
    std::normal_distribution<float> nd(0.0f, 1.0f);
    for (size_t n_tok : {1, 2, 3, 4, 5, 6, 7, 8, 9, 17, 70}) {
        INFO("n_tok " << n_tok);
        const size_t ldx = cols + 3, ldy = rows + 1;  // strides that are not the row lengths
        std::vector<float> x(n_tok * ldx), y(n_tok * ldy, NAN);
        for (auto& v : x) v = nd(gen);
        matmul(m, x.data(), ldx, n_tok, y.data(), ldy);
        for (size_t t = 0; t < n_tok; ++t)
            for (size_t r = 0; r < rows; ++r) {
                double want = 0, magnitude = 0;
                for (size_t c = 0; c < cols; ++c) {
                    const float xv = rounded ? bf16_to_f32(f32_to_bf16(x[t * ldx + c])) : x[t * ldx + c];
                    const double p = double(widen(type, w.data() + r * row_bytes, c)) * double(xv);
                    want += p;
                    magnitude += std::fabs(p);
                }
                INFO("row " << r << " token " << t);
                REQUIRE(std::fabs(double(y[t * ldy + r]) - want) <= 1e-5 * magnitude);
            }
        for (size_t t = 0; t < n_tok; ++t) CHECK(std::isnan(y[t * ldy + rows]));  // the padding stays untouched
        // A token's result does not depend on the batch it is in (tile shape, token block).
        std::vector<float> alone(rows);
        for (size_t t = 0; t < n_tok; ++t) {
            matmul(m, x.data() + t * ldx, ldx, 1, alone.data(), rows);
            CHECK(std::memcmp(alone.data(), y.data() + t * ldy, rows * sizeof(float)) == 0);
        }
    }
}

}  // namespace

TEST_CASE("F16 and BF16 weights are widened exactly, every finite value") {
    MESSAGE("kernel path: " << std::string(kernels::kernel_table().isa));
    check_exact_widening(TensorType::F16, 62, 1024);
    check_exact_widening(TensorType::BF16, 255, 256);
}

TEST_CASE("dense products equal a double-precision sum of the same terms") {
    // 36 columns: a whole number of 4-lane vectors (NEON, SSE2) but not of 8 or 16, which the
    // x86 paths take through the decoded-row fallback instead.
    for (TensorType type : {TensorType::F32, TensorType::F16, TensorType::BF16})
        for (size_t cols : {36, 896}) {
            INFO("type " << int(type) << " cols " << cols);
            check_products(type, cols);
        }
}

TEST_CASE("silu_mul: silu(gate) * up within a few ulp of std::exp's, every tail length, edge values") {
    const auto silu_mul = kernels::kernel_table().silu_mul;
    std::mt19937_64 gen(5);
    std::normal_distribution<float> nd(0.0f, 4.0f);
    for (size_t n : {1, 7, 16, 17, 100, 4864}) {
        INFO("n " << n);
        std::vector<float> gate(n), up(n);
        for (size_t i = 0; i < n; ++i) gate[i] = nd(gen), up[i] = nd(gen);
        // Large and small gates: saturation to g * up, to -0 * up, and overflow of exp(-g).
        const float edges[] = {0.0f, -0.0f, 80.0f, -80.0f, 100.0f, -100.0f, 1e-30f, -1e-30f, 88.7f, -88.7f};
        for (size_t i = 0; i < n && i < std::size(edges); ++i) gate[(i * 7) % n] = edges[i];
        std::vector<float> got = gate;
        silu_mul(got.data(), up.data(), n);
        for (size_t i = 0; i < n; ++i) {
            const double g = gate[i], want = g / (1.0 + std::exp(-g)) * double(up[i]);
            INFO("gate " << gate[i] << " up " << up[i]);
            // Absolute slack for gates near -88.7, where exp(-g) nears FLT_MAX: the vector exp
            // may saturate to inf a little early, giving -0 for a true value near -1e-36.
            REQUIRE(std::fabs(double(got[i]) - want) <= 4e-7 * std::fabs(want) + 1e-30);
        }
    }
    float g[] = {NAN, INFINITY, -INFINITY}, u[] = {1.0f, 2.0f, 3.0f};
    silu_mul(g, u, 3);
    CHECK(std::isnan(g[0]));
    CHECK(g[1] == INFINITY);
    CHECK((g[2] == 0.0f || std::isnan(g[2])));  // -inf / inf: ggml and std give NaN, a limit 0
}
