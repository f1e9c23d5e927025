// Many constrained samples for tests/python/test_structured.py: one model, one sampler per
// schema (so its mask cache serves every sample, as in a server answering one schema again
// and again), qwen_generate_text() per sample (each call is one text of the grammar; the
// random stream goes on). Prints one JSON line per sample, {"text", "finish", "tokens"}, and a
// summary on stderr. Only the public C API.
//
// Usage: structured_samples MODEL.gguf SCHEMA.json|none N SEED MAX_TOKENS [THREADS]
// "none" samples without a constraint (the same loop, for timing the constraint's cost on a
// full-size model: bench/RESULTS.md). Exits 1 with the library's message if anything fails, among others when the constraint
// leaves no allowed token.
#include <qwen/qwen.h>

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>

namespace {

[[noreturn]] void die(const std::string& what) {
    std::fprintf(stderr, "structured_samples: %s: %s\n", what.c_str(), qwen_last_error());
    std::exit(1);
}

void check(qwen_status s, const std::string& what) {
    if (s != QWEN_OK) die(what);
}

const char* finish_name(qwen_finish_reason r) {
    switch (r) {
    case QWEN_FINISH_EOS: return "eos";
    case QWEN_FINISH_LENGTH: return "length";
    default: return "other";
    }
}

}  // namespace

int main(int argc, char** argv) {
    if (argc != 6 && argc != 7) {
        std::fprintf(stderr, "usage: structured_samples MODEL.gguf SCHEMA.json|none N SEED MAX_TOKENS [THREADS]\n");
        return 2;
    }
    const bool constrained = std::string(argv[2]) != "none";
    std::stringstream schema;
    if (constrained) {
        std::ifstream in(argv[2]);
        if (!in) {
            std::fprintf(stderr, "structured_samples: cannot read %s\n", argv[2]);
            return 2;
        }
        schema << in.rdbuf();
    }
    const long n = std::atol(argv[3]);
    const auto seed = uint64_t(std::strtoull(argv[4], nullptr, 10));
    const int max_tokens = std::atoi(argv[5]);

    qwen_model* model = nullptr;
    check(qwen_model_load(argv[1], nullptr, &model), "loading the model");
    qwen_context_params cp = qwen_context_default_params();
    cp.n_ctx = 512;
    cp.n_threads = argc == 7 ? std::atoi(argv[6]) : 1;
    qwen_context* ctx = nullptr;
    check(qwen_context_create(model, &cp, &ctx), "creating the context");
    qwen_sampler_params sp = qwen_sampler_default_params();
    sp.seed = seed;
    sp.temperature = 1.5f;  // the junk model at a high temperature: the constraint works hard
    sp.top_k = 0;
    sp.top_p = 1.0f;
    sp.repetition_penalty = 1.0f;
    const std::string schema_text = schema.str();
    sp.json_schema = constrained ? schema_text.c_str() : nullptr;
    qwen_sampler* sampler = nullptr;
    check(qwen_sampler_create(model, &sp, &sampler), "compiling the schema");

    const std::string prompt = "<|im_start|>user\nGive me JSON.<|im_end|>\n<|im_start|>assistant\n";
    const auto t0 = std::chrono::steady_clock::now();
    long tokens = 0, finished = 0;
    double generate_ms = 0;  // from each first sampled token to the end: the per-token loop
    for (long i = 0; i < n; ++i) {
        qwen_generate_params gp = qwen_generate_default_params();
        gp.max_tokens = max_tokens;
        std::string text;
        gp.user_data = &text;
        gp.callback = [](const qwen_generate_event* e, void* user) {
            static_cast<std::string*>(user)->append(e->text, e->text_len);
            return 0;
        };
        qwen_generate_result r{};
        r.struct_size = sizeof r;
        check(qwen_generate_text(ctx, sampler, prompt.data(), prompt.size(), &gp, &r), "sample " + std::to_string(i));
        tokens += r.n_generated_tokens;
        generate_ms += r.generate_ms;
        finished += r.finish_reason == QWEN_FINISH_EOS;
        const nlohmann::json line = {{"text", text}, {"finish", finish_name(r.finish_reason)}, {"tokens", r.n_generated_tokens}};
        std::cout << line.dump(-1, ' ', true, nlohmann::json::error_handler_t::replace) << '\n';  // ASCII: one line each
    }
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::fprintf(stderr,
                 "structured_samples: %ld samples (%ld finished), %ld tokens in %.1f s (%.2f ms/token; generation "
                 "steps %.2f ms/token)\n",
                 n, finished, tokens, s, tokens ? 1e3 * s / double(tokens) : 0.0,
                 tokens > n ? generate_ms / double(tokens - n) : 0.0);
    qwen_sampler_free(sampler);
    qwen_context_free(ctx);
    qwen_model_free(model);
    return 0;
}
