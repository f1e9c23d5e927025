#include "format/gguf_source.hpp"

#include "core/error.hpp"

#include <cmath>
#include <limits>
#include <string>

namespace qwen {

namespace {

// llama.cpp's converter copies generation_config.json into general.sampling.* keys (those the
// file has). They are read as that file would be: a key left out takes transformers' neutral
// default, so a GGUF and the folder it was converted from give the same sampling defaults.
// min_p, penalty_last_n and the rest have no place in GenerationDefaults and are ignored.
std::optional<GenerationDefaults> sampling_keys(const GgufFile& f) {
    const auto temp = f.get_float("general.sampling.temp");
    const auto top_p = f.get_float("general.sampling.top_p");
    const auto top_k = f.get_uint("general.sampling.top_k");
    const auto repeat = f.get_float("general.sampling.penalty_repeat");
    if (!temp && !top_p && !top_k && !repeat) return std::nullopt;
    auto check = [&](const char* key, double v, bool ok) {
        if (!ok) fail(QWEN_ERR_FORMAT, f.path(), ": key '", key, "' has absurd value ", v);
    };
    GenerationDefaults g;
    g.do_sample = true;  // llama.cpp always samples; temperature 0 is its greedy
    if (temp) {
        check("general.sampling.temp", *temp, std::isfinite(*temp) && *temp >= 0);
        g.temperature = float(*temp);
    }
    if (top_p) {
        check("general.sampling.top_p", *top_p, *top_p >= 0 && *top_p <= 1);
        g.top_p = float(*top_p);
    }
    if (top_k) {
        check("general.sampling.top_k", double(*top_k), *top_k <= uint64_t(std::numeric_limits<int32_t>::max()));
        g.top_k = int(*top_k);
    }
    if (repeat) {
        check("general.sampling.penalty_repeat", *repeat, std::isfinite(*repeat) && *repeat > 0);
        g.repetition_penalty = float(*repeat);
    }
    return g;
}

class GgufSource : public ModelSource {
public:
    explicit GgufSource(std::shared_ptr<const GgufFile> file) : file_(std::move(file)) {
        const GgufFile& f = *file_;
        path_ = f.path();
        auto arch = f.get_string("general.architecture");
        if (!arch) fail(QWEN_ERR_FORMAT, path_, ": missing key 'general.architecture'");
        if (*arch != "qwen2")
            fail(QWEN_ERR_UNSUPPORTED, path_, ": architecture '", *arch, "' is not supported (expected 'qwen2')");

        auto req = [&](const char* key) -> uint64_t {
            auto v = f.get_uint(key);
            if (!v) fail(QWEN_ERR_FORMAT, path_, ": missing key '", key, "'");
            if (*v == 0 || *v > (1u << 24)) fail(QWEN_ERR_FORMAT, path_, ": key '", key, "' has absurd value ", *v);
            return *v;
        };
        Qwen2Hparams& h = hparams_;
        h.n_layer = uint32_t(req("qwen2.block_count"));
        h.n_ctx_train = uint32_t(req("qwen2.context_length"));
        h.n_embd = uint32_t(req("qwen2.embedding_length"));
        h.n_ff = uint32_t(req("qwen2.feed_forward_length"));
        h.n_head = uint32_t(req("qwen2.attention.head_count"));
        h.n_head_kv = f.find("qwen2.attention.head_count_kv") ? uint32_t(req("qwen2.attention.head_count_kv")) : h.n_head;
        if (auto eps = f.get_float("qwen2.attention.layer_norm_rms_epsilon")) {
            if (!(*eps > 0 && *eps < 1))
                fail(QWEN_ERR_FORMAT, path_, ": key 'qwen2.attention.layer_norm_rms_epsilon' has absurd value ", *eps);
            h.rms_eps = float(*eps);
        } else {
            fail(QWEN_ERR_FORMAT, path_, ": missing key 'qwen2.attention.layer_norm_rms_epsilon'");
        }
        if (auto theta = f.get_float("qwen2.rope.freq_base")) {
            if (!(*theta > 1 && std::isfinite(*theta)))
                fail(QWEN_ERR_FORMAT, path_, ": key 'qwen2.rope.freq_base' has absurd value ", *theta);
            h.rope_theta = float(*theta);
        } else {
            h.rope_theta = 10000.0f;  // llama.cpp's default when the key is absent
        }
        if (auto scaling = f.get_string("qwen2.rope.scaling.type"); scaling && *scaling != "none")
            fail(QWEN_ERR_UNSUPPORTED, path_, ": rope scaling '", *scaling, "' is not supported");
        if (h.n_embd % h.n_head || h.n_head % h.n_head_kv)
            fail(QWEN_ERR_FORMAT, path_, ": embedding_length ", h.n_embd, ", head_count ", h.n_head,
                 " and head_count_kv ", h.n_head_kv, " do not divide evenly");
        h.head_dim = h.n_embd / h.n_head;
        if (auto kl = f.get_uint("qwen2.attention.key_length"); kl && *kl != h.head_dim)
            fail(QWEN_ERR_UNSUPPORTED, path_, ": attention.key_length ", *kl, " differs from embedding/heads ", h.head_dim);
        if (h.head_dim % 2) fail(QWEN_ERR_FORMAT, path_, ": head dimension ", h.head_dim, " is odd (RoPE needs pairs)");

        generation_defaults_ = sampling_keys(f);

        const GgufTensor* embd = f.find_tensor("token_embd.weight");
        if (!embd) fail(QWEN_ERR_FORMAT, path_, ": missing tensor 'token_embd.weight'");
        if (embd->dims.size() != 2)
            fail(QWEN_ERR_FORMAT, path_, ": tensor 'token_embd.weight' has ", embd->dims.size(), " dimensions, expected 2");
        h.n_vocab = uint32_t(embd->dims[1]);

        tensors_.reserve(f.tensors().size());
        for (const GgufTensor& t : f.tensors())
            tensors_.push_back(TensorView{t.name, t.type, t.dims, f.tensor_data(t), t.bytes,
                                          cat(path_, ", tensor '", t.name, "' (info at offset ", t.info_offset,
                                              ", data at offset ", t.offset, ")")});
    }

    bool mapped() const override { return file_->mapped(); }
    void release(const uint8_t* data, size_t bytes) const override { file_->release(data, bytes); }

private:
    std::shared_ptr<const GgufFile> file_;
};

}  // namespace

std::unique_ptr<ModelSource> open_gguf_source(std::shared_ptr<const GgufFile> file) {
    return std::make_unique<GgufSource>(std::move(file));
}

}  // namespace qwen
