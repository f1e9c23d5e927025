// Shared by the Hugging Face folder tests: a deterministic tiny Qwen2, temp folders, and
// an error matcher (status + message fragments).
#pragma once

#include "core/error.hpp"
#include "core/half.hpp"
#include "format/hf_generation_config.hpp"
#include "format/hf_names.hpp"
#include "format/hf_source.hpp"
#include "format/hf_writer.hpp"
#include "format/safetensors.hpp"

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <set>
#include <string>
#include <vector>

namespace hftest {

using namespace qwen;
namespace fs = std::filesystem;
using json = nlohmann::json;

inline std::string fresh_dir(const std::string& name) {
    const std::string dir = std::string(QWEN_BINARY_DIR) + "/test_hf/" + name;
    fs::remove_all(dir);
    fs::create_directories(dir);
    return dir;
}

inline Qwen2Hparams tiny_hparams() {
    Qwen2Hparams h;
    h.n_vocab = 32;
    h.n_ctx_train = 128;
    h.n_embd = 16;
    h.n_layer = 2;
    h.n_head = 4;
    h.n_head_kv = 2;
    h.n_ff = 24;
    h.head_dim = 4;
    h.rms_eps = 1e-6f;
    h.rope_theta = 1000000.0f;
    return h;
}

// Deterministic weights of a tiny Qwen2 in `type`, with GGUF names and dims.
struct TinyModel {
    std::vector<std::vector<uint8_t>> storage;
    std::vector<TensorView> views;

    TinyModel(const Qwen2Hparams& h, bool tied, TensorType type) {
        const uint64_t q = uint64_t(h.n_head) * h.head_dim, kv = uint64_t(h.n_head_kv) * h.head_dim;
        add("token_embd.weight", {h.n_embd, h.n_vocab}, type);
        for (uint32_t i = 0; i < h.n_layer; ++i) {
            const std::string b = "blk." + std::to_string(i) + ".";
            add(b + "attn_norm.weight", {h.n_embd}, type);
            add(b + "attn_q.weight", {h.n_embd, q}, type);
            add(b + "attn_q.bias", {q}, type);
            add(b + "attn_k.weight", {h.n_embd, kv}, type);
            add(b + "attn_k.bias", {kv}, type);
            add(b + "attn_v.weight", {h.n_embd, kv}, type);
            add(b + "attn_v.bias", {kv}, type);
            add(b + "attn_output.weight", {q, h.n_embd}, type);
            add(b + "ffn_norm.weight", {h.n_embd}, type);
            add(b + "ffn_gate.weight", {h.n_embd, h.n_ff}, type);
            add(b + "ffn_up.weight", {h.n_embd, h.n_ff}, type);
            add(b + "ffn_down.weight", {h.n_ff, h.n_embd}, type);
        }
        add("output_norm.weight", {h.n_embd}, type);
        if (!tied) add("output.weight", {h.n_embd, h.n_vocab}, type);
    }

    void add(const std::string& name, std::vector<uint64_t> dims, TensorType type) {
        uint64_t n = 1;
        for (uint64_t d : dims) n *= d;
        const size_t es = type == TensorType::F32 ? 4 : 2;
        std::vector<uint8_t>& buf = storage.emplace_back(n * es);
        for (uint64_t i = 0; i < n; ++i) {
            const float v = float((i * 2654435761u + storage.size() * 97) % 2001) / 1000.0f - 1.0f;
            if (type == TensorType::F32) {
                std::memcpy(&buf[i * 4], &v, 4);
            } else {
                const uint16_t hv = type == TensorType::F16 ? f32_to_f16(v) : f32_to_bf16(v);
                std::memcpy(&buf[i * 2], &hv, 2);
            }
        }
        views.push_back(TensorView{name, type, std::move(dims), buf.data(), buf.size(), "test"});
    }
};

inline void expect_error(const std::function<void()>& fn, qwen_status status, std::vector<std::string> parts) {
    try {
        fn();
        FAIL("no exception; expected one mentioning ", parts.empty() ? "" : parts[0]);
    } catch (const Error& e) {
        const std::string msg = e.what();
        INFO("message: ", msg);
        CHECK(e.status() == status);
        for (const auto& p : parts) CHECK_MESSAGE(msg.find(p) != std::string::npos, "missing '", p, "'");
    }
}

inline void expect_open_error(const std::string& dir, qwen_status status, std::vector<std::string> parts) {
    expect_error([&] { (void)open_hf_folder(dir); }, status, std::move(parts));
}

inline std::vector<std::string> shard_files(const std::string& dir) {
    std::vector<std::string> out;
    for (const auto& e : fs::directory_iterator(dir))
        if (e.path().filename().string().starts_with("model-")) out.push_back(e.path().string());
    std::sort(out.begin(), out.end());
    return out;
}

inline void write_file(const std::string& path, const std::string& text) {
    std::ofstream(path, std::ios::binary) << text;
}

// A valid tiny folder whose config.json is then edited by `edit`.
inline std::string folder_with_config(const std::string& name, const std::function<void(json&)>& edit) {
    const std::string dir = fresh_dir(name);
    const Qwen2Hparams h = tiny_hparams();
    TinyModel m(h, true, TensorType::F32);
    write_hf_folder(dir, h, true, m.views, {TensorType::F32, 0, true});
    json c = json::parse(hf_config_json(h, true, TensorType::F32));
    edit(c);
    write_file(dir + "/config.json", c.dump(2));
    return dir;
}

// A tiny folder whose weights are the model's plus `extra` (HF names) minus `drop`.
inline std::string folder_with_weights(const std::string& name, const std::vector<std::string>& drop,
                                const std::function<void(SafetensorsWriter&)>& extra) {
    const std::string dir = fresh_dir(name);
    const Qwen2Hparams h = tiny_hparams();
    TinyModel m(h, true, TensorType::F32);
    write_file(dir + "/config.json", hf_config_json(h, true, TensorType::F32));
    SafetensorsWriter w;
    for (const TensorView& t : m.views) {
        const std::string hf = *gguf_to_hf_name(t.name);
        if (std::find(drop.begin(), drop.end(), hf) != drop.end()) continue;
        w.add_tensor(hf, StDtype::F32, std::vector<uint64_t>(t.dims.rbegin(), t.dims.rend()), t.data, t.bytes);
    }
    extra(w);
    w.write(dir + "/model.safetensors");
    return dir;
}

}  // namespace hftest
