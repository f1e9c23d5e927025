#include "format/hf_writer.hpp"

#include "core/error.hpp"
#include "core/half.hpp"
#include "format/hf_names.hpp"
#include "format/safetensors.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <filesystem>

namespace qwen {

namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

// The shortest decimal that reads back as `f`, as a double: 1e-6f is written "1e-06" (as in
// the published config), not "9.999999974752427e-07".
double tidy(float f) {
    char buf[64];
    auto r = std::to_chars(buf, buf + sizeof buf - 1, f);
    *r.ptr = '\0';
    return std::strtod(buf, nullptr);
}

const char* torch_dtype(TensorType t) {
    switch (t) {
    case TensorType::F32: return "float32";
    case TensorType::F16: return "float16";
    default: return "bfloat16";
    }
}

float load_elem(TensorType t, const uint8_t* p) {
    if (t == TensorType::F32) {
        float f;
        std::memcpy(&f, p, 4);
        return f;
    }
    uint16_t h;
    std::memcpy(&h, p, 2);
    return t == TensorType::F16 ? f16_to_f32(h) : bf16_to_f32(h);
}

void store_elem(TensorType t, float f, uint8_t* p) {
    if (t == TensorType::F32) {
        std::memcpy(p, &f, 4);
        return;
    }
    const uint16_t h = t == TensorType::F16 ? f32_to_f16(f) : f32_to_bf16(f);
    std::memcpy(p, &h, 2);
}

void write_text(const fs::path& path, const std::string& text) {
    const std::string tmp = path.string() + ".tmp";
    FILE* f = std::fopen(tmp.c_str(), "wb");
    if (!f) fail(QWEN_ERR_IO, "cannot create '", tmp, "': ", std::strerror(errno));
    bool ok = std::fwrite(text.data(), 1, text.size(), f) == text.size();
    if (std::fclose(f) != 0) ok = false;
    if (!ok || std::rename(tmp.c_str(), path.string().c_str()) != 0) {
        const int e = errno;
        std::remove(tmp.c_str());
        fail(QWEN_ERR_IO, "cannot write '", path.string(), "': ", std::strerror(e));
    }
}

struct Prepared {
    std::string hf_name;
    std::vector<uint64_t> shape;  // outermost first
    const void* data;
    size_t bytes;
};

}  // namespace

std::string hf_config_json(const Qwen2Hparams& hp, bool tied, TensorType dtype) {
    json j = {
        {"architectures", {"Qwen2ForCausalLM"}},
        {"attention_dropout", 0.0},
        {"bos_token_id", 151643},
        {"eos_token_id", 151645},
        {"hidden_act", "silu"},
        {"hidden_size", hp.n_embd},
        {"initializer_range", 0.02},
        {"intermediate_size", hp.n_ff},
        {"max_position_embeddings", hp.n_ctx_train},
        {"max_window_layers", std::min<uint32_t>(21, hp.n_layer)},  // 21 of 24 in the published file
        {"model_type", "qwen2"},
        {"num_attention_heads", hp.n_head},
        {"num_hidden_layers", hp.n_layer},
        {"num_key_value_heads", hp.n_head_kv},
        {"rms_norm_eps", tidy(hp.rms_eps)},
        {"rope_theta", tidy(hp.rope_theta)},
        {"sliding_window", hp.n_ctx_train},
        {"tie_word_embeddings", tied},
        {"torch_dtype", torch_dtype(dtype)},
        {"transformers_version", "4.43.1"},
        {"use_cache", true},
        {"use_sliding_window", false},
        {"vocab_size", hp.n_vocab},
    };
    return j.dump(2) + "\n";
}

std::string hf_generation_config_json() {
    json j = {
        {"bos_token_id", 151643},
        {"pad_token_id", 151643},
        {"do_sample", true},
        {"eos_token_id", {151645, 151643}},
        {"repetition_penalty", 1.1},
        {"temperature", 0.7},
        {"top_p", 0.8},
        {"top_k", 20},
        {"transformers_version", "4.37.0"},
    };
    return j.dump(2) + "\n";
}

void write_hf_folder(const std::string& dir, const Qwen2Hparams& hp, bool tied,
                     const std::vector<TensorView>& tensors, const HfWriteOptions& opts) {
    const auto st_dtype = st_dtype_from_tensor_type(opts.dtype);
    if (!st_dtype)
        fail(QWEN_ERR_INVALID_ARGUMENT, "write_hf_folder: dtype ", tensor_type_name(opts.dtype),
             " is not F32, F16 or BF16");
    const size_t out_elem = st_dtype_size(*st_dtype);

    std::deque<std::vector<uint8_t>> converted;  // keeps converted copies alive until written
    std::vector<Prepared> prepared;
    bool has_output = false;
    for (const TensorView& t : tensors) {
        auto hf = gguf_to_hf_name(t.name);
        if (!hf) fail(QWEN_ERR_INVALID_ARGUMENT, "write_hf_folder: tensor '", t.name, "' has no Hugging Face name");
        if (t.name == "output.weight") has_output = true;
        const auto in = st_dtype_from_tensor_type(t.type);
        if (!in)
            fail(QWEN_ERR_INVALID_ARGUMENT, "write_hf_folder: tensor '", t.name, "' has type ",
                 tensor_type_name(t.type), " (only F32, F16 and BF16 can be written)");
        uint64_t n = 1;
        for (uint64_t d : t.dims) {
            if (d != 0 && n > (UINT64_MAX / 8) / d)
                fail(QWEN_ERR_INVALID_ARGUMENT, "write_hf_folder: tensor '", t.name, "' is too large");
            n *= d;
        }
        if (n * st_dtype_size(*in) != t.bytes)
            fail(QWEN_ERR_INVALID_ARGUMENT, "write_hf_folder: tensor '", t.name, "' has ", t.bytes,
                 " bytes, its dims need ", n * st_dtype_size(*in));
        Prepared p{*hf, std::vector<uint64_t>(t.dims.rbegin(), t.dims.rend()), t.data, t.bytes};
        if (t.type != opts.dtype) {
            std::vector<uint8_t>& buf = converted.emplace_back(size_t(n) * out_elem);
            const size_t in_elem = st_dtype_size(*in);
            for (size_t i = 0; i < size_t(n); ++i)
                store_elem(opts.dtype, load_elem(t.type, t.data + i * in_elem), buf.data() + i * out_elem);
            p.data = buf.data();
            p.bytes = buf.size();
        }
        prepared.push_back(std::move(p));
    }
    if (tied && has_output)
        fail(QWEN_ERR_INVALID_ARGUMENT, "write_hf_folder: tied embeddings but 'output.weight' is given");
    if (!tied && !has_output)
        fail(QWEN_ERR_INVALID_ARGUMENT, "write_hf_folder: untied embeddings need 'output.weight'");

    const fs::path root(dir);
    std::error_code ec;
    fs::create_directories(root, ec);
    if (ec) fail(QWEN_ERR_IO, "cannot create directory '", dir, "': ", ec.message());
    write_text(root / "config.json", hf_config_json(hp, tied, opts.dtype));
    if (opts.write_generation_config) write_text(root / "generation_config.json", hf_generation_config_json());

    // Group into shards greedily, in the given order.
    std::vector<std::vector<const Prepared*>> shards(1);
    uint64_t in_shard = 0;
    for (const Prepared& p : prepared) {
        if (opts.max_shard_bytes && !shards.back().empty() && in_shard + p.bytes > opts.max_shard_bytes) {
            shards.emplace_back();
            in_shard = 0;
        }
        shards.back().push_back(&p);
        in_shard += p.bytes;
    }
    auto add_all = [&](SafetensorsWriter& w, const std::vector<const Prepared*>& list) {
        for (const Prepared* p : list) w.add_tensor(p->hf_name, *st_dtype, p->shape, p->data, p->bytes);
    };
    if (!opts.max_shard_bytes) {
        SafetensorsWriter w;
        add_all(w, shards[0]);
        w.write((root / "model.safetensors").string());
        fs::remove(root / "model.safetensors.index.json", ec);
        return;
    }
    json weight_map = json::object();
    uint64_t total = 0;
    for (size_t s = 0; s < shards.size(); ++s) {
        char name[64];
        std::snprintf(name, sizeof name, "model-%05zu-of-%05zu.safetensors", s + 1, shards.size());
        SafetensorsWriter w;
        add_all(w, shards[s]);
        w.write((root / name).string());
        total += w.data_bytes();
        for (const Prepared* p : shards[s]) weight_map[p->hf_name] = name;
    }
    json index = {{"metadata", {{"total_size", total}}}, {"weight_map", weight_map}};
    write_text(root / "model.safetensors.index.json", index.dump(2) + "\n");
    fs::remove(root / "model.safetensors", ec);
}

}  // namespace qwen
