// qwen.Model and qwen.Context, natively: every call that computes or copies a lot (load,
// context creation, eval, generate, saved state) runs without the GIL, so other Python
// threads go on meanwhile; the generation callback takes the GIL back only to check for
// Ctrl-C and to hand text to Python.
#include "session.hpp"

namespace qwen_py {
namespace {

// Runs a libqwen call without the GIL and raises its failure. qwen_last_error() is per thread
// and nothing else runs on this thread in between, so check() still sees the call's message.
template <class F>
void without_gil(F &&call) {
    qwen_status st;
    {
        py::gil_scoped_release release;
        st = call();
    }
    check(st);
}

const char *finish_name(qwen_finish_reason r) {
    switch (r) {
    case QWEN_FINISH_EOS: return "eos";
    case QWEN_FINISH_STOP_STRING: return "stop";
    case QWEN_FINISH_LENGTH: return "length";
    case QWEN_FINISH_CONTEXT_FULL: return "context_full";
    case QWEN_FINISH_CALLBACK: return "callback";
    case QWEN_FINISH_ABORTED: return "aborted";
    default: return "none";
    }
}

// State shared with the C callback during one generation.
struct CallbackState {
    Generation out;
    bool logprobs = false;
    const EventCallback *on_event = nullptr;    // may be null; false stops generation
    std::optional<py::error_already_set> error; // a Python exception to re-raise afterwards
};

int on_event(const qwen_generate_event *ev, void *user) {
    auto &s = *static_cast<CallbackState *>(user);
    s.out.text.append(ev->text, ev->text_len);
    std::optional<TokenLogprob> token;
    if (s.logprobs && ev->token >= 0) {
        std::vector<std::pair<int32_t, float>> top(ev->n_top);
        for (size_t i = 0; i < ev->n_top; ++i) top[i] = {ev->top[i].token, ev->top[i].logprob};
        token.emplace(ev->token, ev->logprob, std::move(top));
        s.out.tokens.push_back(*token);
    }
    py::gil_scoped_acquire gil;
    try {
        // Ctrl-C: Python only sets a flag in its signal handler; without this check a long
        // generation could not be interrupted.
        if (PyErr_CheckSignals() != 0) throw py::error_already_set();
        if (s.on_event && (ev->text_len > 0 || token) &&
            !(*s.on_event)(py::bytes(ev->text, ev->text_len), std::move(token)))
            return 1;
    } catch (py::error_already_set &e) {
        s.error = std::move(e);
        return 1;
    }
    return 0;
}

} // namespace

// ---- Model ------------------------------------------------------------------------------------

Model::Model(const std::string &path) {
    qwen_model *raw = nullptr;
    without_gil([&] { return qwen_model_load(path.c_str(), nullptr, &raw); });
    model_.reset(raw, qwen_model_free);
}

const std::shared_ptr<qwen_model> &Model::shared() const {
    if (!model_) throw Failure{QWEN_ERR_INVALID_ARGUMENT, "the model was closed"};
    return model_;
}

std::vector<int32_t> Model::tokenize(const std::string &text, bool special) const {
    const uint32_t flags = special ? QWEN_TOKENIZE_PARSE_SPECIAL : 0u;
    return sized_call<int32_t>(
        [&](int32_t *out, size_t cap, size_t *n) { return qwen_tokenize(get(), text.data(), text.size(), flags, out, cap, n); });
}

py::bytes Model::detokenize(const std::vector<int32_t> &ids, bool skip_special, bool raw_bytes) const {
    const uint32_t flags = (skip_special ? QWEN_DETOKENIZE_SKIP_SPECIAL : 0u) | (raw_bytes ? QWEN_DETOKENIZE_RAW_BYTES : 0u);
    return sized_text(
        [&](char *buf, size_t cap, size_t *len) { return qwen_detokenize(get(), ids.data(), ids.size(), flags, buf, cap, len); });
}

// ---- Context ----------------------------------------------------------------------------------

Context::Context(const Model &model, uint32_t n_ctx, int32_t n_threads) : model_(model.shared()) {
    qwen_context_params cp = qwen_context_default_params();
    cp.n_ctx = n_ctx;
    cp.n_threads = n_threads;
    without_gil([&] { return qwen_context_create(model_.get(), &cp, &ctx_); });
}

void Context::close() {
    qwen_context_free(ctx_);
    ctx_ = nullptr;
    model_.reset();
}

qwen_context *Context::get() const {
    if (!ctx_) throw Failure{QWEN_ERR_INVALID_ARGUMENT, "the context was closed"};
    return ctx_;
}

Generation Context::generate(const GenerateRequest &r, const EventCallback *callback) {
    // Greedy decoding needs no sampler, unless a grammar constrains it.
    const bool constrained = r.sampling.grammar || r.sampling.json_schema;
    std::unique_ptr<qwen_sampler, void (*)(qwen_sampler *)> sampler(
        r.sampling.greedy && !constrained ? nullptr : make_sampler(r.sampling), qwen_sampler_free);
    std::vector<const char *> stops;
    for (const auto &s : r.stop) stops.push_back(s.c_str());
    CallbackState state;
    state.logprobs = r.logprobs >= 0;
    state.on_event = callback;
    qwen_generate_params gp = qwen_generate_default_params();
    gp.max_tokens = r.max_tokens;
    gp.stop = stops.data();
    gp.n_stop = stops.size();
    gp.flags = r.ignore_eos ? QWEN_GENERATE_IGNORE_EOS : 0u;
    gp.logprobs = r.logprobs;
    gp.callback = on_event;
    gp.user_data = &state;
    qwen_generate_result res{};
    res.struct_size = sizeof res;
    qwen_context *ctx = get();
    qwen_status st;
    {
        py::gil_scoped_release release;
        st = qwen_generate_text(ctx, sampler.get(), r.prompt.data(), r.prompt.size(), &gp, &res);
    }
    if (state.error) throw std::move(*state.error);
    check(st);
    state.out.finish_reason = finish_name(res.finish_reason);
    state.out.n_prompt_tokens = res.n_prompt_tokens;
    state.out.n_cached_tokens = res.n_cached_tokens;
    state.out.n_generated_tokens = res.n_generated_tokens;
    return std::move(state.out);
}

void Context::eval(const std::vector<int32_t> &tokens, bool all_logits) {
    const uint32_t flags = all_logits ? QWEN_EVAL_ALL_LOGITS : 0u;
    qwen_context *ctx = get();
    without_gil([&] { return qwen_eval(ctx, tokens.data(), tokens.size(), flags); });
}

// The last logits as a read-only buffer over the context's own memory (no copy).
py::memoryview Context::logits() const {
    size_t rows = 0;
    const float *p = qwen_context_logits(get(), &rows);
    if (!p) throw Failure{QWEN_ERR_INVALID_ARGUMENT, "logits: nothing has been evaluated yet"};
    const auto n_vocab = static_cast<py::ssize_t>(qwen_model_n_vocab(model()));
    // The view is read-only; pybind11 only takes a mutable pointer.
    return py::memoryview::from_buffer(const_cast<float *>(p), {static_cast<py::ssize_t>(rows), n_vocab},
                                       {n_vocab * py::ssize_t{sizeof(float)}, py::ssize_t{sizeof(float)}},
                                       /*readonly=*/true);
}

std::vector<int32_t> Context::tokens() const {
    size_t n = 0;
    const int32_t *p = qwen_context_tokens(get(), &n);
    return p ? std::vector<int32_t>(p, p + n) : std::vector<int32_t>{};
}

// Saved state carries no sampler: each Python call makes its own (seeded) sampler.
py::bytes Context::save_state() const {
    const qwen_context *ctx = get();
    size_t size = 0;
    check(qwen_context_state_size(ctx, nullptr, &size));
    std::string buf(size, '\0');
    without_gil([&] { return qwen_context_state_save(ctx, nullptr, buf.data(), buf.size(), &size); });
    buf.resize(size);
    return py::bytes(buf);
}

void Context::load_state(const py::buffer &state) {
    const py::buffer_info info = state.request();
    if (!PyBuffer_IsContiguous(info.view(), 'C'))
        throw Failure{QWEN_ERR_INVALID_ARGUMENT, "load_state: the state must be a contiguous bytes-like object"};
    qwen_context *ctx = get();
    const auto len = static_cast<size_t>(info.size * info.itemsize);
    without_gil([&] { return qwen_context_state_load(ctx, nullptr, info.ptr, len); });
}

void Context::save_state_file(const std::string &path) const {
    const qwen_context *ctx = get();
    without_gil([&] { return qwen_context_state_save_file(ctx, nullptr, path.c_str()); });
}

void Context::load_state_file(const std::string &path) {
    qwen_context *ctx = get();
    without_gil([&] { return qwen_context_state_load_file(ctx, nullptr, path.c_str()); });
}

qwen_sampler *Context::make_sampler(const Sampling &s) const {
    const qwen_model *m = model();
    qwen_sampler_params sp = qwen_sampler_default_params();
    check(qwen_sampler_params_from_model(m, &sp));
    if (s.temperature) sp.temperature = *s.temperature;
    if (s.top_k) sp.top_k = *s.top_k;
    if (s.top_p) sp.top_p = *s.top_p;
    if (s.min_p) sp.min_p = *s.min_p;
    if (s.repetition_penalty) sp.repetition_penalty = *s.repetition_penalty;
    if (s.seed) sp.seed = *s.seed;
    if (s.greedy) sp.temperature = 0.0f;
    if (s.grammar) sp.grammar = s.grammar->c_str();
    if (s.json_schema) sp.json_schema = s.json_schema->c_str();
    qwen_sampler *out = nullptr;
    // Compiling a grammar against the vocabulary takes ~0.1 s: worth releasing the GIL.
    without_gil([&] { return qwen_sampler_create(m, &sp, &out); });
    return out;
}

} // namespace qwen_py
