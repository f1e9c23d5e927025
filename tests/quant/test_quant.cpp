// lib/quant on its own: block layouts, hand-checked decodings, round trips, the defined
// behaviour for non-finite input and bad arguments. Bit-exactness with ggml on random and
// adversarial blocks is tests/python/test_quant_parity.py's job (it needs the llama.cpp
// oracle).

#include "core/error.hpp"
#include "core/half.hpp"
#include "quant/blocks.hpp"
#include "quant/dequantize.hpp"
#include "quant/iq_grids.hpp"
#include "quant/quantize.hpp"
#include "quant_test_util.hpp"

#include <doctest/doctest.h>

#include <bit>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

using namespace qwen;
using namespace qwen::quant;
using namespace qwen::quant::test;

TEST_CASE("block structs have the sizes and element counts of the file format") {
    struct Row {
        TensorType type;
        size_t bytes, elems;
    };
    const Row rows[] = {
        {TensorType::Q4_0, sizeof(BlockQ4_0), kQK},        {TensorType::Q4_1, sizeof(BlockQ4_1), kQK},
        {TensorType::Q5_0, sizeof(BlockQ5_0), kQK},        {TensorType::Q5_1, sizeof(BlockQ5_1), kQK},
        {TensorType::Q8_0, sizeof(BlockQ8_0), kQK},        {TensorType::Q8_1, sizeof(BlockQ8_1), kQK},
        {TensorType::IQ4_NL, sizeof(BlockIQ4_NL), kQK},    {TensorType::Q2_K, sizeof(BlockQ2_K), kQK_K},
        {TensorType::Q3_K, sizeof(BlockQ3_K), kQK_K},      {TensorType::Q4_K, sizeof(BlockQ4_K), kQK_K},
        {TensorType::Q5_K, sizeof(BlockQ5_K), kQK_K},      {TensorType::Q6_K, sizeof(BlockQ6_K), kQK_K},
        {TensorType::Q8_K, sizeof(BlockQ8_K), kQK_K},      {TensorType::IQ4_XS, sizeof(BlockIQ4_XS), kQK_K},
        {TensorType::IQ2_XXS, sizeof(BlockIQ2_XXS), kQK_K}, {TensorType::IQ2_XS, sizeof(BlockIQ2_XS), kQK_K},
        {TensorType::IQ2_S, sizeof(BlockIQ2_S), kQK_K},    {TensorType::IQ3_XXS, sizeof(BlockIQ3_XXS), kQK_K},
        {TensorType::IQ3_S, sizeof(BlockIQ3_S), kQK_K},
    };
    for (const Row& r : rows) {
        INFO(tensor_type_name(r.type));
        CHECK(tensor_type_info(r.type).block_bytes == r.bytes);
        CHECK(tensor_type_info(r.type).block_elems == r.elems);
        CHECK(can_dequantize(r.type));
    }
    CHECK_FALSE(can_dequantize(TensorType::IQ1_S));
    CHECK_FALSE(can_dequantize(TensorType::I32));
}

TEST_CASE("hand-built blocks decode as the layout comments say") {
    SUBCASE("Q4_0: d * (q - 8), element j low nibble, j + 16 high") {
        BlockQ4_0 b{};
        b.d = f32_to_f16(0.5f);
        b.qs[0] = 0x9F;  // element 0 code 15, element 16 code 9
        std::vector<float> y(kQK);
        dequantize_row(TensorType::Q4_0, &b, y.data(), kQK);
        CHECK(y[0] == 3.5f);
        CHECK(y[16] == 0.5f);
        CHECK(y[1] == -4.0f);  // code 0
    }
    SUBCASE("Q5_1: bit 4 from qh, plus the offset m") {
        BlockQ5_1 b{};
        b.d = f32_to_f16(0.25f);
        b.m = f32_to_f16(-1.0f);
        b.qs[3] = 0x21;
        b.qh[0] = 1 << 3;  // element 3 gets bit 4
        b.qh[2] = 1 << 3;  // element 19 (bit 19) too
        std::vector<float> y(kQK);
        dequantize_row(TensorType::Q5_1, &b, y.data(), kQK);
        CHECK(y[3] == 0.25f * 17 - 1.0f);
        CHECK(y[19] == 0.25f * 18 - 1.0f);
        CHECK(y[0] == -1.0f);
    }
    SUBCASE("Q4_K: 6-bit scales and mins of the upper sub-blocks share bytes") {
        BlockQ4_K b{};
        b.d = f32_to_f16(1.0f);
        b.dmin = f32_to_f16(0.5f);
        // sub-block 5: scale 0b10'0011 = 35, min 0b01'0100 = 20
        b.scales[9] = 0x43;      // low nibbles: scale 3, min 4
        b.scales[1] |= 2 << 6;  // scale's top bits (byte j - 4)
        b.scales[5] |= 1 << 6;  // min's top bits (byte j)
        uint8_t sc, m;
        scale_min_k4(5, b.scales, sc, m);
        CHECK(sc == 35);
        CHECK(m == 20);
        b.qs[64 + 3] = 0x70;  // group 2 (elements 128..191): element 128 + 32 + 3 has code 7
        std::vector<float> y(kQK_K);
        dequantize_row(TensorType::Q4_K, &b, y.data(), kQK_K);
        CHECK(y[163] == 35.0f * 7 - 10.0f);
        CHECK(y[131] == 0.0f);  // sub-block 4: scale and min zero
    }
    SUBCASE("IQ sign codes always carry an even number of minus signs") {
        for (uint32_t c = 0; c < 128; ++c) CHECK(std::popcount(unsigned(signs_from_code7(c))) % 2 == 0);
    }
}

TEST_CASE("rows need no alignment") {
    const auto x = gaussian(4 * kQK_K, 3);
    for (TensorType t : {TensorType::Q5_0, TensorType::Q4_K, TensorType::Q8_K, TensorType::IQ4_XS}) {
        INFO(tensor_type_name(t));
        std::vector<uint8_t> aligned = quantize(t, x), shifted(aligned.size() + 1);
        std::vector<uint8_t> q2(aligned.size() + 1);
        quantize_row(t, x.data(), q2.data() + 1, x.size());
        CHECK(std::memcmp(q2.data() + 1, aligned.data(), aligned.size()) == 0);
        std::memcpy(shifted.data() + 1, aligned.data(), aligned.size());
        std::vector<float> a(x.size()), b(x.size());
        dequantize_row(t, aligned.data(), a.data(), x.size());
        dequantize_row(t, shifted.data() + 1, b.data(), x.size());
        CHECK(a == b);
    }
}

TEST_CASE("quantize then dequantize stays within each format's error") {
    // Relative RMS error on Gaussian data; the bounds are 1.25x what was measured (e.g. Q8_0
    // 0.0053, Q4_K 0.072). A broken scale or packing is far above them.
    struct Bound {
        TensorType type;
        double rel_rmse;
    };
    const Bound bounds[] = {
        {TensorType::F16, 3e-4},     {TensorType::BF16, 2.2e-3},   {TensorType::Q8_0, 7e-3},
        {TensorType::Q8_1, 7e-3},    {TensorType::Q8_K, 8.5e-3},   {TensorType::Q6_K, 2.3e-2},
        {TensorType::Q5_0, 5.3e-2},  {TensorType::Q5_1, 4.8e-2},   {TensorType::Q5_K, 4.6e-2},
        {TensorType::Q4_0, 0.106},   {TensorType::Q4_1, 0.098},    {TensorType::Q4_K, 0.09},
        {TensorType::IQ4_NL, 0.097}, {TensorType::IQ4_XS, 0.098},
    };
    const auto x = gaussian(8 * kQK_K, 11);
    for (const Bound& b : bounds) {
        INFO(tensor_type_name(b.type));
        REQUIRE(can_quantize(b.type));
        const double err = rel_rmse(x, dequantize(b.type, quantize(b.type, x)));
        INFO("relative RMSE " << err);
        CHECK(err < b.rel_rmse);
        CHECK(err > 0);
    }
    CHECK(rel_rmse(x, dequantize(TensorType::F32, quantize(TensorType::F32, x))) == 0);
}

TEST_CASE("values a format represents exactly survive the round trip") {
    // q / 8 with q in [-127, 127] and every block holding 127 / 8: then d = 1/8 exactly.
    std::vector<float> x(kQK_K);
    for (size_t i = 0; i < x.size(); ++i) x[i] = float(i % kQK == 0 ? 127 : int(i * 37 % 255) - 127) * 0.125f;
    CHECK(dequantize(TensorType::Q8_0, quantize(TensorType::Q8_0, x)) == std::vector<float>(x));
    CHECK(dequantize(TensorType::Q8_K, quantize(TensorType::Q8_K, x)) == std::vector<float>(x));
    std::vector<float> zeros(kQK_K, 0.0f);
    for (TensorType t : {TensorType::Q4_0, TensorType::Q5_1, TensorType::Q4_K, TensorType::Q6_K, TensorType::IQ4_XS}) {
        INFO(tensor_type_name(t));
        for (float v : dequantize(t, quantize(t, zeros))) CHECK(v == 0.0f);
    }
}

TEST_CASE("Q8_1 and Q8_K carry the code sums their dot products use") {
    const auto x = gaussian(kQK_K, 5);
    const auto q1 = quantize(TensorType::Q8_1, x);
    for (size_t i = 0; i < kQK_K / kQK; ++i) {
        BlockQ8_1 b;
        std::memcpy(&b, q1.data() + i * sizeof b, sizeof b);
        int sum = 0;
        for (int8_t v : b.qs) sum += v;
        // s is sum * d before d was rounded to f16: equal up to two f16 roundings.
        const float want = float(sum) * f16_to_f32(b.d);
        CHECK(std::fabs(f16_to_f32(b.s) - want) <= 2e-3f * std::fabs(want));
    }
    BlockQ8_K k;
    const auto qk = quantize(TensorType::Q8_K, x);
    std::memcpy(&k, qk.data(), sizeof k);
    for (size_t j = 0; j < 16; ++j) {
        int sum = 0;
        for (size_t i = 0; i < 16; ++i) sum += k.qs[16 * j + i];
        CHECK(k.bsums[j] == sum);
    }
}

TEST_CASE("a block with NaN or infinity decodes to NaN; its neighbours are untouched") {
    const float bad[] = {std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity(),
                         -std::numeric_limits<float>::infinity()};
    for (TensorType t : {TensorType::Q4_0, TensorType::Q4_1, TensorType::Q5_0, TensorType::Q5_1, TensorType::Q8_0,
                         TensorType::Q8_1, TensorType::Q8_K, TensorType::Q4_K, TensorType::Q5_K, TensorType::Q6_K,
                         TensorType::IQ4_NL, TensorType::IQ4_XS}) {
        for (float v : bad) {
            INFO(tensor_type_name(t) << " with " << v);
            const size_t per = tensor_type_info(t).block_elems;
            auto x = gaussian(3 * per, 7);
            const auto clean = dequantize(t, quantize(t, x));
            x[per + 5] = v;  // poisons the middle block
            const auto y = dequantize(t, quantize(t, x));
            for (size_t i = 0; i < 3 * per; ++i) {
                if (i >= per && i < 2 * per) {
                    REQUIRE(std::isnan(y[i]));
                } else {
                    REQUIRE(std::bit_cast<uint32_t>(y[i]) == std::bit_cast<uint32_t>(clean[i]));
                }
            }
        }
    }
}

TEST_CASE("bad arguments are errors with a status, not crashes") {
    std::vector<float> x(48, 1.0f);
    std::vector<uint8_t> buf(1024);
    auto status_of = [](auto&& fn) {
        try {
            fn();
        } catch (const Error& e) {
            return e.status();
        }
        return QWEN_OK;
    };
    CHECK(status_of([&] { quantize_row(TensorType::Q4_0, x.data(), buf.data(), 48); }) == QWEN_ERR_INVALID_ARGUMENT);
    CHECK(status_of([&] { dequantize_row(TensorType::Q4_K, buf.data(), x.data(), 32); }) == QWEN_ERR_INVALID_ARGUMENT);
    CHECK(status_of([&] { quantize_row(TensorType::IQ2_XXS, x.data(), buf.data(), 0); }) == QWEN_ERR_UNSUPPORTED);
    CHECK(status_of([&] { dequantize_row(TensorType::IQ1_M, buf.data(), x.data(), 0); }) == QWEN_ERR_UNSUPPORTED);
    CHECK(status_of([&] { quantize_row(TensorType::Q8_0, x.data(), buf.data(), 32); }) == QWEN_OK);
}
