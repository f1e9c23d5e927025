// qwen_model_*: loading a GGUF file or a Hugging Face folder.
#include "api/guard.hpp"
#include "api/handles.hpp"
#include "format/gguf_source.hpp"
#include "format/hf_source.hpp"
#include "model/context.hpp"
#include "model/model.hpp"
#include "tokenizer/tokenizer.hpp"

#include <filesystem>

qwen_model::~qwen_model() = default;

namespace qwen {

static const qwen_model_params kModelDefaults = {sizeof(qwen_model_params), 1};

static std::unique_ptr<qwen_model> load_model(const std::string& path, const qwen_model_params& p) {
    auto m = std::make_unique<qwen_model>();
    const bool mmap = p.use_mmap != 0;
    if (is_hf_folder(path)) {
        m->model = std::make_unique<Model>(open_hf_folder(path, mmap));
        const std::filesystem::path dir(path);
        const auto config = dir / "tokenizer_config.json";
        m->tokenizer = Tokenizer::from_hf_json((dir / "tokenizer.json").string(),
                                               std::filesystem::exists(config) ? config.string() : std::string());
    } else {
        auto file = std::make_shared<const GgufFile>(path, mmap);
        m->tokenizer = Tokenizer::from_gguf(*file);
        m->model = std::make_unique<Model>(open_gguf_source(file));
    }
    if (uint32_t(m->tokenizer->n_vocab()) > m->model->hparams().n_vocab)
        fail(QWEN_ERR_FORMAT, path, ": the tokenizer has ", m->tokenizer->n_vocab(), " tokens but the model only ",
             m->model->hparams().n_vocab, " embedding rows");
    return m;
}

}  // namespace qwen

extern "C" {

QWEN_API void qwen_model_params_init(qwen_model_params* params, size_t struct_size) {
    qwen::init_params(params, struct_size, qwen::kModelDefaults);
}

QWEN_API qwen_status qwen_model_load(const char* path, const qwen_model_params* params, qwen_model** out) {
    return qwen::guarded(__func__, [&] {
        QWEN_REQUIRE_ARG(path);
        QWEN_REQUIRE_ARG(out);
        qwen_model_params p = qwen::read_params(params, qwen::kModelDefaults);
        *out = qwen::load_model(path, p).release();
    });
}

QWEN_API void qwen_model_free(qwen_model* model) { delete model; }

QWEN_API int32_t qwen_model_n_vocab(const qwen_model* m) { return m ? int32_t(m->model->hparams().n_vocab) : 0; }
QWEN_API int32_t qwen_model_n_ctx_train(const qwen_model* m) {
    return m ? int32_t(m->model->hparams().n_ctx_train) : 0;
}
QWEN_API int32_t qwen_model_n_embd(const qwen_model* m) { return m ? int32_t(m->model->hparams().n_embd) : 0; }
QWEN_API int32_t qwen_model_n_layer(const qwen_model* m) { return m ? int32_t(m->model->hparams().n_layer) : 0; }

}  // extern "C"
