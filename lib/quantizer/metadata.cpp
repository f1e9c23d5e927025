#include "quantizer/metadata.hpp"

#include "core/error.hpp"
#include "tokenizer/tokenizer.hpp"

#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>

namespace qwen::quantizer {

void gguf_metadata(const GgufFile& input, GgufWriter& out) {
    for (const GgufKv& kv : input.kvs()) {
        const std::string_view k = kv.key;
        if (k == "general.file_type" || k == "general.quantization_version" || k == "general.alignment" ||
            k.starts_with("split."))
            continue;
        out.copy_kv(input, kv);
    }
}

namespace {

std::string chat_template_of(const std::filesystem::path& config) {
    if (!std::filesystem::exists(config)) return {};
    std::ifstream in(config, std::ios::binary);
    if (!in) fail(QWEN_ERR_IO, "cannot read '", config.string(), "'");
    try {
        const auto j = nlohmann::json::parse(in);
        const auto it = j.find("chat_template");
        return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
    } catch (const nlohmann::json::exception& e) {
        fail(QWEN_ERR_FORMAT, config.string(), ": ", e.what());
    }
}

}  // namespace

void write_qwen2_hparams(const Qwen2Hparams& h, GgufWriter& out) {
    out.set_uint32("qwen2.block_count", h.n_layer);
    out.set_uint32("qwen2.context_length", h.n_ctx_train);
    out.set_uint32("qwen2.embedding_length", h.n_embd);
    out.set_uint32("qwen2.feed_forward_length", h.n_ff);
    out.set_uint32("qwen2.attention.head_count", h.n_head);
    out.set_uint32("qwen2.attention.head_count_kv", h.n_head_kv);
    out.set_float32("qwen2.rope.freq_base", h.rope_theta);
    out.set_float32("qwen2.attention.layer_norm_rms_epsilon", h.rms_eps);
}

void hf_metadata(const ModelSource& source, const std::string& dir, GgufWriter& out) {
    const Qwen2Hparams& h = source.hparams();
    const std::filesystem::path folder(dir);
    out.set_string("general.architecture", "qwen2");
    out.set_string("general.type", "model");
    out.set_string("general.name", folder.filename().empty() ? folder.parent_path().filename().string()
                                                             : folder.filename().string());
    write_qwen2_hparams(h, out);
    if (const auto g = source.generation_defaults(); g && g->do_sample) {
        // What the converter copies from generation_config.json (general.sampling.*).
        out.set_float32("general.sampling.temp", g->temperature);
        out.set_float32("general.sampling.top_p", g->top_p);
        if (g->top_k > 0) out.set_int32("general.sampling.top_k", g->top_k);
        out.set_float32("general.sampling.penalty_repeat", g->repetition_penalty);
    }
    const auto config = folder / "tokenizer_config.json";
    const auto tokenizer = Tokenizer::from_hf_json((folder / "tokenizer.json").string(),
                                                   std::filesystem::exists(config) ? config.string() : std::string());
    GgufTokenizerOptions opts;
    opts.chat_template = chat_template_of(config);
    opts.n_vocab = int32_t(h.n_vocab);
    if (const auto g = source.generation_defaults(); g && g->bos_token_id) opts.bos_id = *g->bos_token_id;
    write_gguf_tokenizer(*tokenizer, out, opts);
}

}  // namespace qwen::quantizer
