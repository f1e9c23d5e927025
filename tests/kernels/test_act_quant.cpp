// The vector activation quantizer of the kernel table (kernels/act_quant_impl.hpp) against
// the reference one (quant::quantize_row): the same codes, scales and sums bit for bit,
// including exact rounding ties, or a refusal for the rows only the reference defines.

#include "core/half.hpp"
#include "kernels/dispatch.hpp"
#include "quant/blocks.hpp"
#include "quant/quantize.hpp"

#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

using namespace qwen;
using namespace qwen::quant;

namespace {

struct Acts {
    std::vector<int8_t> q;
    std::vector<float> d;
    std::vector<int16_t> bsums;
    std::vector<int32_t> sums;
    bool operator==(const Acts&) const = default;
};

Acts reference(TensorType act, const std::vector<float>& x) {
    const size_t cols = x.size();
    std::vector<uint8_t> bytes(*tensor_row_bytes(act, cols));
    quantize_row(act, x.data(), bytes.data(), cols);
    Acts a;
    if (act == TensorType::Q8_K) {
        for (size_t b = 0; b < cols / kQK_K; ++b) {
            BlockQ8_K blk;
            std::memcpy(&blk, bytes.data() + b * sizeof blk, sizeof blk);
            a.q.insert(a.q.end(), blk.qs, blk.qs + kQK_K);
            a.d.push_back(blk.d);
            a.bsums.insert(a.bsums.end(), blk.bsums, blk.bsums + 16);
        }
        return a;
    }
    for (size_t b = 0; b < cols / kQK; ++b) {
        BlockQ8_0 blk;
        std::memcpy(&blk, bytes.data() + b * sizeof blk, sizeof blk);
        a.q.insert(a.q.end(), blk.qs, blk.qs + kQK);
        a.d.push_back(f16_to_f32(blk.d));
        int32_t s = 0;
        for (int8_t c : blk.qs) s += c;
        a.sums.push_back(s);
    }
    return a;
}

// The table's quantizer, its Q8_0 scales rounded to f16 as kernels/matmul does; false if it
// declines the row.
bool vector_path(TensorType act, const std::vector<float>& x, Acts& a) {
    const size_t cols = x.size(), nb = cols / (act == TensorType::Q8_K ? kQK_K : kQK);
    a.q.assign(cols, 0);
    a.d.assign(nb, 0.0f);
    a.bsums.assign(act == TensorType::Q8_K ? cols / 16 : 0, 0);
    a.sums.assign(act == TensorType::Q8_0 ? nb : 0, 0);
    if (!kernels::kernel_table().quantize_act(act, x.data(), cols, a.q.data(), a.d.data(), a.bsums.data(),
                                              a.sums.data()))
        return false;
    if (act == TensorType::Q8_0)
        for (float& d : a.d) d = f16_to_f32(f32_to_f16(d));
    return true;
}

void check_same(TensorType act, const std::vector<float>& x) {
    Acts got;
    REQUIRE(vector_path(act, x, got));
    const Acts want = reference(act, x);
    CHECK(got.q == want.q);
    CHECK(std::memcmp(got.d.data(), want.d.data(), got.d.size() * sizeof(float)) == 0);
    CHECK(got.bsums == want.bsums);
    CHECK(got.sums == want.sums);
}

}  // namespace

TEST_CASE("the vector activation quantizer writes the reference quantizer's codes, scales and sums") {
    std::mt19937_64 gen(11);
    for (TensorType act : {TensorType::Q8_0, TensorType::Q8_K}) {
        INFO(tensor_type_name(act));
        // One block, 16 (the AVX-512 path's group), 17, and the model's rows (groups of 16 and a
        // shorter last one).
        for (size_t cols : {size_t(32), size_t(512), size_t(544), size_t(896), size_t(4864)}) {
            if (cols % tensor_type_info(act).block_elems) continue;
            for (float scale : {1.0f, 1e-3f, 3e4f, 1e-30f}) {
                std::normal_distribution<float> nd(0.0f, scale);
                std::vector<float> x(cols);
                for (int rep = 0; rep < 20; ++rep) {
                    for (float& v : x) v = nd(gen);
                    check_same(act, x);
                }
            }
            // Rounding ties: a block whose largest magnitude is 127 has unit steps (Q8_0: d = 1;
            // Q8_K: iscale = -1 or 1 for a max of -127 or 127), so k + 0.5 lands exactly halfway:
            // the reference rounds away from zero (Q8_0, roundf) or to even (Q8_K).
            std::vector<float> x(cols);
            for (size_t i = 0; i < cols; ++i) x[i] = float(int(gen() % 253) - 126) + ((gen() & 1) ? 0.5f : 0.0f);
            for (size_t b = 0; b < cols; b += 32) x[b + gen() % 32] = (gen() & 1) ? 127.0f : -127.0f;
            check_same(act, x);
            // All zero, one value per block, both signs of the largest magnitude (the first one
            // decides the sign of the Q8_K scale), subnormals.
            std::fill(x.begin(), x.end(), 0.0f);
            check_same(act, x);
            for (size_t b = 0; b < cols; b += 32) x[b + 5] = -2.5f, x[b + 9] = 2.5f;
            check_same(act, x);
            std::fill(x.begin(), x.end(), 0x1p-140f);
            x[3] = -0x1p-130f;
            Acts tiny;
            if (vector_path(act, x, tiny)) CHECK(tiny == reference(act, x));  // or declined: overflowing reciprocal
        }
    }
}

TEST_CASE("the vector activation quantizer declines rows with a NaN or an infinity") {
    for (TensorType act : {TensorType::Q8_0, TensorType::Q8_K}) {
        for (float bad : {std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity(),
                          -std::numeric_limits<float>::infinity()}) {
            std::vector<float> x(4864, 0.25f);
            x[4000] = bad;
            Acts a;
            CHECK_FALSE(vector_path(act, x, a));
        }
    }
}
