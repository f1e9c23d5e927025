// Quantizers of the 256-element super-block formats (Q4_K, Q5_K, Q6_K, IQ4_XS) and IQ4_NL.
//
// Each picks per-sub-block scales (and mins) by a small search minimising a weighted squared
// error, quantizes those scales against one f16 super-block scale, then re-rounds every
// element against the scale actually stored. The searches are ggml's (no importance matrix),
// with the same float operations in the same order, so the bytes are identical.

#include "quant/iq_grids.hpp"
#include "quant/internal.hpp"

#include <algorithm>
#include <iterator>

namespace qwen::quant {

namespace {

constexpr float kGroupMaxEps = 1e-15f;  // a sub-block below this magnitude is all zero

// Asymmetric codes L in [0, nmax] for x = scale * L - min (min >= 0 is returned in the_min),
// weighted by `w`: starts from the [min, max] range, then tries nstep + 1 slightly different
// ranges (rmin + rdelta * step levels wider) and keeps the least-squares fit with the lowest
// weighted error. Laux is scratch of n codes.
float fit_scale_min(int n, int nmax, const float* x, const float* w, uint8_t* L, float* the_min, uint8_t* Laux,
                    float rmin, float rdelta, int nstep) {
    float min = x[0], max = x[0];
    float sum_w = w[0];
    float sum_x = sum_w * x[0];
    for (int i = 1; i < n; ++i) {
        if (x[i] < min) min = x[i];
        if (x[i] > max) max = x[i];
        sum_w += w[i];
        sum_x += w[i] * x[i];
    }
    if (min > 0) min = 0;
    if (max == min) {
        std::fill(L, L + n, uint8_t(0));
        *the_min = -min;
        return 0.0f;
    }
    float iscale = float(nmax) / (max - min);
    float scale = 1 / iscale;
    float best_error = 0;
    for (int i = 0; i < n; ++i) {
        L[i] = uint8_t(std::max(0, std::min(nmax, nearest_int(iscale * (x[i] - min)))));
        const float diff = scale * float(L[i]) + min - x[i];
        best_error += w[i] * (diff * diff);
    }
    for (int is = 0; is <= nstep; ++is) {
        iscale = (rmin + rdelta * float(is) + float(nmax)) / (max - min);
        float sum_l = 0, sum_l2 = 0, sum_xl = 0;
        for (int i = 0; i < n; ++i) {
            const int l = std::max(0, std::min(nmax, nearest_int(iscale * (x[i] - min))));
            Laux[i] = uint8_t(l);
            sum_l += w[i] * float(l);
            sum_l2 += w[i] * float(l) * float(l);
            sum_xl += w[i] * float(l) * x[i];
        }
        const float D = sum_w * sum_l2 - sum_l * sum_l;
        if (!(D > 0)) continue;  // also skips a NaN D, as ggml does
        float this_scale = (sum_w * sum_xl - sum_x * sum_l) / D;
        float this_min = (sum_l2 * sum_x - sum_l * sum_xl) / D;
        if (this_min > 0) {
            this_min = 0;
            this_scale = sum_xl / sum_l2;
        }
        float cur_error = 0;
        for (int i = 0; i < n; ++i) {
            const float diff = this_scale * float(Laux[i]) + this_min - x[i];
            cur_error += w[i] * (diff * diff);
        }
        if (cur_error < best_error) {
            std::copy(Laux, Laux + n, L);
            best_error = cur_error;
            scale = this_scale;
            min = this_min;
        }
    }
    *the_min = -min;
    return scale;
}

// Symmetric codes L in [0, 2 nmax) for x = scale * (L - nmax), weighted by x^2: starts
// from the largest-magnitude element mapping to -nmax, then tries 18 nearby scales and keeps
// the least-squares fit that explains the most weighted energy.
float fit_scale_symmetric(int n, int nmax, const float* x, int8_t* L) {
    float max = 0, amax = 0;
    for (int i = 0; i < n; ++i) {
        const float ax = std::fabs(x[i]);
        if (ax > amax) {
            amax = ax;
            max = x[i];
        }
    }
    if (amax < kGroupMaxEps) {
        std::fill(L, L + n, int8_t(0));
        return 0.0f;
    }
    auto code = [&](float iscale, int i) { return std::max(-nmax, std::min(nmax - 1, nearest_int(iscale * x[i]))); };
    float iscale = float(-nmax) / max;
    float sumlx = 0, suml2 = 0;
    for (int i = 0; i < n; ++i) {
        const int l = code(iscale, i);
        L[i] = int8_t(l + nmax);
        const float w = x[i] * x[i];
        sumlx += w * x[i] * float(l);
        suml2 += w * float(l) * float(l);
    }
    float scale = suml2 != 0 ? sumlx / suml2 : 0.0f;
    float best = scale * sumlx;
    for (int is = -9; is <= 9; ++is) {
        if (is == 0) continue;
        iscale = -(float(nmax) + 0.1f * float(is)) / max;
        sumlx = suml2 = 0;
        for (int i = 0; i < n; ++i) {
            const int l = code(iscale, i);
            const float w = x[i] * x[i];
            sumlx += w * x[i] * float(l);
            suml2 += w * float(l) * float(l);
        }
        if (suml2 > 0 && sumlx * sumlx > best * suml2) {
            for (int i = 0; i < n; ++i) L[i] = int8_t(nmax + code(iscale, i));
            scale = sumlx / suml2;
            best = scale * sumlx;
        }
    }
    return scale;
}

// Q4_K / Q5_K: 8 sub-blocks of 32, each fitted with fit_scale_min, weights |x| plus the
// sub-block's RMS; scales and mins quantized to 6 bits against d = max/63, dmin = max/63.
// L receives the final codes in [0, nmax].
template <class B>
void fit_k45(const float* x, B& y, int nmax, float rmin, float rdelta, int nstep, uint8_t* L) {
    float mins[8], scales[8], weights[32];
    uint8_t Laux[32];
    float max_scale = 0, max_min = 0;
    for (int j = 0; j < 8; ++j) {
        const float* xs = x + 32 * j;
        float sum_x2 = 0;
        for (int l = 0; l < 32; ++l) sum_x2 += xs[l] * xs[l];
        const float av_x = std::sqrt(sum_x2 / 32);
        for (int l = 0; l < 32; ++l) weights[l] = av_x + std::fabs(xs[l]);
        scales[j] = fit_scale_min(32, nmax, xs, weights, L + 32 * j, &mins[j], Laux, rmin, rdelta, nstep);
        max_scale = std::max(max_scale, scales[j]);
        max_min = std::max(max_min, mins[j]);
    }
    const float inv_scale = max_scale > 0 ? 63.f / max_scale : 0.f;
    const float inv_min = max_min > 0 ? 63.f / max_min : 0.f;
    std::fill(std::begin(y.scales), std::end(y.scales), uint8_t(0));
    for (int j = 0; j < 8; ++j) {
        const uint8_t ls = std::min<uint8_t>(63, uint8_t(nearest_int(inv_scale * scales[j])));
        const uint8_t lm = std::min<uint8_t>(63, uint8_t(nearest_int(inv_min * mins[j])));
        if (j < 4) {
            y.scales[j] = ls;
            y.scales[j + 4] = lm;
        } else {
            y.scales[j + 4] = uint8_t((ls & 0xF) | ((lm & 0xF) << 4));
            y.scales[j - 4] |= uint8_t((ls >> 4) << 6);
            y.scales[j] |= uint8_t((lm >> 4) << 6);
        }
    }
    y.d = f32_to_f16(max_scale / 63.f);
    y.dmin = f32_to_f16(max_min / 63.f);
    for (int j = 0; j < 8; ++j) {
        uint8_t sc, m;
        scale_min_k4(j, y.scales, sc, m);
        const float d = f16_to_f32(y.d) * float(sc);
        if (d == 0) continue;
        const float dm = f16_to_f32(y.dmin) * float(m);
        for (int i = 0; i < 32; ++i)
            L[32 * j + i] = uint8_t(std::max(0, std::min(nmax, nearest_int((x[32 * j + i] + dm) / d))));
    }
}

}  // namespace

void quantize_block(const float* x, BlockQ4_K& y) {
    uint8_t L[kQK_K];
    fit_k45(x, y, 15, -1.f, 0.1f, 20, L);
    for (size_t g = 0; g < 4; ++g)
        for (size_t l = 0; l < 32; ++l) y.qs[32 * g + l] = uint8_t(L[64 * g + l] | (L[64 * g + l + 32] << 4));
}

void quantize_block(const float* x, BlockQ5_K& y) {
    uint8_t L[kQK_K];
    fit_k45(x, y, 31, -0.5f, 0.1f, 15, L);
    std::fill(std::begin(y.qh), std::end(y.qh), uint8_t(0));
    for (size_t g = 0; g < 4; ++g)
        for (size_t l = 0; l < 32; ++l) {
            const uint8_t lo = L[64 * g + l], hi = L[64 * g + l + 32];
            y.qs[32 * g + l] = uint8_t((lo & 0xF) | ((hi & 0xF) << 4));
            y.qh[l] |= uint8_t(((lo >> 4) << (2 * g)) | ((hi >> 4) << (2 * g + 1)));
        }
}

// 16 sub-blocks of 16 fitted symmetrically with 6-bit codes; their scales quantized to
// int8 against d = max / -128.
void quantize_block(const float* x, BlockQ6_K& y) {
    int8_t L[kQK_K];
    float scales[16];
    float max_scale = 0, max_abs_scale = 0;
    for (int ib = 0; ib < 16; ++ib) {
        scales[ib] = fit_scale_symmetric(16, 32, x + 16 * ib, L + 16 * ib);
        if (std::fabs(scales[ib]) > max_abs_scale) {
            max_abs_scale = std::fabs(scales[ib]);
            max_scale = scales[ib];
        }
    }
    std::memset(&y, 0, sizeof y);
    if (max_abs_scale < kGroupMaxEps) return;  // all zero (d = +0)
    const float iscale = -128.f / max_scale;
    y.d = f32_to_f16(1 / iscale);
    for (int ib = 0; ib < 16; ++ib) y.scales[ib] = int8_t(std::min(127, nearest_int(iscale * scales[ib])));
    for (int j = 0; j < 16; ++j) {
        const float d = f16_to_f32(y.d) * float(y.scales[j]);
        if (d == 0) continue;
        for (int i = 0; i < 16; ++i)
            L[16 * j + i] = int8_t(std::max(-32, std::min(31, nearest_int(x[16 * j + i] / d))) + 32);
    }
    for (size_t half = 0; half < 2; ++half) {
        const int8_t* Lh = L + 128 * half;
        uint8_t* ql = y.ql + 64 * half;
        uint8_t* qh = y.qh + 32 * half;
        for (size_t l = 0; l < 32; ++l) {
            const auto q = [&](size_t k) { return unsigned(Lh[l + 32 * k]); };
            ql[l] = uint8_t((q(0) & 0xF) | ((q(2) & 0xF) << 4));
            ql[l + 32] = uint8_t((q(1) & 0xF) | ((q(3) & 0xF) << 4));
            qh[l] = uint8_t((q(0) >> 4) | ((q(1) >> 4) << 2) | ((q(2) >> 4) << 4) | ((q(3) >> 4) << 6));
        }
    }
}

// ---------------------------------------------------------------- IQ4_NL / IQ4_XS

namespace {

// Index of the codebook level nearest to v (the upper one on ties).
int nearest_level(float v) {
    const int8_t* val = kIq4nlValues;
    if (v <= float(val[0])) return 0;
    if (v >= float(val[15])) return 15;
    int lo = 0, hi = 15;
    while (hi - lo > 1) {
        const int mid = (lo + hi) / 2;
        if (v < float(val[mid])) hi = mid;
        else lo = mid;
    }
    return v - float(val[hi - 1]) < float(val[hi]) - v ? hi - 1 : hi;
}

constexpr int kIq4Tries = 7;  // ggml_quantize_chunk's setting (the "_ref" entry points use none)

// The scale of one 32-element sub-block (codes into L): start with the extreme element on
// the most negative level, then try 15 scales around it, weighting errors by x^2.
float fit_iq4_block(const float* x, uint8_t* L) {
    float w[32];
    for (int j = 0; j < 32; ++j) w[j] = x[j] * x[j];
    float amax = 0, max = 0;
    for (int j = 0; j < 32; ++j)
        if (std::fabs(x[j]) > amax) {
            amax = std::fabs(x[j]);
            max = x[j];
        }
    if (amax < kGroupMaxEps) return 0;
    const float v0 = float(kIq4nlValues[0]);
    float d = -max / v0;
    float id = 1 / d;
    float sumqx = 0, sumq2 = 0;
    for (int j = 0; j < 32; ++j) {
        L[j] = uint8_t(nearest_level(id * x[j]));
        const float q = float(kIq4nlValues[L[j]]);
        sumqx += w[j] * q * x[j];
        sumq2 += w[j] * q * q;
    }
    d = sumq2 > 0 ? sumqx / sumq2 : 0.f;
    float best = d * sumqx;
    for (int itry = -kIq4Tries; itry <= kIq4Tries; ++itry) {
        id = float(itry + kIq4nlValues[0]) / max;
        sumqx = sumq2 = 0;
        for (int j = 0; j < 32; ++j) {
            const float q = float(kIq4nlValues[nearest_level(id * x[j])]);
            sumqx += w[j] * q * x[j];
            sumq2 += w[j] * q * q;
        }
        if (sumq2 > 0 && sumqx * sumqx > best * sumq2) {
            d = sumqx / sumq2;
            best = d * sumqx;
        }
    }
    return d;
}

void pack_nibbles(const uint8_t* L, size_t n, uint8_t* qs) {
    for (size_t i = 0; i < n / 32; ++i)
        for (size_t j = 0; j < 16; ++j) qs[16 * i + j] = uint8_t(L[32 * i + j] | (L[32 * i + 16 + j] << 4));
}

}  // namespace

void quantize_block(const float* x, BlockIQ4_NL& y) {
    uint8_t L[kQK];
    const float d = fit_iq4_block(x, L);
    y.d = f32_to_f16(d);
    // Final codes against the unrounded float scale, as ggml does.
    const float id = d != 0 ? 1 / d : 0;
    for (size_t j = 0; j < kQK; ++j) L[j] = uint8_t(nearest_level(id * x[j]));
    pack_nibbles(L, kQK, y.qs);
}

void quantize_block(const float* x, BlockIQ4_XS& y) {
    uint8_t L[kQK_K];
    float scales[8];
    float max_scale = 0, amax_scale = 0;
    for (int ib = 0; ib < 8; ++ib) {
        scales[ib] = fit_iq4_block(x + 32 * ib, L + 32 * ib);
        if (std::fabs(scales[ib]) > amax_scale) {
            amax_scale = std::fabs(scales[ib]);
            max_scale = scales[ib];
        }
    }
    // Sub-block scales as 6-bit integers l in [-32, 31] of d = max / -32 (so d is -0 for an
    // all-zero block, stored as such).
    const float d = -max_scale / 32;
    y.d = f32_to_f16(d);
    y.scales_h = 0;
    std::fill(std::begin(y.scales_l), std::end(y.scales_l), uint8_t(0));
    const float id = d != 0 ? 1 / d : 0.f;
    for (int ib = 0; ib < 8; ++ib) {
        int l = std::max(-32, std::min(31, nearest_int(id * scales[ib])));
        const float dl = d * float(l);
        const float idl = dl != 0 ? 1 / dl : 0.f;
        for (int j = 0; j < 32; ++j) L[32 * ib + j] = uint8_t(nearest_level(idl * x[32 * ib + j]));
        l += 32;
        y.scales_l[ib / 2] |= uint8_t((l & 0xF) << (4 * (ib % 2)));
        y.scales_h = uint16_t(y.scales_h | ((l >> 4) << (2 * ib)));
    }
    pack_nibbles(L, kQK_K, y.qs);
}

}  // namespace qwen::quant
