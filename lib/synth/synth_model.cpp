#include "synth/synth_model.hpp"

#include "core/error.hpp"
#include "core/half.hpp"
#include "format/gguf.hpp"
#include "format/hf_writer.hpp"
#include "quantizer/metadata.hpp"
#include "tokenizer/tokenizer.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>

namespace qwen {

SynthSpec synth_spec(const std::string& shape) {
    SynthSpec s;
    Qwen2Hparams& h = s.hparams;
    h.n_vocab = 151936;
    h.rms_eps = 1e-6f;
    h.rope_theta = 1000000.0f;
    if (shape == "full") {
        h.n_ctx_train = 32768;
        h.n_embd = 896;
        h.n_layer = 24;
        h.n_head = 14;
        h.n_head_kv = 2;
        h.n_ff = 4864;
    } else if (shape == "tiny") {
        h.n_ctx_train = 4096;
        h.n_embd = 64;
        h.n_layer = 2;
        h.n_head = 4;
        h.n_head_kv = 2;
        h.n_ff = 128;
    } else if (shape == "wide") {
        h.n_ctx_train = 4096;
        h.n_embd = 256;
        h.n_layer = 2;
        h.n_head = 4;
        h.n_head_kv = 2;
        h.n_ff = 512;
    } else {
        fail(QWEN_ERR_INVALID_ARGUMENT, "unknown synthetic model shape '", shape, "' (use 'full', 'tiny' or 'wide')");
    }
    h.head_dim = h.n_embd / h.n_head;
    return s;
}

namespace {

// splitmix64 + Box-Muller: portable and deterministic, no dependence on <random>'s
// implementation-defined distributions.
class Gaussian {
public:
    explicit Gaussian(uint64_t seed) : state_(seed) {}
    float next() {
        if (has_spare_) {
            has_spare_ = false;
            return spare_;
        }
        double u1 = (double(bits() >> 11) + 1.0) * 0x1p-53, u2 = double(bits() >> 11) * 0x1p-53;
        double r = std::sqrt(-2.0 * std::log(u1)), a = 6.283185307179586 * u2;
        spare_ = float(r * std::sin(a));
        has_spare_ = true;
        return float(r * std::cos(a));
    }

private:
    uint64_t bits() {
        uint64_t z = (state_ += 0x9e3779b97f4a7c15ull);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
        return z ^ (z >> 31);
    }
    uint64_t state_;
    float spare_ = 0;
    bool has_spare_ = false;
};

float round_to(TensorType t, float v) {
    if (t == TensorType::F16) return f16_to_f32(f32_to_f16(v));
    if (t == TensorType::BF16) return bf16_to_f32(f32_to_bf16(v));
    return v;
}

}  // namespace

std::vector<SynthTensor> synth_weights(const SynthSpec& spec) {
    const Qwen2Hparams& h = spec.hparams;
    const uint64_t E = h.n_embd, Q = uint64_t(h.n_head) * h.head_dim, KV = uint64_t(h.n_head_kv) * h.head_dim;
    std::vector<SynthTensor> out;
    uint64_t stream = 0;
    // Each tensor gets its own stream, so adding a tensor never changes the others.
    auto add = [&](const std::string& name, std::vector<uint64_t> dims, float mean, float stddev, bool matrix) {
        const uint64_t tensor_seed = spec.seed * 0x100000001b3ull + (++stream) * 0x9e3779b97f4a7c15ull;
        uint64_t n = 1;
        for (uint64_t d : dims) n *= d;
        SynthTensor t{name, std::move(dims), std::vector<float>(n), matrix ? spec.dtype : TensorType::F32};
        // Chunks of 64K values with streams of their own: the values do not depend on the
        // thread count, and the 494M values of the full model are drawn in parallel.
        constexpr uint64_t kChunk = 1 << 16;
        const long n_chunks = long((n + kChunk - 1) / kChunk);
#pragma omp parallel for schedule(static)
        for (long c = 0; c < n_chunks; ++c) {
            Gaussian g(tensor_seed ^ (uint64_t(c) * 0xd1b54a32d192ed03ull));
            const uint64_t end = std::min<uint64_t>(n, uint64_t(c + 1) * kChunk);
            // Vectors are stored as F32 in GGUF but as spec.dtype in a Hugging Face folder:
            // round them too, so that both files hold the same values.
            for (uint64_t i = uint64_t(c) * kChunk; i < end; ++i)
                t.values[i] = round_to(spec.dtype, mean + stddev * g.next());
        }
        out.push_back(std::move(t));
    };
    const float s_in = 1.0f / std::sqrt(float(E)), s_ff = 1.0f / std::sqrt(float(h.n_ff));
    // Logits = rms-normed state (scaled by output_norm ~2) . embedding rows (std 0.05):
    // a spread of about 0.1 * sqrt(896) ~ 3 on the full model.
    add("token_embd.weight", {E, h.n_vocab}, 0.0f, 0.05f, true);
    for (uint32_t i = 0; i < h.n_layer; ++i) {
        const std::string p = "blk." + std::to_string(i) + ".";
        add(p + "attn_norm.weight", {E}, 1.0f, 0.1f, false);
        add(p + "attn_q.weight", {E, Q}, 0.0f, 1.5f * s_in, true);  // q.k / 8 ~ 2: peaked but not one-hot
        add(p + "attn_k.weight", {E, KV}, 0.0f, 1.5f * s_in, true);
        add(p + "attn_v.weight", {E, KV}, 0.0f, s_in, true);
        add(p + "attn_q.bias", {Q}, 0.0f, 0.3f, false);
        add(p + "attn_k.bias", {KV}, 0.0f, 0.3f, false);
        add(p + "attn_v.bias", {KV}, 0.0f, 0.1f, false);
        add(p + "attn_output.weight", {Q, E}, 0.0f, s_in, true);
        add(p + "ffn_norm.weight", {E}, 1.0f, 0.1f, false);
        add(p + "ffn_gate.weight", {E, h.n_ff}, 0.0f, s_in, true);
        add(p + "ffn_up.weight", {E, h.n_ff}, 0.0f, s_in, true);
        add(p + "ffn_down.weight", {h.n_ff, E}, 0.0f, s_ff, true);
    }
    add("output_norm.weight", {E}, 2.0f, 0.1f, false);
    if (!spec.tied) add("output.weight", {E, h.n_vocab}, 0.0f, 0.05f, true);
    return out;
}

static std::string encode_as(TensorType type, const std::vector<float>& v) {
    std::string bytes;
    if (type == TensorType::F32) {
        bytes.assign(reinterpret_cast<const char*>(v.data()), v.size() * 4);
        return bytes;
    }
    bytes.resize(v.size() * 2);
    for (size_t i = 0; i < v.size(); ++i) {
        uint16_t u = type == TensorType::F16 ? f32_to_f16(v[i]) : f32_to_bf16(v[i]);
        std::memcpy(&bytes[2 * i], &u, 2);
    }
    return bytes;
}

GgufWriter synth_gguf_writer(const SynthSpec& spec, const std::vector<SynthTensor>& weights) {
    const Qwen2Hparams& h = spec.hparams;
    GgufWriter w;
    w.set_string("general.architecture", "qwen2");
    w.set_string("general.type", "model");
    w.set_string("general.name", "libqwen synthetic Qwen2.5-0.5B-shaped model");
    // llama.cpp's file type ids: 0 all F32, 1 mostly F16, 32 mostly BF16.
    w.set_uint32("general.file_type", spec.dtype == TensorType::F32 ? 0 : spec.dtype == TensorType::F16 ? 1 : 32);
    quantizer::write_qwen2_hparams(h, w);
    for (const auto& t : weights) {
        std::string bytes = encode_as(t.type, t.values);
        w.add_tensor(t.name, t.type, t.dims, bytes.data(), bytes.size());
    }
    return w;
}

void write_synth_gguf(const SynthSpec& spec, const std::vector<SynthTensor>& weights, const Tokenizer& tokenizer,
                      const std::string& chat_template, const std::string& path) {
    GgufWriter w = synth_gguf_writer(spec, weights);
    GgufTokenizerOptions opts;
    opts.chat_template = chat_template;
    opts.n_vocab = int32_t(spec.hparams.n_vocab);
    // config.json's bos_token_id (<|endoftext|>), which the converter writes; small test
    // vocabularies have no such id.
    opts.bos_id = spec.hparams.n_vocab > 151643 ? 151643 : -1;
    write_gguf_tokenizer(tokenizer, w, opts);
    w.write(path);
}

void write_synth_hf(const SynthSpec& spec, const std::vector<SynthTensor>& weights, const std::string& dir,
                    uint64_t max_shard_bytes) {
    // The writer takes each tensor in its final dtype, so the folder holds exactly the
    // values the GGUF file holds (vectors included: they were rounded to spec.dtype).
    std::vector<std::string> bytes;
    bytes.reserve(weights.size());
    std::vector<TensorView> views;
    for (const auto& t : weights) {
        bytes.push_back(encode_as(spec.dtype, t.values));
        views.push_back(TensorView{t.name, spec.dtype, t.dims, reinterpret_cast<const uint8_t*>(bytes.back().data()),
                                   bytes.back().size(), t.name});
    }
    HfWriteOptions opts;
    opts.dtype = spec.dtype;
    opts.max_shard_bytes = max_shard_bytes;
    write_hf_folder(dir, spec.hparams, spec.tied, views, opts);
}

static void write_text(const std::filesystem::path& path, const std::string& text) {
    std::ofstream f(path, std::ios::binary);
    f << text;
    if (!f.flush()) fail(QWEN_ERR_IO, "cannot write '", path.string(), "'");
}

void write_qwen25_tokenizer_files(const std::string& source_tokenizer_json, const std::string& chat_template,
                                  const std::string& dir) {
    std::ifstream in(source_tokenizer_json, std::ios::binary);
    if (!in) fail(QWEN_ERR_IO, "cannot open '", source_tokenizer_json, "'");
    nlohmann::ordered_json tok;
    try {
        tok = nlohmann::ordered_json::parse(in);
    } catch (const std::exception& e) {
        fail(QWEN_ERR_FORMAT, source_tokenizer_json, ": not JSON: ", e.what());
    }
    if (!tok.contains("added_tokens") || !tok["added_tokens"].is_array())
        fail(QWEN_ERR_FORMAT, source_tokenizer_json, ": no added_tokens array");
    nlohmann::ordered_json added = nlohmann::ordered_json::array(), decoder = nlohmann::ordered_json::object();
    for (const auto& a : tok["added_tokens"]) {
        if (a.value("id", int64_t(-1)) > kQwen25LastAddedId) continue;
        added.push_back(a);
        decoder[std::to_string(a["id"].get<int64_t>())] = {
            {"content", a["content"]}, {"lstrip", false}, {"normalized", false},
            {"rstrip", false},         {"single_word", false}, {"special", a.value("special", true)}};
    }
    tok["added_tokens"] = added;
    std::filesystem::create_directories(dir);
    write_text(std::filesystem::path(dir) / "tokenizer.json", tok.dump(2));

    // Qwen2.5-0.5B-Instruct's tokenizer_config.json, less nothing a runtime reads.
    nlohmann::ordered_json cfg;
    cfg["add_bos_token"] = false;
    cfg["add_prefix_space"] = false;
    cfg["added_tokens_decoder"] = decoder;
    cfg["additional_special_tokens"] = {"<|im_start|>", "<|im_end|>", "<|object_ref_start|>",
                                        "<|object_ref_end|>", "<|box_start|>", "<|box_end|>",
                                        "<|quad_start|>", "<|quad_end|>", "<|vision_start|>",
                                        "<|vision_end|>", "<|vision_pad|>", "<|image_pad|>", "<|video_pad|>"};
    cfg["bos_token"] = nullptr;
    cfg["chat_template"] = chat_template;
    cfg["clean_up_tokenization_spaces"] = false;
    cfg["eos_token"] = "<|im_end|>";
    cfg["errors"] = "replace";
    cfg["model_max_length"] = 131072;
    cfg["pad_token"] = "<|endoftext|>";
    cfg["split_special_tokens"] = false;
    cfg["tokenizer_class"] = "Qwen2Tokenizer";
    cfg["unk_token"] = nullptr;
    write_text(std::filesystem::path(dir) / "tokenizer_config.json", cfg.dump(2));
}

}  // namespace qwen
