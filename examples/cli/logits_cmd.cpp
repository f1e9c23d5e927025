// qwen logits: evaluates a token list through the public C API and writes the logits in the
// same file format as the llama.cpp oracle driver (tests/oracle), so parity tests can compare
// the two byte for byte in layout: "QLGT", u32 version 1, u32 rows, u32 n_vocab, f32 data.
#include "cli.hpp"

#include <qwen/qwen.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <sstream>

namespace qwen_cli {

static const char* kLogitsHelp =
    "usage: qwen logits -m MODEL --tokens 1,2,3 --out FILE [--all] [--threads N] [--ctx N] [--kv f16|f32]\n"
    "                   [--batch N] [--greedy N]\n"
    "\n"
    "Evaluates the tokens from position 0 (in batches of N tokens if --batch is given) and writes\n"
    "the logits of the last token (or of every token with --all). With --greedy N it then decodes\n"
    "N tokens one at a time, always taking the most likely (lowest id on ties), prints their ids\n"
    "and writes one row per generated token: the distribution it was picked from.\n";

static int fail_status(qwen_status st) {
    std::fprintf(stderr, "qwen logits: %s: %s\n", qwen_status_name(st), qwen_last_error());
    return 1;
}

int logits_main(int argc, char** argv) {
    // -m is accepted as an alias of --model.
    std::vector<char*> args(argv, argv + argc);
    for (auto& s : args)
        if (!std::strcmp(s, "-m")) s = const_cast<char*>("--model");
    Args a(int(args.size()), args.data(), {"all"}, {"model", "tokens", "out", "threads", "ctx", "kv", "batch", "greedy"});
    if (a.help()) {
        std::fputs(kLogitsHelp, stdout);
        return 0;
    }
    if (!a.error().empty() || !a.has("model") || !a.has("tokens") || !a.has("out")) {
        std::fprintf(stderr, "qwen logits: %s\n\n%s", a.error().empty() ? "missing options" : a.error().c_str(),
                     kLogitsHelp);
        return 2;
    }
    std::vector<int32_t> tokens;
    std::stringstream ss(a.get("tokens"));
    for (std::string item; std::getline(ss, item, ',');) tokens.push_back(int32_t(std::stol(item)));

    qwen_model* model = nullptr;
    qwen_status st = qwen_model_load(a.get("model").c_str(), nullptr, &model);
    if (st != QWEN_OK) return fail_status(st);
    qwen_context_params cp = qwen_context_default_params();
    const size_t n_greedy = std::stoul(a.get("greedy", "0"));
    cp.n_ctx = uint32_t(std::stoul(a.get("ctx", std::to_string(tokens.size() + n_greedy))));
    cp.n_threads = std::stoi(a.get("threads", "0"));
    cp.kv_type = a.get("kv", "f16") == "f32" ? QWEN_KV_F32 : QWEN_KV_F16;
    qwen_context* ctx = nullptr;
    if ((st = qwen_context_create(model, &cp, &ctx)) != QWEN_OK) {
        qwen_model_free(model);
        return fail_status(st);
    }
    const bool all = a.has("all");
    const size_t batch = std::stoul(a.get("batch", std::to_string(tokens.size())));
    const size_t n_vocab = size_t(qwen_model_n_vocab(model));
    std::vector<float> out;
    for (size_t i = 0; i < tokens.size() && st == QWEN_OK; i += batch) {
        size_t n = std::min(batch, tokens.size() - i);
        st = qwen_eval(ctx, tokens.data() + i, n, all ? QWEN_EVAL_ALL_LOGITS : 0);
        size_t rows = 0;
        const float* l = qwen_context_logits(ctx, &rows);
        if (st == QWEN_OK && (all || i + n == tokens.size())) out.insert(out.end(), l, l + rows * n_vocab);
    }
    if (n_greedy && st == QWEN_OK) {
        out.assign(qwen_context_logits(ctx, nullptr), qwen_context_logits(ctx, nullptr) + n_vocab);
        for (size_t step = 0; step < n_greedy && st == QWEN_OK; ++step) {
            const float* row = out.data() + step * n_vocab;
            int32_t best = int32_t(std::max_element(row, row + n_vocab) - row);
            std::printf("%s%d", step ? "," : "", best);
            if (step + 1 == n_greedy) break;
            st = qwen_eval(ctx, &best, 1, 0);
            if (st == QWEN_OK) out.insert(out.end(), qwen_context_logits(ctx, nullptr), qwen_context_logits(ctx, nullptr) + n_vocab);
        }
        std::printf("\n");
    }
    int rc = st == QWEN_OK ? 0 : fail_status(st);
    if (rc == 0) {
        FILE* f = std::fopen(a.get("out").c_str(), "wb");
        uint32_t head[3] = {1, uint32_t(out.size() / n_vocab), uint32_t(n_vocab)};
        if (!f || std::fwrite("QLGT", 1, 4, f) != 4 || std::fwrite(head, 4, 3, f) != 3 ||
            std::fwrite(out.data(), sizeof(float), out.size(), f) != out.size()) {
            std::fprintf(stderr, "qwen logits: cannot write '%s'\n", a.get("out").c_str());
            rc = 1;
        }
        if (f) std::fclose(f);
    }
    qwen_context_free(ctx);
    qwen_model_free(model);
    return rc;
}

}  // namespace qwen_cli
