// The structs behind the C API's opaque handles.
#pragma once

#include <qwen/qwen.h>

#include <memory>

namespace qwen {
class Model;
class Tokenizer;
class Context;
class Sampler;
}  // namespace qwen

struct qwen_model {
    std::unique_ptr<qwen::Model> model;          // weights + hyper-parameters (model/)
    std::unique_ptr<qwen::Tokenizer> tokenizer;  // (tokenizer/)
    ~qwen_model();
};

struct qwen_context {
    std::unique_ptr<qwen::Context> ctx;  // KV cache + scratch + logits (model/)
    ~qwen_context();
};

struct qwen_sampler {
    std::unique_ptr<qwen::Sampler> sampler;  // (sample/)
    ~qwen_sampler();
};
