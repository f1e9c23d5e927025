// qwen_model_load on a GGUF file of fuzzed bytes: the header, every key/value, the tensor table,
// the tokenizer metadata, the weights validated against the hyper-parameters. A file that
// loads is used a little (tokenize, one evaluation on a tiny context), so weights that pass
// validation are also read within their bounds.
#include "fuzz_util.hpp"

using namespace qwen::fuzz;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    static const std::string path = scratch_dir() + "/model.gguf";
    write_file(path, {reinterpret_cast<const char*>(data), size});

    // Alternate between the mapping and the read-into-memory path (the last byte decides).
    qwen_model_params mp = qwen_model_default_params();
    mp.use_mmap = size == 0 || (data[size - 1] & 1);
    qwen_model* model = nullptr;
    if (check(qwen_model_load(path.c_str(), &mp, &model), "qwen_model_load") != QWEN_OK) {
        require(model == nullptr, "a failed load leaves *out NULL");
        return 0;
    }
    int32_t ids[16];
    size_t n = 0;
    check(qwen_tokenize(model, "Hello, world", 12, 0, ids, 16, &n), "qwen_tokenize");

    qwen_context_params cp = qwen_context_default_params();
    cp.n_ctx = 8;
    cp.n_threads = 1;
    qwen_context* ctx = nullptr;
    if (check(qwen_context_create(model, &cp, &ctx), "qwen_context_create") == QWEN_OK) {
        const int32_t token = 0;
        check(qwen_eval(ctx, &token, 1, 0), "qwen_eval");
        qwen_context_free(ctx);
    }
    qwen_model_free(model);
    return 0;
}
