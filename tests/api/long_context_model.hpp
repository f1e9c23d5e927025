// Shared by the reliability tests (test_concurrency.cpp, test_limits.cpp): a tiny synthetic
// Qwen2 (2 layers, 64 wide) with a byte-level vocabulary and the ChatML control tokens, that
// declares the real model's 32,768 positions, written once per test binary into its own folder.
#pragma once

#include "../generate/tiny_chat_model.hpp"  // the same vocabulary; bytes_to_tokens

#include <doctest/doctest.h>

#include <filesystem>
#include <string>
#include <vector>

namespace qwen::test {

// Positions the model declares: the real model's.
inline constexpr uint32_t kLongCtx = 32768;

inline qwen_model* long_context_model() {
    static qwen_model* model = [] {
        const std::string dir = std::string(QWEN_BINARY_DIR) + "/test_reliability";
        std::filesystem::create_directories(dir);
        std::vector<Tokenizer::Token> toks;
        for (int b = 0; b < 256; ++b) toks.push_back({std::string(1, char(b)), TokenType::Normal});
        for (const char* t : {"<|endoftext|>", "<|im_start|>", "<|im_end|>"}) toks.push_back({t, TokenType::Control});
        Tokenizer::SpecialIds sp;
        sp.eos = kImEnd;
        sp.pad = kEndOfText;
        SynthSpec spec = synth_spec("tiny");
        spec.hparams.n_vocab = kVocab;
        spec.hparams.n_ctx_train = kLongCtx;
        const std::string path = dir + "/long-context.gguf";
        write_synth_gguf(spec, synth_weights(spec), Tokenizer(toks, {}, sp), "", path);
        qwen_model* m = nullptr;
        return qwen_model_load(path.c_str(), nullptr, &m) == QWEN_OK ? m : nullptr;
    }();
    REQUIRE(model != nullptr);
    return model;
}

inline qwen_context* new_context(uint32_t n_ctx, int32_t n_threads = 1) {
    qwen_context_params p = qwen_context_default_params();
    p.n_ctx = n_ctx;
    p.n_threads = n_threads;
    qwen_context* c = nullptr;
    REQUIRE(qwen_context_create(long_context_model(), &p, &c) == QWEN_OK);
    return c;
}

}  // namespace qwen::test
