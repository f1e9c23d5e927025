// config.json + safetensors -> ModelSource. The config keys and defaults follow
// transformers' Qwen2Config; tensor names are translated by hf_names.
#include "format/hf_source.hpp"

#include "core/error.hpp"
#include "core/mapped_file.hpp"
#include "format/hf_names.hpp"
#include "format/safetensors.hpp"

#include <nlohmann/json.hpp>

#include <cmath>
#include <filesystem>
#include <limits>
#include <map>
#include <set>

namespace qwen {

namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

json read_json(const std::string& path) {
    MappedFile file(path, false);
    // The published configs are a few kB; an index of a sharded model is ~30 kB.
    if (file.size() > (64u << 20)) fail(QWEN_ERR_FORMAT, path, ": ", file.size(), " bytes is too large for a config");
    try {
        json j = json::parse(file.data(), file.data() + file.size());
        if (!j.is_object()) fail(QWEN_ERR_FORMAT, path, ": not a JSON object");
        return j;
    } catch (const json::exception& e) {
        fail(QWEN_ERR_FORMAT, path, ": not valid JSON: ", e.what());
    }
}

struct Config {
    Qwen2Hparams hp;
    bool tied = false;
};

Config parse_config(const std::string& path) {
    const json j = read_json(path);
    auto field = [&](const char* key) -> const json* {
        auto it = j.find(key);
        return it == j.end() || it->is_null() ? nullptr : &*it;
    };

    // Architecture first: a config of another model family is UNSUPPORTED, not malformed.
    bool qwen2 = false;
    std::string arch = "(none)";
    if (const json* a = field("architectures")) {
        if (!a->is_array()) fail(QWEN_ERR_FORMAT, path, ": field 'architectures' is not a list");
        for (const json& s : *a) {
            if (!s.is_string()) fail(QWEN_ERR_FORMAT, path, ": field 'architectures' holds a non-string");
            if (s == "Qwen2ForCausalLM") qwen2 = true;
        }
        if (!a->empty() && (*a)[0].is_string()) arch = (*a)[0].get<std::string>();
    }
    if (const json* m = field("model_type")) {
        if (!m->is_string()) fail(QWEN_ERR_FORMAT, path, ": field 'model_type' is not a string");
        if (*m == "qwen2") qwen2 = true;
        arch += cat(", model_type '", m->get<std::string>(), "'");
    }
    if (!qwen2)
        fail(QWEN_ERR_UNSUPPORTED, path, ": architecture ", arch,
             " is not supported (expected 'Qwen2ForCausalLM' or model_type 'qwen2')");

    // Shape-defining fields are required: Qwen2Config's defaults (hidden 4096, 32 layers)
    // describe no published Qwen2.5 model, so guessing them only moves the error later.
    auto uint_field = [&](const char* key, std::optional<uint64_t> dflt, uint64_t max) -> uint32_t {
        const json* v = field(key);
        if (!v) {
            if (!dflt) fail(QWEN_ERR_FORMAT, path, ": missing required field '", key, "'");
            return uint32_t(*dflt);
        }
        if (!v->is_number_integer())
            fail(QWEN_ERR_FORMAT, path, ": field '", key, "' = ", v->dump(), " is not an integer");
        if (!v->is_number_unsigned() || v->get<uint64_t>() == 0 || v->get<uint64_t>() > max)
            fail(QWEN_ERR_FORMAT, path, ": field '", key, "' = ", v->dump(), " is outside [1, ", max, "]");
        return uint32_t(v->get<uint64_t>());
    };
    auto float_field = [&](const json* v, const char* key, double dflt, double lo, double hi) -> float {
        if (!v) return float(dflt);
        if (!v->is_number()) fail(QWEN_ERR_FORMAT, path, ": field '", key, "' = ", v->dump(), " is not a number");
        const double x = v->get<double>();
        if (!std::isfinite(x) || !(x > lo) || !(x < hi))
            fail(QWEN_ERR_FORMAT, path, ": field '", key, "' = ", v->dump(), " is outside (", lo, ", ", hi, ")");
        return float(x);
    };

    Config c;
    Qwen2Hparams& h = c.hp;
    h.n_embd = uint_field("hidden_size", std::nullopt, 1u << 16);
    h.n_ff = uint_field("intermediate_size", std::nullopt, 1u << 20);
    h.n_layer = uint_field("num_hidden_layers", std::nullopt, 1024);
    h.n_head = uint_field("num_attention_heads", std::nullopt, 1024);
    h.n_head_kv = uint_field("num_key_value_heads", h.n_head, 1024);  // Qwen2Config: = heads
    h.n_vocab = uint_field("vocab_size", std::nullopt, 1u << 24);
    h.n_ctx_train = uint_field("max_position_embeddings", 32768, 1u << 24);
    h.rms_eps = float_field(field("rms_norm_eps"), "rms_norm_eps", 1e-6, 0.0, 1.0);

    // transformers >= 5 writes rope_parameters {rope_theta, rope_type} instead of rope_theta
    // and rope_scaling; read either, and refuse any scaling (YaRN etc.) we do not compute.
    if (const json* rs = field("rope_scaling"))
        fail(QWEN_ERR_UNSUPPORTED, path, ": field 'rope_scaling' = ", rs->dump(),
             " is not supported (only plain RoPE)");
    const json* theta = field("rope_theta");
    if (const json* rp = field("rope_parameters")) {
        if (!rp->is_object()) fail(QWEN_ERR_FORMAT, path, ": field 'rope_parameters' is not an object");
        auto type = rp->find("rope_type");
        if (type != rp->end() && *type != "default")
            fail(QWEN_ERR_UNSUPPORTED, path, ": rope_parameters.rope_type ", type->dump(),
                 " is not supported (only 'default')");
        if (auto t = rp->find("rope_theta"); t != rp->end() && !t->is_null()) theta = &*t;
    }
    h.rope_theta = float_field(theta, "rope_theta", 10000.0, 1.0, 1e12);  // Qwen2Config: 10000

    if (const json* act = field("hidden_act"); act && *act != "silu")
        fail(QWEN_ERR_UNSUPPORTED, path, ": field 'hidden_act' = ", act->dump(), " is not supported (only 'silu')");
    // Sliding-window attention changes results only past `sliding_window` tokens; refuse
    // it only when it would actually apply within the trained context.
    if (const json* sw = field("use_sliding_window"); sw && *sw == true) {
        // Absent means Qwen2Config's default of 4096; an explicit null means no window.
        const json* win = field("sliding_window");
        if (!j.contains("sliding_window") ||
            (win && (!win->is_number_unsigned() || win->get<uint64_t>() < h.n_ctx_train)))
            fail(QWEN_ERR_UNSUPPORTED, path, ": use_sliding_window with sliding_window = ",
                 win ? win->dump() : std::string("4096 (default)"),
                 " below max_position_embeddings is not supported");
    }
    if (const json* t = field("tie_word_embeddings")) {
        if (!t->is_boolean()) fail(QWEN_ERR_FORMAT, path, ": field 'tie_word_embeddings' is not a boolean");
        c.tied = t->get<bool>();
    }  // absent: Qwen2Config's default, false

    if (h.n_embd % h.n_head)
        fail(QWEN_ERR_FORMAT, path, ": hidden_size ", h.n_embd, " is not divisible by num_attention_heads ", h.n_head);
    if (h.n_head % h.n_head_kv)
        fail(QWEN_ERR_FORMAT, path, ": num_attention_heads ", h.n_head, " is not divisible by num_key_value_heads ",
             h.n_head_kv);
    h.head_dim = h.n_embd / h.n_head;
    if (const json* hd = field("head_dim"); hd && !(hd->is_number_unsigned() && hd->get<uint64_t>() == h.head_dim))
        fail(QWEN_ERR_UNSUPPORTED, path, ": field 'head_dim' = ", hd->dump(), " differs from hidden_size / heads = ",
             h.head_dim);
    if (h.head_dim % 2) fail(QWEN_ERR_FORMAT, path, ": head dimension ", h.head_dim, " is odd (RoPE needs pairs)");
    return c;
}

// A shard named by the index must be a plain file in the folder: no separators, no "..",
// so a hostile index cannot make us map files elsewhere.
void check_shard_name(const std::string& index_path, const std::string& tensor, const std::string& shard) {
    if (shard.empty() || shard == "." || shard == ".." || shard.find('/') != std::string::npos ||
        shard.find('\\') != std::string::npos || shard.find('\0') != std::string::npos)
        fail(QWEN_ERR_FORMAT, index_path, ": weight_map entry for '", tensor, "' names shard '", shard,
             "', which is not a plain file name inside the folder");
}

class HfSource : public ModelSource {
public:
    HfSource(const std::string& dir, bool use_mmap) {
        path_ = dir;
        const fs::path root(dir);
        const Config cfg = parse_config((root / "config.json").string());
        hparams_ = cfg.hp;
        generation_defaults_ = read_generation_config(dir);

        // transformers prefers model.safetensors when both layouts are present.
        std::map<std::string, std::string> where_listed;  // hf name -> shard (sharded only)
        std::string listing;                              // the file that names the tensors
        std::error_code ec;
        if (fs::exists(root / "model.safetensors", ec)) {
            files_.push_back(std::make_unique<SafetensorsFile>((root / "model.safetensors").string(), use_mmap));
            listing = files_.back()->path();
        } else if (fs::exists(root / "model.safetensors.index.json", ec)) {
            listing = (root / "model.safetensors.index.json").string();
            const json index = read_json(listing);
            auto wm = index.find("weight_map");
            if (wm == index.end() || !wm->is_object())
                fail(QWEN_ERR_FORMAT, listing, ": missing object field 'weight_map'");
            std::map<std::string, size_t> shard_ids;
            for (auto it = wm->begin(); it != wm->end(); ++it) {
                if (!it.value().is_string())
                    fail(QWEN_ERR_FORMAT, listing, ": weight_map entry for '", it.key(), "' is not a file name");
                const std::string& shard = it.value().get_ref<const std::string&>();
                check_shard_name(listing, it.key(), shard);
                where_listed[it.key()] = shard;
                if (shard_ids.emplace(shard, files_.size()).second)
                    files_.push_back(std::make_unique<SafetensorsFile>((root / shard).string(), use_mmap));
            }
            for (const auto& [name, shard] : where_listed)
                if (!files_[shard_ids[shard]]->find(name))
                    fail(QWEN_ERR_FORMAT, listing, ": tensor '", name, "' is listed in shard '", shard,
                         "' but that file does not contain it");
        } else if (fs::exists(root / "pytorch_model.bin", ec)) {
            fail(QWEN_ERR_UNSUPPORTED, dir, ": only pytorch_model.bin (pickle) weights found; save the model as "
                                            "safetensors (model.save_pretrained(..., safe_serialization=True))");
        } else {
            fail(QWEN_ERR_IO, dir, ": no model.safetensors or model.safetensors.index.json");
        }

        std::set<std::string> seen;
        for (const auto& f : files_) {
            const std::string base = fs::path(f->path()).filename().string();
            for (const SafetensorsTensor& t : f->tensors()) {
                if (!where_listed.empty() && !where_listed.count(t.name))
                    fail(QWEN_ERR_FORMAT, f->path(), ": tensor '", t.name, "' is not listed in ", listing,
                         " (shards from different downloads?)");
                if (!seen.insert(t.name).second)
                    fail(QWEN_ERR_FORMAT, f->path(), ": tensor '", t.name, "' also appears in another shard");
                add(*f, base, t, cfg.tied);
            }
        }
        check_complete(cfg.tied, listing);
    }

private:
    void add(const SafetensorsFile& f, const std::string& base, const SafetensorsTensor& t, bool tied) {
        auto m = hf_to_gguf_name(t.name);
        if (!m) {
            // Non-persistent buffers some older exports contain; transformers recomputes them.
            if (t.name.ends_with(".rotary_emb.inv_freq")) return;
            // Anything else under model.* would be a weight of an architecture we do not
            // compute (QK-norm, extra projections): dropping it silently would give wrong
            // logits, so refuse. Names outside model.* / lm_head.* (heads of other tasks,
            // training leftovers) are not read by Qwen2ForCausalLM either, so skip them.
            if (t.name.starts_with("model.") || t.name.starts_with("lm_head."))
                fail(QWEN_ERR_FORMAT, f.path(), ": tensor '", t.name, "' is not a Qwen2ForCausalLM weight");
            return;
        }
        if (m->layer && *m->layer >= hparams_.n_layer)
            fail(QWEN_ERR_FORMAT, f.path(), ": tensor '", t.name, "' is beyond num_hidden_layers = ",
                 hparams_.n_layer, " in config.json");
        // With tied embeddings transformers makes lm_head share embed_tokens' parameter, so
        // a stored lm_head.weight is overwritten at load; do the same and drop it.
        if (tied && m->gguf_name == "output.weight") return;
        const TensorType type = f.tensor_type(t);
        // safetensors shapes are outermost first; GGUF dims fastest first: reversed, same bytes.
        std::vector<uint64_t> dims(t.shape.rbegin(), t.shape.rend());
        tensors_.push_back(TensorView{m->gguf_name, type, std::move(dims), f.data(t), t.bytes,
                                      cat(base, ", tensor '", t.name, "' at offset ", t.offset)});
    }

    // Every weight Qwen2ForCausalLM needs, with its dims; a missing or misshapen one is
    // reported with its Hugging Face name so users can look for it in their files.
    void check_complete(bool tied, const std::string& listing) {
        const Qwen2Hparams& h = hparams_;
        const uint64_t q = uint64_t(h.n_head) * h.head_dim, kv = uint64_t(h.n_head_kv) * h.head_dim;
        auto need = [&](const std::string& name, std::vector<uint64_t> dims) {
            const TensorView* t = find(name);
            const std::string hf = gguf_to_hf_name(name).value_or(name);
            if (!t) fail(QWEN_ERR_FORMAT, listing, ": missing tensor '", hf, "'");
            if (t->dims != dims) {
                // Printed outermost first, as the safetensors header and PyTorch show them.
                auto show = [](const std::vector<uint64_t>& d) {
                    std::string s;
                    for (auto it = d.rbegin(); it != d.rend(); ++it) s += (s.empty() ? "" : ", ") + std::to_string(*it);
                    return "[" + s + "]";
                };
                fail(QWEN_ERR_FORMAT, (fs::path(path_) / t->where).string(), ": shape ", show(t->dims),
                     " but config.json implies ", show(dims));
            }
        };
        need("token_embd.weight", {h.n_embd, h.n_vocab});
        need("output_norm.weight", {h.n_embd});
        if (!tied) need("output.weight", {h.n_embd, h.n_vocab});
        for (uint32_t i = 0; i < h.n_layer; ++i) {
            const std::string b = "blk." + std::to_string(i) + ".";
            need(b + "attn_norm.weight", {h.n_embd});
            need(b + "attn_q.weight", {h.n_embd, q});
            need(b + "attn_q.bias", {q});
            need(b + "attn_k.weight", {h.n_embd, kv});
            need(b + "attn_k.bias", {kv});
            need(b + "attn_v.weight", {h.n_embd, kv});
            need(b + "attn_v.bias", {kv});
            need(b + "attn_output.weight", {q, h.n_embd});
            need(b + "ffn_norm.weight", {h.n_embd});
            need(b + "ffn_gate.weight", {h.n_embd, h.n_ff});
            need(b + "ffn_up.weight", {h.n_embd, h.n_ff});
            need(b + "ffn_down.weight", {h.n_ff, h.n_embd});
        }
    }

    bool mapped() const override {
        for (const auto& f : files_)
            if (!f->file().mapped()) return false;
        return true;
    }
    void release(const uint8_t* data, size_t bytes) const override {
        for (const auto& f : files_)
            if (f->file().holds(data)) f->file().release(data, bytes);
    }

    std::vector<std::unique_ptr<SafetensorsFile>> files_;
};

}  // namespace

std::unique_ptr<ModelSource> open_hf_folder(const std::string& dir, bool use_mmap) {
    std::error_code ec;
    if (!fs::is_directory(dir, ec)) fail(QWEN_ERR_IO, "'", dir, "' is not a directory");
    return std::make_unique<HfSource>(dir, use_mmap);
}

bool is_hf_folder(const std::string& path) {
    std::error_code ec;
    return fs::is_directory(path, ec) && fs::is_regular_file(fs::path(path) / "config.json", ec);
}

}  // namespace qwen
