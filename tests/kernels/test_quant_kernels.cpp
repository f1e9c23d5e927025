// The integer-dot kernels of kernels/matmul for quantized weights, on the path QWEN_ISA
// selects (CTest runs this binary once per path the machine has). Each result must equal a
// plain scalar evaluation of ggml's arithmetic (the activations quantized by
// quant::quantize_row, integer block sums, scaled by d_w * d_x in float) to rounding, and
// stay within the activation quantization error of the float product of the dequantized
// weights.

#include "core/aligned_buffer.hpp"
#include "core/cpu.hpp"
#include "core/half.hpp"
#include "core/team.hpp"
#include "kernels/dispatch.hpp"
#include "kernels/matmul.hpp"
#include "kernels/packed.hpp"
#include "quant/blocks.hpp"
#include "quant/dequantize.hpp"
#include "quant/iq_grids.hpp"
#include "quant/quantize.hpp"

#include <doctest/doctest.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <initializer_list>
#include <limits>
#include <random>
#include <string>
#include <vector>

using namespace qwen;
using namespace qwen::quant;

namespace {

template <class B>
B block_at(const std::vector<uint8_t>& bytes, size_t i) {
    B b;
    std::memcpy(&b, bytes.data() + i * sizeof b, sizeof b);
    return b;
}

std::vector<float> gaussian(size_t n, std::mt19937_64& gen, float scale) {
    std::normal_distribution<float> dist(0.0f, scale);
    std::vector<float> v(n);
    for (auto& x : v) x = dist(gen);
    return v;
}

// ------------------------------------------------------------------ the scalar reference
// One weight block's contribution to a dot product, in exact integers and then ggml's float
// scaling: `value` the result, `magnitude` the same sum over absolute values (the scale of
// the rounding error any summation order may make).

struct Term {
    double value = 0, magnitude = 0;
    void add(double scale, int64_t sumi, int64_t abs_sumi) {
        value += double(float(scale) * float(sumi));
        magnitude += std::fabs(double(scale)) * double(abs_sumi);
    }
};

// Code j of a 32-element block (the element is d * code).
int code32(const BlockQ8_0& b, int j) { return b.qs[j]; }
int nibble(const uint8_t* qs, int j) { return j < 16 ? qs[j] & 15 : qs[j - 16] >> 4; }
int code32(const BlockQ4_0& b, int j) { return nibble(b.qs, j) - 8; }
int code32(const BlockQ5_0& b, int j) {
    uint32_t qh;
    std::memcpy(&qh, b.qh, 4);
    return (nibble(b.qs, j) | int((qh >> j) & 1) << 4) - 16;
}
int code32(const BlockIQ4_NL& b, int j) { return kIq4nlValues[nibble(b.qs, j)]; }
int code32(const BlockQ4_1& b, int j) { return nibble(b.qs, j); }
int code32(const BlockQ5_1& b, int j) {
    uint32_t qh;
    std::memcpy(&qh, b.qh, 4);
    return nibble(b.qs, j) | int((qh >> j) & 1) << 4;
}

template <class B>
void ref_block(const B& w, const BlockQ8_0& x, Term& t) {
    int64_t s = 0, a = 0;
    for (int j = 0; j < 32; ++j) {
        s += code32(w, j) * x.qs[j];
        a += std::abs(code32(w, j) * x.qs[j]);
    }
    t.add(f16_to_f32(w.d) * f16_to_f32(x.d), s, a);
    if constexpr (requires { w.m; }) {  // Q4_1 / Q5_1: x = d q + m
        int64_t sx = 0, ax = 0;
        for (int j = 0; j < 32; ++j) sx += x.qs[j], ax += std::abs(x.qs[j]);
        t.add(f16_to_f32(w.m) * f16_to_f32(x.d), sx, ax);
    }
}

// Q4_K, and Q5_K with bit 4 of element e at bit (2 (e / 64) + (e % 64) / 32) of qh[e % 32].
template <class B>
void ref_block_q45_k(const B& w, const BlockQ8_K& x, Term& t) {
    int64_t s = 0, a = 0, sm = 0, am = 0;
    for (int e = 0; e < 256; ++e) {
        const int g = e / 64, sub = e / 32;
        int q = (e % 64) < 32 ? w.qs[32 * g + e % 32] & 15 : w.qs[32 * g + e % 32] >> 4;
        if constexpr (requires { w.qh; }) q |= ((w.qh[e % 32] >> (2 * g + (e % 64) / 32)) & 1) << 4;
        uint8_t sc, m;
        scale_min_k4(sub, w.scales, sc, m);
        s += sc * q * x.qs[e];
        a += std::abs(sc * q * x.qs[e]);
        sm += m * x.qs[e];
        am += std::abs(m * x.qs[e]);
    }
    t.add(f16_to_f32(w.d) * x.d, s, a);
    t.add(-(f16_to_f32(w.dmin) * x.d), sm, am);
}
void ref_block(const BlockQ4_K& w, const BlockQ8_K& x, Term& t) { ref_block_q45_k(w, x, t); }
void ref_block(const BlockQ5_K& w, const BlockQ8_K& x, Term& t) { ref_block_q45_k(w, x, t); }

void ref_block(const BlockQ6_K& w, const BlockQ8_K& x, Term& t) {
    int64_t s = 0, a = 0;
    for (int e = 0; e < 256; ++e) {
        const int h = e / 128, l = e % 32, part = (e % 128) / 32;  // part: which quarter of the half
        const uint8_t ql = w.ql[64 * h + l + 32 * (part % 2)];
        const int lo = part < 2 ? ql & 15 : ql >> 4;
        const int hi = (w.qh[32 * h + l] >> (2 * part)) & 3;
        const int v = w.scales[e / 16] * ((lo | hi << 4) - 32) * x.qs[e];
        s += v;
        a += std::abs(v);
    }
    t.add(f16_to_f32(w.d) * x.d, s, a);
}

// Q2_K and Q3_K as ggml's reference dot products walk them: 2-bit fields `shift` of qs[0..32)
// for each stripe of 32, 16 elements per sub-block scale.
void ref_block(const BlockQ2_K& w, const BlockQ8_K& x, Term& t) {
    int64_t s = 0, a = 0, sm = 0, am = 0;
    const uint8_t* q2 = w.qs;
    const int8_t* q8 = x.qs;
    int is = 0;
    for (int k = 0; k < 2; ++k, q2 += 32)
        for (int shift = 0; shift < 8; shift += 2)
            for (int part = 0; part < 2; ++part, ++is, q8 += 16) {
                const int d = w.scales[is] & 15, m = w.scales[is] >> 4;
                for (int l = 0; l < 16; ++l) {
                    const int v = d * ((q2[16 * part + l] >> shift) & 3) * q8[l];
                    s += v;
                    a += std::abs(v);
                    sm += m * q8[l];
                    am += std::abs(m * q8[l]);
                }
            }
    t.add(f16_to_f32(w.d) * x.d, s, a);
    t.add(-(f16_to_f32(w.dmin) * x.d), sm, am);
}

void ref_block(const BlockQ3_K& w, const BlockQ8_K& x, Term& t) {
    // ggml's unpacking of the twelve scale bytes into sixteen 6-bit scales.
    uint32_t aux[4];
    std::memcpy(aux, w.scales, 12);
    const uint32_t tmp = aux[2], km1 = 0x03030303, km2 = 0x0f0f0f0f;
    aux[2] = ((aux[0] >> 4) & km2) | (((tmp >> 4) & km1) << 4);
    aux[3] = ((aux[1] >> 4) & km2) | (((tmp >> 6) & km1) << 4);
    aux[0] = (aux[0] & km2) | (((tmp >> 0) & km1) << 4);
    aux[1] = (aux[1] & km2) | (((tmp >> 2) & km1) << 4);
    int8_t scales[16];
    std::memcpy(scales, aux, 16);
    int64_t s = 0, a = 0;
    uint8_t m = 1;
    int e = 0;
    for (int half = 0; half < 2; ++half)
        for (int shift = 0; shift < 8; shift += 2, m = uint8_t(m << 1))
            for (int l = 0; l < 32; ++l, ++e) {
                const int q = ((w.qs[32 * half + l] >> shift) & 3) - (w.hmask[l] & m ? 0 : 4);
                const int v = (scales[e / 16] - 32) * q * x.qs[e];
                s += v;
                a += std::abs(v);
            }
    t.add(f16_to_f32(w.d) * x.d, s, a);
}

void ref_block(const BlockIQ4_XS& w, const BlockQ8_K& x, Term& t) {
    int64_t s = 0, a = 0;
    for (int ib = 0; ib < 8; ++ib) {
        const int ls = ((w.scales_l[ib / 2] >> (4 * (ib % 2))) & 15) | (((w.scales_h >> (2 * ib)) & 3) << 4);
        for (int j = 0; j < 32; ++j) {
            const int v = (ls - 32) * kIq4nlValues[nibble(w.qs + 16 * ib, j)] * x.qs[32 * ib + j];
            s += v;
            a += std::abs(v);
        }
    }
    t.add(f16_to_f32(w.d) * x.d, s, a);
}

// The grid formats: element j of a group of 8 is its grid entry's byte j, negated where bit j
// of the group's sign byte is set; ggml scales the IQ2 sums by 1/8 and IQ3_XXS's by 1/4.
struct GridSum {
    int64_t s = 0, a = 0;
    void add(int scale, int magnitude, bool negative, int xq) {
        const int v = scale * magnitude * xq * (negative ? -1 : 1);
        s += v;
        a += std::abs(v);
    }
};

void ref_block(const BlockIQ2_XXS& w, const BlockQ8_K& x, Term& t) {
    GridSum g;
    for (int ib = 0; ib < 8; ++ib) {
        uint32_t aux[2];
        std::memcpy(aux, w.qs + 4 * ib, 8);
        const int ls = int(2 * (aux[1] >> 28) + 1);
        for (int l = 0; l < 4; ++l) {
            const uint64_t grid = kIq2xxsGrid[(aux[0] >> (8 * l)) & 255];
            const uint8_t signs = signs_from_code7((aux[1] >> (7 * l)) & 127);
            for (int j = 0; j < 8; ++j) g.add(ls, grid_byte(grid, j), signs >> j & 1, x.qs[32 * ib + 8 * l + j]);
        }
    }
    t.add(f16_to_f32(w.d) * x.d * 0.125f, g.s, g.a);
}

void ref_block(const BlockIQ2_XS& w, const BlockQ8_K& x, Term& t) {
    GridSum g;
    for (int ib = 0; ib < 8; ++ib)
        for (int l = 0; l < 4; ++l) {
            const int ls = 2 * ((w.scales[ib] >> (l < 2 ? 0 : 4)) & 15) + 1;
            const uint16_t code = w.qs[4 * ib + l];
            const uint64_t grid = kIq2xsGrid[code & 511];
            const uint8_t signs = signs_from_code7(code >> 9);
            for (int j = 0; j < 8; ++j) g.add(ls, grid_byte(grid, j), signs >> j & 1, x.qs[32 * ib + 8 * l + j]);
        }
    t.add(f16_to_f32(w.d) * x.d * 0.125f, g.s, g.a);
}

void ref_block(const BlockIQ2_S& w, const BlockQ8_K& x, Term& t) {
    GridSum g;
    for (int ib = 0; ib < 8; ++ib)
        for (int l = 0; l < 4; ++l) {
            const int ls = 2 * ((w.scales[ib] >> (l < 2 ? 0 : 4)) & 15) + 1;
            const uint64_t grid = kIq2sGrid[w.qs[4 * ib + l] | ((w.qh[ib] << (8 - 2 * l)) & 0x300)];
            const uint8_t signs = w.qs[32 + 4 * ib + l];
            for (int j = 0; j < 8; ++j) g.add(ls, grid_byte(grid, j), signs >> j & 1, x.qs[32 * ib + 8 * l + j]);
        }
    t.add(f16_to_f32(w.d) * x.d * 0.125f, g.s, g.a);
}

void ref_block(const BlockIQ3_XXS& w, const BlockQ8_K& x, Term& t) {
    GridSum g;
    for (int ib = 0; ib < 8; ++ib) {
        uint32_t meta;
        std::memcpy(&meta, w.qs + 64 + 4 * ib, 4);
        const int ls = int(2 * (meta >> 28) + 1);
        for (int l = 0; l < 4; ++l) {
            const uint8_t signs = signs_from_code7((meta >> (7 * l)) & 127);
            for (int half = 0; half < 2; ++half) {
                const uint32_t grid = kIq3xxsGrid[w.qs[8 * ib + 2 * l + half]];
                for (int j = 0; j < 4; ++j)
                    g.add(ls, grid_byte(grid, j), signs >> (4 * half + j) & 1, x.qs[32 * ib + 8 * l + 4 * half + j]);
            }
        }
    }
    t.add(f16_to_f32(w.d) * x.d * 0.25f, g.s, g.a);
}

void ref_block(const BlockIQ3_S& w, const BlockQ8_K& x, Term& t) {
    GridSum g;
    for (int ib = 0; ib < 8; ++ib) {
        const int ls = 2 * ((w.scales[ib / 2] >> (4 * (ib % 2))) & 15) + 1;
        for (int l = 0; l < 4; ++l) {
            const uint8_t signs = w.signs[4 * ib + l];
            const unsigned i1 = w.qs[8 * ib + 2 * l] | ((w.qh[ib] << (8 - 2 * l)) & 256);
            const unsigned i2 = w.qs[8 * ib + 2 * l + 1] | ((w.qh[ib] << (7 - 2 * l)) & 256);
            for (int j = 0; j < 4; ++j) {
                g.add(ls, grid_byte(kIq3sGrid[i1], j), signs >> j & 1, x.qs[32 * ib + 8 * l + j]);
                g.add(ls, grid_byte(kIq3sGrid[i2], j), signs >> (4 + j) & 1, x.qs[32 * ib + 8 * l + 4 + j]);
            }
        }
    }
    t.add(f16_to_f32(w.d) * x.d, g.s, g.a);
}

// The reference dot products of every row of w with every token of x.
template <class B, class A>
std::vector<Term> reference(const std::vector<uint8_t>& w, size_t rows, size_t cols, const std::vector<float>& x,
                            size_t n_tok, TensorType act) {
    std::vector<Term> out(rows * n_tok);
    const size_t nb = cols / (sizeof(A::qs));
    std::vector<uint8_t> xq(*tensor_row_bytes(act, cols));
    for (size_t t = 0; t < n_tok; ++t) {
        quantize_row(act, x.data() + t * cols, xq.data(), cols);
        for (size_t r = 0; r < rows; ++r)
            for (size_t b = 0; b < nb; ++b)
                ref_block(block_at<B>(w, r * nb + b), block_at<A>(xq, b), out[t * rows + r]);
    }
    return out;
}

// ------------------------------------------------------------------ weights

// f16 scale and minimum fields of each block (everything else is codes or integer sub-scales).
std::vector<size_t> scale_offsets(TensorType type) {
    switch (type) {
    case TensorType::Q4_K: return {offsetof(BlockQ4_K, d), offsetof(BlockQ4_K, dmin)};
    case TensorType::Q5_K: return {offsetof(BlockQ5_K, d), offsetof(BlockQ5_K, dmin)};
    case TensorType::Q4_1: return {offsetof(BlockQ4_1, d), offsetof(BlockQ4_1, m)};
    case TensorType::Q5_1: return {offsetof(BlockQ5_1, d), offsetof(BlockQ5_1, m)};
    case TensorType::Q6_K: return {offsetof(BlockQ6_K, d)};
    case TensorType::Q2_K: return {offsetof(BlockQ2_K, d), offsetof(BlockQ2_K, dmin)};
    case TensorType::Q3_K: return {offsetof(BlockQ3_K, d)};
    default: return {0};  // the other formats start with their f16 d
    }
}

void set_scales(TensorType type, uint8_t* block, float d) {
    const uint16_t h = f32_to_f16(d);
    for (size_t at : scale_offsets(type)) std::memcpy(block + at, &h, 2);
}

// Rows of real quantized weights interleaved with adversarial blocks: random bytes, byte
// patterns that give all-zero and maximal-magnitude codes (0x00, 0xFF, 0x80, 0x88, 0x77
// cover the extremes of every format), zero, tiny (subnormal) and the largest f16 scales.
std::vector<uint8_t> weights(TensorType type, size_t rows, size_t cols, uint64_t seed) {
    const auto info = tensor_type_info(type);
    const size_t nb = cols / info.block_elems, bytes = info.block_bytes;
    std::mt19937_64 gen(seed);
    std::vector<uint8_t> w(rows * nb * bytes);
    for (size_t r = 0; r < rows; ++r) {
        uint8_t* row = w.data() + r * nb * bytes;
        if (can_quantize(type)) {
            quantize_row(type, gaussian(cols, gen, 0.05f).data(), row, cols);
        } else {  // Q2_K, Q3_K, IQ2, IQ3 (no quantizer here): every code and sub-scale is valid
            for (size_t i = 0; i < nb * bytes; ++i) row[i] = uint8_t(gen());
            for (size_t b = 0; b < nb; ++b) set_scales(type, row + b * bytes, 0.001f * float(1 + b % 7));
        }
        if (r % 3 == 0) continue;  // a third of the rows stay as the quantizer made them
        for (size_t b = 0; b < nb; ++b) {
            uint8_t* blk = row + b * bytes;
            const uint8_t patterns[] = {0x00, 0xFF, 0x80, 0x88, 0x77};
            switch (gen() % 8) {
            case 0:
                for (size_t i = 0; i < bytes; ++i) blk[i] = uint8_t(gen());
                set_scales(type, blk, 0.01f);
                break;
            case 1:
                std::memset(blk, patterns[gen() % 5], bytes);
                set_scales(type, blk, 0.02f);
                break;
            case 2: set_scales(type, blk, 0.0f); break;
            case 3: set_scales(type, blk, 0x1p-24f); break;
            case 4:
                std::memset(blk, patterns[gen() % 5], bytes);
                set_scales(type, blk, 65504.0f);
                break;
            default: break;  // the quantizer's block
            }
        }
    }
    return w;
}

// Activations: gaussian rows, with an all-zero token and a token of large values when
// there are enough tokens.
std::vector<float> activations(size_t n_tok, size_t cols, uint64_t seed) {
    std::mt19937_64 gen(seed);
    std::vector<float> x = gaussian(n_tok * cols, gen, 1.0f);
    if (n_tok >= 3) std::fill(x.begin() + cols, x.begin() + 2 * cols, 0.0f);
    if (n_tok >= 8)
        for (size_t c = 0; c < cols; ++c) x[2 * cols + c] *= 1e4f;
    return x;
}

float act_scale(const BlockQ8_0& b) { return f16_to_f32(b.d); }
float act_scale(const BlockQ8_K& b) { return b.d; }

// The same weights repacked for the row-interleaved kernels (kernels/packed.hpp), if this
// path has them for the type: false if not.
bool pack_for_path(Matrix& m, AlignedBuffer<uint8_t>& storage) {
    const size_t bytes = packed_bytes(m);
    CHECK((bytes != 0) == (kernels::kernel_table().packed_rows != nullptr && kernels::packable(m.type, m.rows, m.cols)));
    if (!bytes) return false;
    storage.resize(bytes);
    pack_matrix(m, storage.data());
    return true;
}

// Rows as stored (37: not a multiple of the 16-row chunk or of any tile) or, with `packed`,
// 48 rows repacked into three 16-row groups.
template <class B, class A>
void check_type(TensorType type, size_t cols, bool packed = false,
                std::initializer_list<size_t> token_counts = {1, 3, 4, 6, 8, 15, 17}) {
    const TensorType act = sizeof(A::qs) == 32 ? TensorType::Q8_0 : TensorType::Q8_K;
    REQUIRE((packed ? kernels::packed_act_type(type) : kernels::quant_act_type(type)) == act);
    const size_t rows = packed ? 48 : 37;
    const auto w = weights(type, rows, cols, cols + size_t(type));
    Matrix m{type, w.data(), rows, cols, *tensor_row_bytes(type, cols)};
    AlignedBuffer<uint8_t> storage;
    if (packed && !pack_for_path(m, storage)) return;
    std::vector<float> deq(rows * cols);
    for (size_t r = 0; r < rows; ++r) dequantize_row(m, r, deq.data() + r * cols);
    for (size_t n_tok : token_counts) {
        INFO("n_tok " << n_tok);
        const auto x = activations(n_tok, cols, n_tok);
        std::vector<float> y(n_tok * rows, -1.0f);
        matmul(m, x.data(), cols, n_tok, y.data(), rows);
        const auto ref = reference<B, A>(w, rows, cols, x, n_tok, act);
        std::vector<uint8_t> xq(*tensor_row_bytes(act, cols));
        for (size_t t = 0; t < n_tok; ++t) {
            quantize_row(act, x.data() + t * cols, xq.data(), cols);
            for (size_t r = 0; r < rows; ++r) {
                const double got = y[t * rows + r];
                const Term& e = ref[t * rows + r];
                INFO("row " << r << " token " << t);
                REQUIRE(std::isfinite(got));
                CHECK(std::fabs(got - e.value) <= 1e-5 * e.magnitude);
                // Against the float product: each activation is off by at most half its
                // block's step d_x (plus d_x's own f16 rounding for Q8_0).
                double exact = 0, bound = 1e-5 * e.magnitude;
                for (size_t c = 0; c < cols; ++c) {
                    const double wv = deq[r * cols + c], xv = x[t * cols + c];
                    exact += wv * xv;
                    const size_t blk = c / sizeof(A::qs);
                    const double dx = act_scale(block_at<A>(xq, blk));
                    bound += std::fabs(wv) * (0.5 * std::fabs(dx) + 1e-3 * std::fabs(xv));
                }
                CHECK(std::fabs(got - exact) <= bound * 1.001 + 1e-30);
            }
        }
        // Repacked groups go two at a time into tiles of every token count, with the sums of
        // both groups at once or one after the other: each token's results are still bitwise
        // those of that token alone (decode), which prefill-equals-decode rests on.
        if (!packed || n_tok == 1) continue;
        std::vector<float> one(rows);
        for (size_t t = 0; t < n_tok; ++t) {
            matmul(m, x.data() + t * cols, cols, 1, one.data(), rows);
            CHECK(std::memcmp(one.data(), y.data() + t * rows, rows * sizeof(float)) == 0);
        }
    }
}

// A row whose first block has a NaN or infinite scale gives a non-finite result for every
// token and leaves the other rows as they were.
void check_non_finite(TensorType type, size_t cols, bool packed = false, size_t n_tok = 5) {
    const size_t rows = packed ? 32 : n_tok >= 8 ? 37 : 9;
    auto w = weights(type, rows, cols, 7);
    Matrix m{type, w.data(), rows, cols, *tensor_row_bytes(type, cols)};
    AlignedBuffer<uint8_t> storage, poisoned_storage;
    if (packed && !pack_for_path(m, storage)) return;
    const auto x = activations(n_tok, cols, 3);
    std::vector<float> before(n_tok * rows), after(n_tok * rows);
    matmul(m, x.data(), cols, n_tok, before.data(), rows);
    const float bad[] = {std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity()};
    for (float v : bad) {
        INFO("scale " << v);
        std::vector<uint8_t> poisoned = w;
        set_scales(type, poisoned.data() + 4 * m.row_bytes, v);
        Matrix p{type, poisoned.data(), rows, cols, m.row_bytes};
        if (packed) pack_for_path(p, poisoned_storage);
        matmul(p, x.data(), cols, n_tok, after.data(), rows);
        for (size_t t = 0; t < n_tok; ++t)
            for (size_t r = 0; r < rows; ++r) {
                if (r == 4) {
                    // The all-zero token: Q8_K gives d_x = 0 and Q8_0 d_x = 0, so inf * 0 is NaN.
                    CHECK_FALSE(std::isfinite(after[t * rows + r]));
                } else {
                    CHECK(after[t * rows + r] == before[t * rows + r]);
                }
            }
    }
}

// The low-bit formats without a packed copy, which a multi-token matmul decodes per 16-row
// group into the transient 8-bit layout (kernels/packed.hpp) on paths that have its kernel.
const TensorType kTransientTypes[] = {TensorType::IQ2_XXS, TensorType::IQ2_XS, TensorType::IQ2_S,
                                      TensorType::IQ3_XXS, TensorType::Q2_K};

// Tokens quantized to Q8_K by the reference quantizer, unpacked into QuantActs' layout.
struct Q8KActs {
    std::vector<int8_t> q;
    std::vector<float> d;
    std::vector<int16_t> bsums;
    Q8KActs(const std::vector<float>& x, size_t n_tok, size_t cols)
        : q(n_tok * cols), d(n_tok * cols / kQK_K), bsums(n_tok * cols / 16) {
        const size_t nb = cols / kQK_K;
        std::vector<uint8_t> blocks(*tensor_row_bytes(TensorType::Q8_K, cols));
        for (size_t t = 0; t < n_tok; ++t) {
            quantize_row(TensorType::Q8_K, x.data() + t * cols, blocks.data(), cols);
            for (size_t b = 0; b < nb; ++b) {
                const auto blk = block_at<BlockQ8_K>(blocks, b);
                d[t * nb + b] = blk.d;
                std::memcpy(q.data() + t * cols + b * kQK_K, blk.qs, kQK_K);
                std::memcpy(bsums.data() + (t * nb + b) * 16, blk.bsums, sizeof blk.bsums);
            }
        }
    }
    kernels::QuantActs acts(size_t cols) const {
        return {TensorType::Q8_K, q.data(), d.data(), bsums.data(), cols, nullptr};
    }
};

// The transient kernel called directly on 48 rows (three 16-row groups): groups [1, 3) first,
// which must write their rows only, then group 0; every result against ggml's arithmetic.
// Then matmul() on the same rows, whose whole groups must take that kernel (the same numbers).
template <class B>
void check_transient(TensorType type, size_t cols) {
    const kernels::TransientRowsFn kernel = kernels::kernel_table().transient_rows;
    if (!kernel) return;
    REQUIRE(kernels::transient_packable(type, cols));
    const size_t rows = 48;
    const auto w = weights(type, rows, cols, 3 * cols + size_t(type));
    const size_t row_bytes = *tensor_row_bytes(type, cols);
    for (size_t n_tok : {8, 9, 17, 64}) {
        INFO("n_tok " << n_tok);
        const auto x = activations(n_tok, cols, 100 + n_tok);
        const Q8KActs xq(x, n_tok, cols);
        std::vector<float> y(n_tok * rows, -1.0f);
        kernel(type, w.data(), row_bytes, cols, 1, 3, xq.acts(cols), n_tok, y.data(), rows);
        for (size_t t = 0; t < n_tok; ++t)
            for (size_t r = 0; r < 16; ++r) REQUIRE(y[t * rows + r] == -1.0f);
        kernel(type, w.data(), row_bytes, cols, 0, 1, xq.acts(cols), n_tok, y.data(), rows);
        const auto ref = reference<B, BlockQ8_K>(w, rows, cols, x, n_tok, TensorType::Q8_K);
        for (size_t t = 0; t < n_tok; ++t)
            for (size_t r = 0; r < rows; ++r) {
                INFO("row " << r << " token " << t);
                const double got = y[t * rows + r];
                REQUIRE(std::isfinite(got));
                CHECK(std::fabs(got - ref[t * rows + r].value) <= 1e-5 * ref[t * rows + r].magnitude);
            }
        std::vector<float> via_matmul(n_tok * rows);
        const Matrix m{type, w.data(), rows, cols, row_bytes};
        matmul(m, x.data(), cols, n_tok, via_matmul.data(), rows);
        CHECK(via_matmul == y);
    }
}

#if defined(__x86_64__)
// Tokens quantized to Q8_0 by the reference quantizer, in QuantActs' layout (with the block
// code sums the packed kernels' offset correction takes).
struct Q80Acts {
    std::vector<int8_t> q;
    std::vector<float> d;
    std::vector<int32_t> sums;
    Q80Acts(const std::vector<float>& x, size_t n_tok, size_t cols)
        : q(n_tok * cols), d(n_tok * cols / kQK), sums(n_tok * cols / kQK) {
        const size_t nb = cols / kQK;
        std::vector<uint8_t> blocks(*tensor_row_bytes(TensorType::Q8_0, cols));
        for (size_t t = 0; t < n_tok; ++t) {
            quantize_row(TensorType::Q8_0, x.data() + t * cols, blocks.data(), cols);
            for (size_t b = 0; b < nb; ++b) {
                const auto blk = block_at<BlockQ8_0>(blocks, b);
                d[t * nb + b] = f16_to_f32(blk.d);
                std::memcpy(q.data() + t * cols + b * kQK, blk.qs, kQK);
                int32_t sum = 0;
                for (int8_t v : blk.qs) sum += v;
                sums[t * nb + b] = sum;
            }
        }
    }
    kernels::QuantActs acts(size_t cols) const {
        return {TensorType::Q8_0, q.data(), d.data(), nullptr, cols, sums.data()};
    }
};
#endif

}  // namespace

#if defined(__x86_64__)
// The AMX tiles (x86/packed_amx.cpp) take 16 tokens at a time and leave the rest to the VNNI
// tiles; every result must be the VNNI kernel's bit for bit (prefill = decode rests on it).
// Groups [1, 3) first, which must write their rows only, then group 0.
TEST_CASE("AMX tiles: the packed 32-element formats give the VNNI tiles' results bit for bit") {
    if (!cpu_features().amx_int8) {
        MESSAGE("no AMX-INT8 this process may use here: skipped");
        return;
    }
    if (best_isa() == Isa::Avx512)
        CHECK(bool(kernels::kernel_table().packed_rows == &kernels::amx::packed_matmul_groups));
    const TensorType types[] = {TensorType::Q8_0, TensorType::Q4_0, TensorType::Q5_0,
                                TensorType::Q4_1, TensorType::Q5_1, TensorType::IQ4_NL};
    for (TensorType type : types)
        for (size_t cols : {800, 896, 4864}) {  // 25 blocks: an odd count ends the pipeline on one
            INFO(tensor_type_name(type) << " cols " << cols);
            const size_t rows = 48, row_bytes = *tensor_row_bytes(type, cols);
            const auto w = weights(type, rows, cols, 5 * cols + size_t(type));
            AlignedBuffer<uint8_t> packed(kernels::packed_matrix_bytes(type, rows, cols));
            kernels::pack_groups(type, w.data(), row_bytes, cols, 0, rows / 16, packed.data());
            for (size_t n_tok : {16, 21, 35, 64}) {
                INFO("n_tok " << n_tok);
                const auto x = activations(n_tok, cols, 200 + n_tok);
                const Q80Acts xq(x, n_tok, cols);
                std::vector<float> amx(n_tok * rows, -1.0f), vnni(n_tok * rows, -2.0f);
                kernels::amx::packed_matmul_groups(type, packed.data(), cols, 1, 3, xq.acts(cols), n_tok, amx.data(),
                                                   rows);
                for (size_t t = 0; t < n_tok; ++t)
                    for (size_t r = 0; r < 16; ++r) REQUIRE(amx[t * rows + r] == -1.0f);
                kernels::amx::packed_matmul_groups(type, packed.data(), cols, 0, 1, xq.acts(cols), n_tok, amx.data(),
                                                   rows);
                kernels::avx512::packed_matmul_groups(type, packed.data(), cols, 0, 3, xq.acts(cols), n_tok,
                                                      vnni.data(), rows);
                size_t differ = 0;
                for (size_t i = 0; i < amx.size(); ++i) differ += std::memcmp(&amx[i], &vnni[i], sizeof(float)) != 0;
                CHECK(differ == 0);
            }
        }
}
#endif

// CTest names the table it expects where it knows (QWEN_ISA=scalar anywhere; under qemu-user,
// each emulated CPU's), so that a wrong feature detection or dispatch cannot pass unseen.
TEST_CASE("the kernel table is the one CTest expects for this CPU and QWEN_ISA") {
    const char* want = std::getenv("QWEN_TEST_EXPECT_KERNELS");
    if (!want) return;
    CHECK(std::string(kernels::kernel_table().isa) == want);
}

TEST_CASE("the kernel table has an integer-dot path for the formats it claims") {
    MESSAGE("kernel path: " << std::string(kernels::kernel_table().isa));
    for (TensorType t : {TensorType::Q4_1, TensorType::Q5_1, TensorType::F16, TensorType::BF16})
        CHECK(kernels::quant_act_type(t) == TensorType::F32);
    for (TensorType t : {TensorType::Q2_K, TensorType::Q3_K, TensorType::Q4_K, TensorType::Q5_K, TensorType::Q6_K,
                         TensorType::IQ4_XS, TensorType::IQ2_XXS, TensorType::IQ2_XS, TensorType::IQ2_S,
                         TensorType::IQ3_XXS, TensorType::IQ3_S})
        CHECK(kernels::quant_act_type(t) == TensorType::Q8_K);
}

TEST_CASE("Q8_0 weights: integer dot products equal ggml's arithmetic") {
    for (size_t cols : {896, 4864}) check_type<BlockQ8_0, BlockQ8_0>(TensorType::Q8_0, cols);
}
TEST_CASE("Q4_0 weights: integer dot products equal ggml's arithmetic") {
    for (size_t cols : {896, 4864}) check_type<BlockQ4_0, BlockQ8_0>(TensorType::Q4_0, cols);
}
TEST_CASE("Q5_0 weights: integer dot products equal ggml's arithmetic") {
    for (size_t cols : {896, 4864}) check_type<BlockQ5_0, BlockQ8_0>(TensorType::Q5_0, cols);
}
TEST_CASE("IQ4_NL weights: integer dot products equal ggml's arithmetic") {
    for (size_t cols : {896, 4864}) check_type<BlockIQ4_NL, BlockQ8_0>(TensorType::IQ4_NL, cols);
}
// 896 is not a whole number of 256-element super-blocks: the K-quants take 512 instead.
TEST_CASE("Q4_K weights: integer dot products equal ggml's arithmetic") {
    for (size_t cols : {512, 4864}) check_type<BlockQ4_K, BlockQ8_K>(TensorType::Q4_K, cols);
}
TEST_CASE("Q6_K weights: integer dot products equal ggml's arithmetic") {
    for (size_t cols : {512, 4864}) check_type<BlockQ6_K, BlockQ8_K>(TensorType::Q6_K, cols);
}

TEST_CASE("Q5_K weights (unpacked): integer dot products equal ggml's arithmetic") {
    for (size_t cols : {512, 4864}) check_type<BlockQ5_K, BlockQ8_K>(TensorType::Q5_K, cols);
}
TEST_CASE("Q2_K weights: integer dot products equal ggml's arithmetic") {
    for (size_t cols : {512, 4864}) check_type<BlockQ2_K, BlockQ8_K>(TensorType::Q2_K, cols);
}
TEST_CASE("Q3_K weights: integer dot products equal ggml's arithmetic") {
    for (size_t cols : {512, 4864}) check_type<BlockQ3_K, BlockQ8_K>(TensorType::Q3_K, cols);
}
TEST_CASE("IQ4_XS weights: integer dot products equal ggml's arithmetic") {
    for (size_t cols : {512, 4864}) check_type<BlockIQ4_XS, BlockQ8_K>(TensorType::IQ4_XS, cols);
}
TEST_CASE("IQ2 weights: integer dot products equal ggml's arithmetic") {
    for (size_t cols : {512, 4864}) {
        check_type<BlockIQ2_XXS, BlockQ8_K>(TensorType::IQ2_XXS, cols);
        check_type<BlockIQ2_XS, BlockQ8_K>(TensorType::IQ2_XS, cols);
        check_type<BlockIQ2_S, BlockQ8_K>(TensorType::IQ2_S, cols);
    }
}
// A token's results do not depend on the call it is in: decode (one token, where an ISA may
// have kernels of its own, as AVX-512's for IQ2_XS) gives bitwise what a call of several
// tokens on the stored rows gives for that token; the model's prefill-equals-decode tests
// rest on it.
TEST_CASE("stored-row formats: one token alone gives bitwise its result in a call of several") {
    const TensorType types[] = {TensorType::IQ2_XXS, TensorType::IQ2_XS, TensorType::IQ2_S, TensorType::IQ3_XXS,
                                TensorType::IQ3_S, TensorType::Q2_K, TensorType::Q3_K, TensorType::IQ4_XS};
    for (TensorType type : types) {
        for (size_t cols : {size_t(512), size_t(4864)}) {
            INFO(tensor_type_name(type) << " cols " << cols);
            const size_t rows = 37;
            const auto w = weights(type, rows, cols, cols + size_t(type) + 5);
            const Matrix m{type, w.data(), rows, cols, *tensor_row_bytes(type, cols)};
            const auto x = activations(3, cols, 77);
            std::vector<float> several(3 * rows), one(rows);
            matmul(m, x.data(), cols, 3, several.data(), rows);
            for (size_t t = 0; t < 3; ++t) {
                matmul(m, x.data() + t * cols, cols, 1, one.data(), rows);
                CHECK(std::memcmp(one.data(), several.data() + t * rows, rows * sizeof(float)) == 0);
            }
        }
    }
}

TEST_CASE("IQ3 weights: integer dot products equal ggml's arithmetic") {
    for (size_t cols : {512, 4864}) {
        check_type<BlockIQ3_XXS, BlockQ8_K>(TensorType::IQ3_XXS, cols);
        check_type<BlockIQ3_S, BlockQ8_K>(TensorType::IQ3_S, cols);
    }
}

TEST_CASE("repacked 16-row groups: the row-interleaved kernels equal ggml's arithmetic") {
    MESSAGE("packed kernels on this path: " << std::string(kernels::kernel_table().packed_rows ? "yes" : "no"));
    for (size_t cols : {896, 4864}) {
        check_type<BlockQ8_0, BlockQ8_0>(TensorType::Q8_0, cols, true);
        check_type<BlockQ4_0, BlockQ8_0>(TensorType::Q4_0, cols, true);
        check_type<BlockQ5_0, BlockQ8_0>(TensorType::Q5_0, cols, true);
        check_type<BlockIQ4_NL, BlockQ8_0>(TensorType::IQ4_NL, cols, true);
    }
    for (size_t cols : {896, 4864}) {
        check_type<BlockQ4_1, BlockQ8_0>(TensorType::Q4_1, cols, true);
        check_type<BlockQ5_1, BlockQ8_0>(TensorType::Q5_1, cols, true);
    }
    for (size_t cols : {512, 4864}) {
        check_type<BlockQ4_K, BlockQ8_K>(TensorType::Q4_K, cols, true);
        check_type<BlockQ5_K, BlockQ8_K>(TensorType::Q5_K, cols, true);
        check_type<BlockQ6_K, BlockQ8_K>(TensorType::Q6_K, cols, true);
        check_type<BlockQ3_K, BlockQ8_K>(TensorType::Q3_K, cols, true);
        check_type<BlockIQ4_XS, BlockQ8_K>(TensorType::IQ4_XS, cols, true);
        check_type<BlockIQ3_S, BlockQ8_K>(TensorType::IQ3_S, cols, true);
    }
}

TEST_CASE("a NaN or infinite weight scale propagates to its row only") {
    for (TensorType t : {TensorType::Q8_0, TensorType::Q4_0, TensorType::Q5_0, TensorType::IQ4_NL}) {
        check_non_finite(t, 896);
        check_non_finite(t, 896, true);
    }
    for (TensorType t : {TensorType::Q4_K, TensorType::Q6_K}) {
        check_non_finite(t, 512);
        check_non_finite(t, 512, true);
    }
    for (TensorType t : {TensorType::Q2_K, TensorType::Q3_K, TensorType::Q5_K, TensorType::IQ4_XS,
                         TensorType::IQ2_XXS, TensorType::IQ2_XS, TensorType::IQ2_S, TensorType::IQ3_XXS,
                         TensorType::IQ3_S})
        check_non_finite(t, 512);
    for (TensorType t : {TensorType::Q3_K, TensorType::IQ4_XS, TensorType::IQ3_S}) check_non_finite(t, 512, true);
    for (TensorType t : {TensorType::Q4_1, TensorType::Q5_1}) check_non_finite(t, 896, true);
    check_non_finite(TensorType::Q5_K, 512, true);
}

TEST_CASE("the transient kernel is in the table exactly where the packed kernels are") {
    const kernels::KernelTable& k = kernels::kernel_table();
    MESSAGE("transient kernel on this path: " << std::string(k.transient_rows ? "yes" : "no"));
    CHECK(bool(k.transient_rows) == bool(k.packed_rows));
    if (std::string(k.isa) != "avx512") CHECK_FALSE(bool(k.transient_rows));
    for (TensorType t : kTransientTypes) {
        CHECK(kernels::transient_packable(t, 512));
        CHECK(kernels::transient_packable(t, 4864));
        CHECK_FALSE(kernels::transient_packable(t, 896));
        CHECK_FALSE(kernels::transient_packable(t, 0));
    }
    for (TensorType t : {TensorType::Q8_0, TensorType::Q4_K, TensorType::Q3_K, TensorType::IQ3_S, TensorType::IQ4_XS,
                         TensorType::F32})
        CHECK_FALSE(kernels::transient_packable(t, 512));
}

// matmul() only hands it types with a transient layout; another type must not be decoded as
// one (its scratch would be empty), so the kernel leaves the output as it was.
TEST_CASE("the transient kernel does nothing for a type without a transient layout") {
    const kernels::TransientRowsFn kernel = kernels::kernel_table().transient_rows;
    if (!kernel) return;
    const size_t cols = 512, rows = 16, n_tok = 9;
    const Q8KActs xq(activations(n_tok, cols, 5), n_tok, cols);
    for (TensorType t : {TensorType::Q4_K, TensorType::Q3_K, TensorType::IQ4_XS, TensorType::IQ3_S}) {
        INFO(std::string(tensor_type_name(t)));
        const size_t row_bytes = *tensor_row_bytes(t, cols);
        const auto w = weights(t, rows, cols, 21);
        std::vector<float> y(n_tok * rows, -1.0f);
        kernel(t, w.data(), row_bytes, cols, 0, 1, xq.acts(cols), n_tok, y.data(), rows);
        CHECK(y == std::vector<float>(n_tok * rows, -1.0f));
    }
}

TEST_CASE("low-bit formats, many tokens: the transient 8-bit layout equals ggml's arithmetic") {
    for (size_t cols : {512, 4864}) {
        INFO("cols " << cols);
        check_transient<BlockIQ2_XXS>(TensorType::IQ2_XXS, cols);
        check_transient<BlockIQ2_XS>(TensorType::IQ2_XS, cols);
        check_transient<BlockIQ2_S>(TensorType::IQ2_S, cols);
        check_transient<BlockIQ3_XXS>(TensorType::IQ3_XXS, cols);
        check_transient<BlockQ2_K>(TensorType::Q2_K, cols);
        // Through matmul() on 37 rows: two transient groups, then 5 rows on the stored-row kernel.
        check_type<BlockIQ2_XXS, BlockQ8_K>(TensorType::IQ2_XXS, cols, false, {8, 9, 17, 64});
        check_type<BlockIQ2_XS, BlockQ8_K>(TensorType::IQ2_XS, cols, false, {8, 9, 17, 64});
        check_type<BlockIQ2_S, BlockQ8_K>(TensorType::IQ2_S, cols, false, {8, 9, 17, 64});
        check_type<BlockIQ3_XXS, BlockQ8_K>(TensorType::IQ3_XXS, cols, false, {8, 9, 17, 64});
        check_type<BlockQ2_K, BlockQ8_K>(TensorType::Q2_K, cols, false, {8, 9, 17, 64});
    }
    for (TensorType t : kTransientTypes) check_non_finite(t, 512, false, 9);
}

// In a forward pass, gate and up (here an IQ2_XS matrix of 37 rows, a Q2_K one and a packed
// Q4_K one, where this path packs) share one quantized input and one list of 16-row groups
// over the team; the 5 rows after IQ2_XS's last group go to the last thread. Each row must
// come out as a single-threaded matmul() gives it.
TEST_CASE("a team splits transient and packed matrices' groups as one list, rows after the last group too") {
    const size_t cols = 512;
    const auto w1 = weights(TensorType::IQ2_XS, 37, cols, 11), w2 = weights(TensorType::Q2_K, 48, cols, 12),
               w3 = weights(TensorType::Q4_K, 48, cols, 13);
    const Matrix a{TensorType::IQ2_XS, w1.data(), 37, cols, *tensor_row_bytes(TensorType::IQ2_XS, cols)};
    const Matrix b{TensorType::Q2_K, w2.data(), 48, cols, *tensor_row_bytes(TensorType::Q2_K, cols)};
    Matrix c{TensorType::Q4_K, w3.data(), 48, cols, *tensor_row_bytes(TensorType::Q4_K, cols)};
    AlignedBuffer<uint8_t> storage;
    pack_for_path(c, storage);
    for (size_t n_tok : {3, 9, 20}) {
        INFO("n_tok " << n_tok);
        const auto x = activations(n_tok, cols, 40 + n_tok);
        std::vector<float> want_a(n_tok * 37), want_b(n_tok * 48), want_c(n_tok * 48);
        matmul(a, x.data(), cols, n_tok, want_a.data(), 37);
        matmul(b, x.data(), cols, n_tok, want_b.data(), 48);
        matmul(c, x.data(), cols, n_tok, want_c.data(), 48);
        std::vector<float> ya(n_tok * 37, -1.0f), yb(n_tok * 48, -1.0f), yc(n_tok * 48, -1.0f),
            alone(n_tok * 37, -1.0f);
        TeamBarrier barrier;
#pragma omp parallel num_threads(3)
        {
            TeamScope scope(barrier);
            matmul_same_input({{&a, ya.data(), 37}, {&b, yb.data(), 48}, {&c, yc.data(), 48}}, x.data(), cols, n_tok);
            matmul(a, x.data(), cols, n_tok, alone.data(), 37);
        }
        CHECK(ya == want_a);
        CHECK(yb == want_b);
        CHECK(yc == want_c);
        CHECK(alone == want_a);
    }
}
