// The structs behind the C API's opaque handles.
#pragma once

#include <qwen/qwen.h>

#include <memory>
#include <mutex>

namespace qwen {
class GrammarVocab;
class Model;
class Tokenizer;
class Context;
class Sampler;
}  // namespace qwen

struct qwen_model {
    std::unique_ptr<qwen::Model> model;          // weights + hyper-parameters (model/)
    std::unique_ptr<qwen::Tokenizer> tokenizer;  // (tokenizer/)
    ~qwen_model();

    // The vocabulary as grammars see it (grammar/token_mask.hpp), built by the first
    // constrained sampler (~0.1 s) and shared by all of them: it is immutable.
    std::shared_ptr<const qwen::GrammarVocab> grammar_vocab() const;

private:
    mutable std::mutex grammar_vocab_mutex_;
    mutable std::shared_ptr<const qwen::GrammarVocab> grammar_vocab_;
};

struct qwen_context {
    std::unique_ptr<qwen::Context> ctx;  // KV cache + scratch + logits (model/)
    const qwen_model* model;             // for the tokenizer of qwen_generate_text/_chat
    ~qwen_context();
};

struct qwen_sampler {
    std::unique_ptr<qwen::Sampler> sampler;  // (sample/)
    ~qwen_sampler();
};
