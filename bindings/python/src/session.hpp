// The native objects behind qwen.Model and qwen.Context: a loaded model (weights and tokenizer)
// and conversation contexts on it, each with its own KV cache.
//
// A context holds a shared reference to its model, so closing the Python Model (or losing it)
// never leaves a context pointing at freed weights: the weights go with the last holder.
#pragma once

#include "support.hpp"

#include <pybind11/functional.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <memory>
#include <optional>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

namespace qwen_py {

namespace py = pybind11;

// Sampling settings of one call; unset fields keep the model's generation defaults.
struct Sampling {
    bool greedy = false;
    std::optional<float> temperature, top_p, min_p, repetition_penalty;
    std::optional<int32_t> top_k;
    std::optional<uint64_t> seed;
    std::optional<std::string> grammar, json_schema; // structured output (GBNF / JSON Schema text)
};

// (token, logprob, [(token, logprob) of the most likely alternatives]) - a plain tuple, which
// the Python layer turns into qwen.TokenLogprob.
using TokenLogprob = std::tuple<int32_t, float, std::vector<std::pair<int32_t, float>>>;

// Gets each piece of streamed text, with its token when logprobs were asked for; false stops.
using EventCallback = std::function<bool(py::bytes, std::optional<TokenLogprob>)>;

// What one generation call returns.
struct Generation {
    std::string text;
    std::string finish_reason;
    uint32_t n_prompt_tokens = 0, n_cached_tokens = 0, n_generated_tokens = 0;
    std::vector<TokenLogprob> tokens; // filled when logprobs >= 0
};

// The options of one generation call.
struct GenerateRequest {
    std::string prompt;
    Sampling sampling;
    int32_t max_tokens = 512;
    std::vector<std::string> stop;
    bool ignore_eos = false;
    int32_t logprobs = -1; // -1: none; 0: the chosen token's; n: also the n most likely
};

class Model {
public:
    explicit Model(const std::string &path);

    // Drops this object's reference: the weights are freed once no context uses them either.
    void close() { model_.reset(); }

    const std::shared_ptr<qwen_model> &shared() const;
    const qwen_model *get() const { return shared().get(); }

    std::vector<int32_t> tokenize(const std::string &text, bool special) const;
    py::bytes detokenize(const std::vector<int32_t> &ids, bool skip_special, bool raw_bytes) const;

private:
    std::shared_ptr<qwen_model> model_;
};

class Context {
public:
    Context(const Model &model, uint32_t n_ctx, int32_t n_threads);
    Context(const Context &) = delete;
    Context &operator=(const Context &) = delete;
    ~Context() { close(); }

    // Frees the KV cache now; later calls raise. Python's `del` and `with` end here.
    void close();

    qwen_context *get() const;
    const qwen_model *model() const { return (void)get(), model_.get(); }

    Generation generate(const GenerateRequest &request, const EventCallback *on_event);
    void eval(const std::vector<int32_t> &tokens, bool all_logits);
    py::memoryview logits() const;
    std::vector<int32_t> tokens() const;
    // Not get(): the one call another thread may make, so it must not raise on a closed context.
    void abort() {
        if (ctx_) qwen_context_abort(ctx_);
    }

    py::bytes save_state() const;
    void load_state(const py::buffer &state);
    void save_state_file(const std::string &path) const;
    void load_state_file(const std::string &path);

private:
    qwen_sampler *make_sampler(const Sampling &s) const;

    std::shared_ptr<qwen_model> model_;
    qwen_context *ctx_ = nullptr;
};

} // namespace qwen_py
