// A deliberately plain double-precision Qwen2 forward pass over synthetic weights, written
// from the Hugging Face modeling equations with no shared code with lib/model. The model
// tests compare the optimised forward pass against it; the Python tests compare both with
// NumPy and llama.cpp, which we did not write.
#pragma once

#include "synth/synth_model.hpp"

#include <bit>
#include <cmath>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace naive {

using Vec = std::vector<double>;

struct Weights {
    std::map<std::string, const qwen::SynthTensor*> by_name;
    explicit Weights(const std::vector<qwen::SynthTensor>& ts) {
        for (const auto& t : ts) by_name[t.name] = &t;
    }
    const std::vector<float>& operator[](const std::string& n) const { return by_name.at(n)->values; }
};

// x as a float rounded to bf16 the way ggml does (nearest, ties to even; NaN stays NaN).
inline double round_bf16(double x) {
    const uint32_t u = std::bit_cast<uint32_t>(float(x));
    if ((u & 0x7fffffff) > 0x7f800000) return x;
    return double(std::bit_cast<float>(((u + 0x7fff + ((u >> 16) & 1)) >> 16) << 16));
}

// y = W x for W stored GGUF-style: `out` rows of `in` values; with round_x, x is first
// rounded to bf16 (as the AVX512_BF16 kernel does to the activations of BF16 weights).
inline Vec linear(const std::vector<float>& w, Vec x, size_t out, bool round_x) {
    if (round_x)
        for (double& v : x) v = round_bf16(v);
    Vec y(out, 0.0);
    for (size_t o = 0; o < out; ++o)
        for (size_t i = 0; i < x.size(); ++i) y[o] += double(w[o * x.size() + i]) * x[i];
    return y;
}

inline Vec rms(const Vec& x, const std::vector<float>& w, double eps) {
    double ss = 0;
    for (double v : x) ss += v * v;
    double s = 1.0 / std::sqrt(ss / double(x.size()) + eps);
    Vec y(x.size());
    for (size_t i = 0; i < x.size(); ++i) y[i] = x[i] * s * double(w[i]);
    return y;
}

inline void rope(double* head, size_t D, size_t pos, double theta) {
    for (size_t i = 0; i < D / 2; ++i) {
        double a = double(pos) * std::pow(theta, -2.0 * double(i) / double(D));
        double x0 = head[i], x1 = head[i + D / 2];
        head[i] = x0 * std::cos(a) - x1 * std::sin(a);
        head[i + D / 2] = x0 * std::sin(a) + x1 * std::cos(a);
    }
}

// Logits of every position for `tokens` evaluated from position 0.
inline std::vector<Vec> forward(const qwen::Qwen2Hparams& h, const Weights& W, const std::vector<int>& tokens,
                                bool round_x = false) {
    const size_t E = h.n_embd, D = h.head_dim, H = h.n_head, KVH = h.n_head_kv, T = tokens.size();
    std::vector<Vec> x(T, Vec(E));
    for (size_t t = 0; t < T; ++t)
        for (size_t i = 0; i < E; ++i) x[t][i] = double(W["token_embd.weight"][size_t(tokens[t]) * E + i]);
    for (size_t l = 0; l < h.n_layer; ++l) {
        const std::string p = "blk." + std::to_string(l) + ".";
        std::vector<Vec> q(T), k(T), v(T);
        for (size_t t = 0; t < T; ++t) {
            Vec xn = rms(x[t], W[p + "attn_norm.weight"], h.rms_eps);
            q[t] = linear(W[p + "attn_q.weight"], xn, H * D, round_x);
            k[t] = linear(W[p + "attn_k.weight"], xn, KVH * D, round_x);
            v[t] = linear(W[p + "attn_v.weight"], xn, KVH * D, round_x);
            for (size_t i = 0; i < H * D; ++i) q[t][i] += double(W[p + "attn_q.bias"][i]);
            for (size_t i = 0; i < KVH * D; ++i) k[t][i] += double(W[p + "attn_k.bias"][i]), v[t][i] += double(W[p + "attn_v.bias"][i]);
            for (size_t hh = 0; hh < H; ++hh) rope(&q[t][hh * D], D, t, h.rope_theta);
            for (size_t hh = 0; hh < KVH; ++hh) rope(&k[t][hh * D], D, t, h.rope_theta);
        }
        for (size_t t = 0; t < T; ++t) {
            Vec att(H * D, 0.0);
            for (size_t hh = 0; hh < H; ++hh) {
                size_t g = hh / (H / KVH);
                Vec s(t + 1);
                double mx = -1e300;
                for (size_t j = 0; j <= t; ++j) {
                    double d = 0;
                    for (size_t i = 0; i < D; ++i) d += q[t][hh * D + i] * k[j][g * D + i];
                    s[j] = d / std::sqrt(double(D));
                    mx = std::max(mx, s[j]);
                }
                double sum = 0;
                for (double& e : s) sum += (e = std::exp(e - mx));
                for (size_t j = 0; j <= t; ++j)
                    for (size_t i = 0; i < D; ++i) att[hh * D + i] += s[j] / sum * v[j][g * D + i];
            }
            Vec o = linear(W[p + "attn_output.weight"], att, E, round_x);
            for (size_t i = 0; i < E; ++i) x[t][i] += o[i];
            Vec xn = rms(x[t], W[p + "ffn_norm.weight"], h.rms_eps);
            Vec g = linear(W[p + "ffn_gate.weight"], xn, h.n_ff, round_x);
            Vec u = linear(W[p + "ffn_up.weight"], xn, h.n_ff, round_x);
            for (size_t i = 0; i < h.n_ff; ++i) g[i] = g[i] / (1.0 + std::exp(-g[i])) * u[i];
            Vec dn = linear(W[p + "ffn_down.weight"], g, E, round_x);
            for (size_t i = 0; i < E; ++i) x[t][i] += dn[i];
        }
    }
    const auto& head = W.by_name.count("output.weight") ? W["output.weight"] : W["token_embd.weight"];
    std::vector<Vec> logits(T);
    for (size_t t = 0; t < T; ++t)
        logits[t] = linear(head, rms(x[t], W["output_norm.weight"], h.rms_eps), h.n_vocab, round_x);
    return logits;
}

}  // namespace naive
