// A tiny synthetic Qwen2 model (2 layers, 64 wide) with a byte-level tokenizer and the three
// ChatML control tokens, written once per test binary: enough to drive generation end to end
// without the real 151,936-token vocabulary.
#pragma once

#include <qwen/qwen.h>

#include "synth/synth_model.hpp"
#include "tokenizer/tokenizer.hpp"

#include <filesystem>
#include <string>
#include <vector>

namespace qwen::test {

// Ids: bytes 0..255, then <|endoftext|> 256, <|im_start|> 257, <|im_end|> 258 (EOS); rows up
// to 319 are padding.
inline constexpr int32_t kEndOfText = 256, kImStart = 257, kImEnd = 258, kVocab = 320;

inline std::string tiny_chat_model_path() {
    static const std::string path = [] {
        const std::string dir = std::string(QWEN_BINARY_DIR) + "/test_generate";
        std::filesystem::create_directories(dir);
        std::vector<Tokenizer::Token> toks;
        for (int b = 0; b < 256; ++b) toks.push_back({std::string(1, char(b)), TokenType::Normal});
        for (const char* t : {"<|endoftext|>", "<|im_start|>", "<|im_end|>"}) toks.push_back({t, TokenType::Control});
        Tokenizer::SpecialIds sp;
        sp.eos = kImEnd;
        sp.pad = kEndOfText;
        Tokenizer tok(toks, {}, sp);
        SynthSpec spec = synth_spec("tiny");
        spec.hparams.n_vocab = kVocab;
        const std::string p = dir + "/tiny-chat.gguf";
        write_synth_gguf(spec, synth_weights(spec), tok, "", p);
        return p;
    }();
    return path;
}

// One loaded model shared by the tests of a binary (models are immutable and thread-safe).
inline qwen_model* tiny_chat_model() {
    static qwen_model* m = [] {
        qwen_model* out = nullptr;
        if (qwen_model_load(tiny_chat_model_path().c_str(), nullptr, &out) != QWEN_OK) return (qwen_model*)nullptr;
        return out;
    }();
    return m;
}

inline std::vector<int32_t> bytes_to_tokens(const std::string& s) {
    std::vector<int32_t> t;
    for (unsigned char c : s) t.push_back(c);
    return t;
}

}  // namespace qwen::test
