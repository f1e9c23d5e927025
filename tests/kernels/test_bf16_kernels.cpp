// BF16 weights on the path QWEN_ISA selects. Where the table has the AVX512_BF16 kernel,
// matmul() rounds the activations to bf16 as ggml does (GGML_FP32_TO_BF16) and multiplies
// with vdpbf16ps, which treats bf16 subnormals as zero; elsewhere the weights are widened to
// float and the activations kept. Where it has AMX-BF16 tiles, matrices packed for them
// (rows a multiple of 16) take tdpbf16ps on the same bf16 operands. Each result must equal a
// double-precision sum of the terms that path multiplies, for every register tile (cols 896
// and 4864, 1..70 tokens) and for Inf, NaN, subnormal, -0 and huge values.

#include "core/aligned_buffer.hpp"
#include "core/cpu.hpp"
#include "core/half.hpp"
#include "core/team.hpp"
#include "kernels/dispatch.hpp"
#include "kernels/matmul.hpp"
#include "kernels/packed.hpp"

#include <doctest/doctest.h>

#include <bit>
#include <cfloat>
#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

using namespace qwen;

namespace {

// ggml_compute_fp32_to_bf16 (ggml/src/ggml-impl.h), written out again here so that neither
// core/half.hpp nor the kernel is checked against itself.
uint16_t ggml_fp32_to_bf16(float s) {
    uint32_t i;
    std::memcpy(&i, &s, 4);
    if ((i & 0x7fffffff) > 0x7f800000) return uint16_t((i >> 16) | 64);  // NaN, forced quiet
    return uint16_t((i + (0x7fff + ((i >> 16) & 1))) >> 16);
}

float widen(uint16_t h) { return std::bit_cast<float>(uint32_t(h) << 16); }

bool bf16_kernel(size_t cols) { return kernels::kernel_table().bf16_rows && cols % kernels::kBf16Cols == 0; }

// One operand as the path multiplies it: on the vdpbf16ps path a bf16 (activations rounded
// the ggml way) whose subnormals count as zero; elsewhere the float itself.
double operand(float v, bool is_weight, bool dp) {
    if (!dp) return v;
    const uint16_t h = is_weight ? std::bit_cast<uint32_t>(v) >> 16 : ggml_fp32_to_bf16(v);
    const bool subnormal = (h & 0x7f80) == 0 && (h & 0x7f) != 0;
    return subnormal ? 0.0 : double(widen(h));
}

struct Expected {
    double sum, magnitude;
};

Expected reference(const std::vector<uint16_t>& w, size_t r, const float* x, size_t cols, bool dp) {
    Expected e{0, 0};
    for (size_t c = 0; c < cols; ++c) {
        const double p = operand(widen(w[r * cols + c]), true, dp) * operand(x[c], false, dp);
        e.sum += p;
        e.magnitude += std::fabs(p);
    }
    return e;
}

// NaN where the terms give NaN; the infinity of the right sign where they (or a single
// product out of float range) overflow; else the double sum to float accumulation rounding.
void check_result(float y, const Expected& e) {
    if (std::isnan(e.sum)) {
        CHECK(std::isnan(y));
    } else if (std::fabs(e.sum) > double(FLT_MAX)) {
        CHECK(y == (e.sum > 0 ? INFINITY : -INFINITY));
    } else {
        CHECK(std::fabs(double(y) - e.sum) <= 1e-5 * e.magnitude + 1e-36);
    }
}

std::vector<uint16_t> random_bf16(size_t n, std::mt19937_64& gen) {
    std::normal_distribution<float> nd(0.0f, 1.0f);
    std::vector<uint16_t> w(n);
    for (auto& h : w) h = f32_to_bf16(nd(gen));
    return w;
}

// Specials, every rounding tie and neighbour around each bf16 value, and random patterns.
std::vector<float> rounding_inputs() {
    std::vector<uint32_t> bits = {0x00000000, 0x80000000, 0x7f800000, 0xff800000, 0x7fc00000, 0xffc00000,
                                  0x7f800001, 0xff800001, 0x7fbfffff, 0x7f80ffff, 0x7f7fffff, 0xff7fffff,
                                  0x7f7f7fff, 0x7f7f8000, 0x00000001, 0x80000001, 0x007fffff, 0x807fffff,
                                  0x007f8000, 0x007f7fff, 0x00008000, 0x00018000, 0x3f808000, 0x3f818000};
    for (uint32_t hi = 0; hi < 65536; ++hi)
        for (uint32_t lo : {0x0000u, 0x0001u, 0x7fffu, 0x8000u, 0x8001u, 0xffffu}) bits.push_back(hi << 16 | lo);
    std::mt19937_64 gen(7);
    for (int i = 0; i < 1000000; ++i) bits.push_back(uint32_t(gen()));
    std::vector<float> out(bits.size());
    for (size_t i = 0; i < bits.size(); ++i) out[i] = std::bit_cast<float>(bits[i]);
    return out;
}

// The matrix packed for the AMX tiles in `storage`, if `packed` and this path has them (then
// true); else left as stored (false, and `packed` is skipped by the caller).
bool pack_for_tiles(Matrix& m, AlignedBuffer<uint8_t>& storage, bool packed) {
    const size_t bytes = packed_bytes(m);
    CHECK((bytes != 0) == (kernels::kernel_table().bf16_tiles && kernels::bf16_tiles_packable(m.rows, m.cols)));
    if (!packed || !bytes) return false;
    storage.resize(bytes);
    pack_matrix(m, storage.data());
    return true;
}

}  // namespace

TEST_CASE("the BF16 kernel is in the table exactly when the CPU has AVX512_BF16 and the path is avx512") {
    const kernels::KernelTable& k = kernels::kernel_table();
    MESSAGE("kernel path: " << std::string(k.isa) << ", vdpbf16ps kernel: " << std::string(k.bf16_rows ? "yes" : "no"));
    CHECK((k.bf16_rows != nullptr) == (k.round_bf16 != nullptr));
    MESSAGE("AMX-BF16 tiles: " << std::string(k.bf16_tiles ? "yes" : "no"));
#if defined(__x86_64__)
    CHECK((k.bf16_rows != nullptr) == (best_isa() == Isa::Avx512 && cpu_features().avx512bf16));
    CHECK((k.bf16_tiles != nullptr) == (k.bf16_rows != nullptr && cpu_features().amx_bf16));
#else
    CHECK((k.bf16_rows == nullptr));
    CHECK((k.bf16_tiles == nullptr));
#endif
}

TEST_CASE("f32_to_bf16 and the kernel's activation rounding are ggml's, bit for bit") {
    const std::vector<float> in = rounding_inputs();
    size_t wrong = 0;
    for (float v : in)
        if (f32_to_bf16(v) != ggml_fp32_to_bf16(v) && wrong++ < 5)
            FAIL_CHECK("f32_to_bf16(" << std::bit_cast<uint32_t>(v) << ") = " << f32_to_bf16(v));
    CHECK(wrong == 0);
    // Spot values: ties to even, rounding into the smallest normal, overflow to Inf, NaN kept quiet.
    CHECK(ggml_fp32_to_bf16(std::bit_cast<float>(0x3f808000u)) == 0x3f80);
    CHECK(ggml_fp32_to_bf16(std::bit_cast<float>(0x3f818000u)) == 0x3f82);
    CHECK(ggml_fp32_to_bf16(std::bit_cast<float>(0x007fffffu)) == 0x0080);
    CHECK(ggml_fp32_to_bf16(FLT_MAX) == 0x7f80);
    CHECK(ggml_fp32_to_bf16(std::bit_cast<float>(0x7f800001u)) == 0x7fc0);

    const kernels::RoundBf16Fn round = kernels::kernel_table().round_bf16;
    if (!round) return;
    std::vector<uint16_t> out(in.size());
    round(in.data(), out.data(), in.size());
    wrong = 0;
    for (size_t i = 0; i < in.size(); ++i)
        if (out[i] != ggml_fp32_to_bf16(in[i]) && wrong++ < 5)
            FAIL_CHECK("round_bf16(" << std::bit_cast<uint32_t>(in[i]) << ") = " << out[i]);
    CHECK(wrong == 0);
    // Every length 0..40 from an odd offset: the masked last vector writes exactly n values.
    for (size_t n = 0; n <= 40; ++n) {
        std::vector<uint16_t> buf(n + 8, 0xabcd);
        round(in.data() + 3, buf.data() + 1, n);
        CHECK(buf[0] == 0xabcd);
        for (size_t i = 0; i < n; ++i) CHECK(buf[1 + i] == ggml_fp32_to_bf16(in[3 + i]));
        for (size_t i = n + 1; i < buf.size(); ++i) CHECK(buf[i] == 0xabcd);
    }
}

TEST_CASE("BF16 products equal a double sum of the path's terms, every tile and token count") {
    // As stored: 37 rows, 9 tiles of 4 rows and a single row (decode: one row at a time).
    // Packed for the AMX tiles: 48 rows, a pair of 16-row groups and a group alone.
    for (bool packed : {false, true})
    for (size_t cols : {896, 4864}) {
        INFO("cols " << cols << (packed ? ", packed" : ""));
        const size_t rows = packed ? 48 : 37;
        const bool dp = bf16_kernel(cols);
        std::mt19937_64 gen(cols);
        const std::vector<uint16_t> w = random_bf16(rows * cols, gen);
        Matrix m{TensorType::BF16, reinterpret_cast<const uint8_t*>(w.data()), rows, cols, cols * 2};
        AlignedBuffer<uint8_t> storage;
        if (pack_for_tiles(m, storage, packed) != packed) continue;
        const size_t max_tok = 70, ldx = cols + 5, ldy = rows + 1;  // strides that are not the row lengths
        std::normal_distribution<float> nd(0.0f, 1.0f);
        std::vector<float> x(max_tok * ldx);
        for (auto& v : x) v = nd(gen);
        std::vector<Expected> want(max_tok * rows);
        for (size_t t = 0; t < max_tok; ++t)
            for (size_t r = 0; r < rows; ++r) want[t * rows + r] = reference(w, r, x.data() + t * ldx, cols, dp);
        std::vector<float> alone(max_tok * rows);  // each token multiplied on its own (decode)
        for (size_t t = 0; t < max_tok; ++t) matmul(m, x.data() + t * ldx, ldx, 1, alone.data() + t * rows, rows);
        for (size_t n_tok = 1; n_tok <= max_tok; ++n_tok) {
            INFO("n_tok " << n_tok);
            std::vector<float> y(n_tok * ldy, NAN);
            matmul(m, x.data(), ldx, n_tok, y.data(), ldy);
            size_t wrong = 0;
            for (size_t t = 0; t < n_tok; ++t)
                for (size_t r = 0; r < rows; ++r) {
                    const Expected& e = want[t * rows + r];
                    if (!(std::fabs(double(y[t * ldy + r]) - e.sum) <= 1e-5 * e.magnitude) && wrong++ < 5)
                        FAIL_CHECK("row " << r << " token " << t << ": " << y[t * ldy + r] << " vs " << e.sum);
                }
            CHECK(wrong == 0);
            for (size_t t = 0; t < n_tok; ++t) CHECK(std::isnan(y[t * ldy + rows]));  // the padding stays untouched
            // A token's result does not depend on the batch it is in (tile shape, token block).
            for (size_t t = 0; t < n_tok; ++t)
                CHECK(std::memcmp(y.data() + t * ldy, alone.data() + t * rows, rows * sizeof(float)) == 0);
            if (!packed) continue;
            // The tile kernel on group ranges that start inside a pair or take a pair's first
            // group alone: [1, 2), then [2, 3) (the group alone), then [0, 1), each writing its
            // 16 rows only, to the same values.
            const kernels::KernelTable& k = kernels::kernel_table();
            const std::vector<uint16_t> xb = [&] {
                std::vector<uint16_t> b(n_tok * cols);
                for (size_t t = 0; t < n_tok; ++t) k.round_bf16(x.data() + t * ldx, b.data() + t * cols, cols);
                return b;
            }();
            std::vector<float> z(n_tok * ldy, NAN);
            bool done[3] = {false, false, false};
            for (auto [g0, g1] : {std::pair<size_t, size_t>{1, 2}, {2, 3}, {0, 1}}) {
                k.bf16_tiles(m.packed, rows, cols, g0, g1, xb.data(), n_tok, z.data(), ldy);
                done[g0] = true;
                size_t differ = 0;
                for (size_t t = 0; t < n_tok; ++t)
                    for (size_t r = 0; r <= rows; ++r) {  // and the padding column
                        const float* same = r < rows && done[r / 16] ? &y[t * ldy + r] : nullptr;
                        const float got = z[t * ldy + r];
                        differ += same ? std::memcmp(&got, same, sizeof got) != 0 : !std::isnan(got);
                    }
                CHECK_MESSAGE(differ == 0, "groups [" << g0 << ", " << g1 << ")");
            }
        }
    }
}

TEST_CASE("BF16 products with Inf, NaN, subnormal, -0 and huge weights and activations") {
    // As stored: 9 rows, 2 tiles of 4 rows plus a single row; packed for the AMX tiles: 16.
    for (bool packed : {false, true}) {
    INFO((packed ? "packed" : "stored"));
    const size_t rows = packed ? 16 : 9, cols = 64, n_tok = 9;
    const bool dp = bf16_kernel(cols);
    std::mt19937_64 gen(11);
    std::normal_distribution<float> nd(0.0f, 1.0f);
    std::vector<uint16_t> w = random_bf16(rows * cols, gen);  // rows 0 and 8 stay normal
    auto set_row = [&](size_t r, auto value) {
        for (size_t c = 0; c < cols; ++c) w[r * cols + c] = value(c);
    };
    w[1 * cols + 5] = 0x7fc0;                                                          // NaN
    w[2 * cols + 7] = 0x7f80;                                                          // +Inf
    set_row(3, [&](size_t c) { return uint16_t((c & 1) << 15 | (1 + gen() % 127)); });  // subnormals
    set_row(4, [](size_t) { return uint16_t(0x8000); });                                 // -0
    set_row(5, [](size_t c) { return c == 3 ? f32_to_bf16(1e38f) : uint16_t(0); });     // huge, one term
    set_row(6, [](size_t) { return uint16_t(0x3f80); });                                 // ones
    set_row(7, [&](size_t c) { return c == 3 ? uint16_t(0xff80) : f32_to_bf16(nd(gen)); });  // -Inf

    std::vector<float> x(n_tok * cols);
    auto set_tok = [&](size_t t, auto value) {
        for (size_t c = 0; c < cols; ++c) x[t * cols + c] = value(c);
    };
    set_tok(0, [&](size_t) { return nd(gen); });
    // Subnormals that stay subnormal in bf16 (the largest would round up to the smallest normal).
    set_tok(1, [&](size_t c) { return std::bit_cast<float>(uint32_t(c & 1) << 31 | uint32_t(1 + gen() % 0x7f0000)); });
    set_tok(2, [](size_t) { return -0.0f; });
    set_tok(3, [](size_t c) { return c == 3 ? 1e38f : 0.0f; });   // times row 5: overflows to +Inf
    set_tok(4, [&](size_t c) { return c == 9 ? NAN : nd(gen); });
    set_tok(5, [](size_t c) { return c == 0 ? FLT_MAX : 0.0f; });  // bf16: rounds to +Inf
    set_tok(6, [&](size_t) {  // exact ties between two bf16 values
        return std::bit_cast<float>((std::bit_cast<uint32_t>(nd(gen)) & 0xffff0000u) | 0x8000u);
    });
    set_tok(7, [&](size_t) { return nd(gen) * 1e-30f; });
    set_tok(8, [](size_t c) { return c == 3 ? -INFINITY : 1.0f; });

    Matrix m{TensorType::BF16, reinterpret_cast<const uint8_t*>(w.data()), rows, cols, cols * 2};
    AlignedBuffer<uint8_t> storage;
    if (pack_for_tiles(m, storage, packed) != packed) continue;
    for (size_t nt : {size_t(1), n_tok}) {  // decode (one row at a time), then the 4 x 4 tiles
        std::vector<float> y(nt * rows, 0.5f);
        matmul(m, x.data(), cols, nt, y.data(), rows);
        for (size_t t = 0; t < nt; ++t)
            for (size_t r = 0; r < rows; ++r) {
                INFO("n_tok " << nt << " row " << r << " token " << t << ": " << y[t * rows + r]);
                check_result(y[t * rows + r], reference(w, r, x.data() + t * cols, cols, dp));
            }
    }
    if (dp) {  // the cases where vdpbf16ps and the widening path differ, stated outright
        std::vector<float> y(n_tok * rows);
        matmul(m, x.data(), cols, n_tok, y.data(), rows);
        CHECK(y[0 * rows + 3] == 0.0f);        // subnormal weights count as zero
        CHECK(std::isnan(y[1 * rows + 2]));    // Inf times a subnormal activation (zero)
        CHECK(y[5 * rows + 6] == INFINITY);    // FLT_MAX rounds to Inf
        CHECK(std::isnan(y[5 * rows + 5]));    // ... and 0 * Inf is NaN
    }
    }
}

TEST_CASE("BF16 matrices sharing one input give what matmul gives for each") {
    // As stored, and packed for the AMX tiles where this path has them.
    for (bool packed : {false, true}) {
    INFO((packed ? "packed" : "stored"));
    const size_t cols = 896, n_tok = 37;
    std::mt19937_64 gen(5);
    const std::vector<uint16_t> wq = random_bf16(896 * cols, gen), wk = random_bf16(128 * cols, gen);
    Matrix q{TensorType::BF16, reinterpret_cast<const uint8_t*>(wq.data()), 896, cols, cols * 2};
    Matrix k{TensorType::BF16, reinterpret_cast<const uint8_t*>(wk.data()), 128, cols, cols * 2};
    AlignedBuffer<uint8_t> q_storage, k_storage;
    if (pack_for_tiles(q, q_storage, packed) != packed || pack_for_tiles(k, k_storage, packed) != packed) continue;
    std::normal_distribution<float> nd(0.0f, 1.0f);
    std::vector<float> x(n_tok * cols);
    for (auto& v : x) v = nd(gen);
    for (size_t nt : {size_t(1), size_t(7), n_tok}) {
        std::vector<float> yq(nt * 896), yk(nt * 128), want_q(nt * 896), want_k(nt * 128);
        matmul_same_input({{&q, yq.data(), 896}, {&k, yk.data(), 128}}, x.data(), cols, nt);
        matmul(q, x.data(), cols, nt, want_q.data(), 896);
        matmul(k, x.data(), cols, nt, want_k.data(), 128);
        CHECK(yq == want_q);
        CHECK(yk == want_k);
        // The same inside a team (as in a forward pass): q, k and v (k's weights again) split
        // as one list of row chunks over 3 threads, one barrier.
        std::vector<float> tq(nt * 896, -1.0f), tk(nt * 128, -1.0f), tv(nt * 128, -1.0f);
        TeamBarrier barrier;
#pragma omp parallel num_threads(3)
        {
            TeamScope scope(barrier);
            matmul_same_input({{&q, tq.data(), 896}, {&k, tk.data(), 128}, {&k, tv.data(), 128}}, x.data(), cols, nt);
        }
        CHECK(tq == want_q);
        CHECK(tk == want_k);
        CHECK(tv == want_k);
    }
}
}
