// qwen._qwen: the compiled half of the Python package, over the public C API only.
//
// It stays thin: one class owning a model, its default context and the per-call sampler, and
// functions that turn qwen_status into qwen.QwenError. The pythonic surface (keyword
// defaults, streaming iterators, chat dictionaries) lives in qwen/__init__.py.
//
// The GIL is released around every call that computes (load, generate); the generation
// callback takes it back only to check for Ctrl-C and to hand text to Python.
#include <qwen/qwen.h>

#include <pybind11/functional.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cmath>
#include <optional>
#include <string>
#include <vector>

namespace py = pybind11;

namespace {

// A failed libqwen call, carried to the translator that raises qwen.QwenError.
struct Failure {
    qwen_status status;
    std::string message;
};

// Must run on the thread that made the call, before any other libqwen call (the message is
// per thread and valid until the next call).
void check(qwen_status st) {
    if (st != QWEN_OK) throw Failure{st, qwen_last_error()};
}

// Calls a sized C function twice: once to measure, once to fill.
template <class T, class F>
std::vector<T> sized_call(F &&fill) {
    std::vector<T> out(256);
    size_t n = 0;
    qwen_status st = fill(out.data(), out.size(), &n);
    if (st == QWEN_ERR_BUFFER_TOO_SMALL) {
        out.resize(n);
        st = fill(out.data(), out.size(), &n);
    }
    check(st);
    out.resize(n);
    return out;
}

std::string sized_text(const auto &fill) {
    std::vector<char> buf = sized_call<char>(fill);
    return {buf.begin(), buf.end()};
}

std::string render_chat_json(const std::string &messages_json, const std::optional<std::string> &tools_json,
                             bool add_generation_prompt) {
    const uint32_t flags = add_generation_prompt ? QWEN_CHAT_ADD_GENERATION_PROMPT : 0u;
    return sized_text([&](char *buf, size_t cap, size_t *len) {
        return qwen_chat_render_json(messages_json.c_str(), tools_json ? tools_json->c_str() : nullptr, flags, buf,
                                     cap, len);
    });
}

// The structured-output functions of the C API (text in, text out).
std::string json_schema_to_grammar(const std::string &schema_json) {
    return sized_text([&](char *buf, size_t cap, size_t *len) {
        return qwen_json_schema_to_grammar(schema_json.c_str(), buf, cap, len);
    });
}
std::string tools_grammar(const std::string &tools_json) {
    return sized_text([&](char *buf, size_t cap, size_t *len) { return qwen_tools_grammar(tools_json.c_str(), buf, cap, len); });
}
std::string parse_tool_calls(const std::string &text) {
    return sized_text([&](char *buf, size_t cap, size_t *len) { return qwen_parse_tool_calls(text.c_str(), buf, cap, len); });
}

// Sampling settings of one call; unset fields keep the model's generation defaults.
struct Sampling {
    bool greedy = false;
    std::optional<float> temperature, top_p, min_p, repetition_penalty;
    std::optional<int32_t> top_k;
    std::optional<uint64_t> seed;
    std::optional<std::string> grammar, json_schema;  // structured output (GBNF / JSON Schema text)
};

// What one generation call returns.
struct Generation {
    std::string text;
    std::string finish_reason;
    uint32_t n_prompt_tokens = 0, n_cached_tokens = 0, n_generated_tokens = 0;
};

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
    std::string text;
    const std::function<bool(py::bytes)> *on_text; // may be null; false stops generation
    std::optional<py::error_already_set> error;   // a Python exception to re-raise afterwards
};

int on_event(const qwen_generate_event *ev, void *user) {
    auto &s = *static_cast<CallbackState *>(user);
    s.text.append(ev->text, ev->text_len);
    py::gil_scoped_acquire gil;
    try {
        // Ctrl-C: Python only sets a flag in its signal handler; without this check a long
        // generation could not be interrupted.
        if (PyErr_CheckSignals() != 0) throw py::error_already_set();
        if (s.on_text && ev->text_len > 0 && !(*s.on_text)(py::bytes(ev->text, ev->text_len))) return 1;
    } catch (py::error_already_set &e) {
        s.error = std::move(e);
        return 1;
    }
    return 0;
}

class Model {
public:
    Model(const std::string &path, uint32_t n_ctx, int32_t n_threads) {
        qwen_status st;
        {
            py::gil_scoped_release nogil;
            st = qwen_model_load(path.c_str(), nullptr, &model_);
            if (st == QWEN_OK) {
                qwen_context_params cp = qwen_context_default_params();
                cp.n_ctx = n_ctx;
                cp.n_threads = n_threads;
                st = qwen_context_create(model_, &cp, &ctx_);
            }
        }
        if (st != QWEN_OK) {
            Failure f{st, qwen_last_error()};
            close();
            throw f;
        }
    }
    Model(const Model &) = delete;
    Model &operator=(const Model &) = delete;
    ~Model() { close(); }

    // Frees the native objects now; later calls raise. Python's `del` and `with` end here.
    void close() {
        qwen_context_free(ctx_);
        qwen_model_free(model_);
        ctx_ = nullptr;
        model_ = nullptr;
    }

    const qwen_model *model() const { return alive(), model_; }
    qwen_context *ctx() const { return alive(), ctx_; }

    std::vector<int32_t> tokenize(const std::string &text, bool special) const {
        const uint32_t flags = special ? QWEN_TOKENIZE_PARSE_SPECIAL : 0u;
        return sized_call<int32_t>([&](int32_t *out, size_t cap, size_t *n) {
            return qwen_tokenize(model(), text.data(), text.size(), flags, out, cap, n);
        });
    }

    py::bytes detokenize(const std::vector<int32_t> &ids, bool skip_special, bool raw_bytes) const {
        const uint32_t flags =
            (skip_special ? QWEN_DETOKENIZE_SKIP_SPECIAL : 0u) | (raw_bytes ? QWEN_DETOKENIZE_RAW_BYTES : 0u);
        return sized_text([&](char *buf, size_t cap, size_t *len) {
            return qwen_detokenize(model(), ids.data(), ids.size(), flags, buf, cap, len);
        });
    }

    Generation generate(const std::string &prompt, const Sampling &sampling, int32_t max_tokens,
                        const std::vector<std::string> &stop, bool ignore_eos,
                        const std::function<bool(py::bytes)> *on_text) {
        // Greedy decoding needs no sampler, unless a grammar constrains it.
        const bool constrained = sampling.grammar || sampling.json_schema;
        qwen_sampler *sampler = sampling.greedy && !constrained ? nullptr : make_sampler(sampling);
        std::vector<const char *> stops;
        for (const auto &s : stop) stops.push_back(s.c_str());
        CallbackState state{{}, on_text, std::nullopt};
        qwen_generate_params gp = qwen_generate_default_params();
        gp.max_tokens = max_tokens;
        gp.stop = stops.data();
        gp.n_stop = stops.size();
        gp.flags = ignore_eos ? QWEN_GENERATE_IGNORE_EOS : 0u;
        gp.callback = on_event;
        gp.user_data = &state;
        qwen_generate_result res{};
        res.struct_size = sizeof res;
        qwen_status st;
        std::string error;
        {
            py::gil_scoped_release nogil;
            st = qwen_generate_text(ctx(), sampler, prompt.data(), prompt.size(), &gp, &res);
            if (st != QWEN_OK) error = qwen_last_error();
            qwen_sampler_free(sampler);
        }
        if (state.error) throw std::move(*state.error);
        if (st != QWEN_OK) throw Failure{st, error};
        return {std::move(state.text), finish_name(res.finish_reason), res.n_prompt_tokens, res.n_cached_tokens,
                res.n_generated_tokens};
    }

    // The last logits as a read-only buffer over the context's own memory (no copy).
    py::memoryview logits() const {
        size_t rows = 0;
        const float *p = qwen_context_logits(ctx(), &rows);
        if (!p) throw Failure{QWEN_ERR_INVALID_ARGUMENT, "logits: nothing has been evaluated yet"};
        const auto n_vocab = static_cast<py::ssize_t>(qwen_model_n_vocab(model_));
        // The view is read-only; pybind11 only takes a mutable pointer.
        return py::memoryview::from_buffer(const_cast<float *>(p), {static_cast<py::ssize_t>(rows), n_vocab},
                                           {n_vocab * py::ssize_t{sizeof(float)}, py::ssize_t{sizeof(float)}},
                                           /*readonly=*/true);
    }

private:
    void alive() const {
        if (!ctx_) throw Failure{QWEN_ERR_INVALID_ARGUMENT, "the model was closed"};
    }

    qwen_sampler *make_sampler(const Sampling &s) const {
        qwen_sampler_params sp = qwen_sampler_default_params();
        check(qwen_sampler_params_from_model(model(), &sp));
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
        check(qwen_sampler_create(model(), &sp, &out));
        return out;
    }

    qwen_model *model_ = nullptr;
    qwen_context *ctx_ = nullptr;
};

} // namespace

PYBIND11_MODULE(_qwen, m) {
    m.doc() = "Native core of the qwen package (libqwen's C API). Use the `qwen` package instead.";

    static py::exception<Failure> error(m, "QwenError");
    error.doc() = "A libqwen call failed. `.status` is the status name (\"QWEN_ERR_IO\", ...).";
    py::register_exception_translator([](std::exception_ptr p) {
        try {
            if (p) std::rethrow_exception(p);
        } catch (const Failure &f) {
            py::object e = py::handle(error.ptr())(f.message); // an instance, to carry .status
            e.attr("status") = qwen_status_name(f.status);
            PyErr_SetObject(error.ptr(), e.ptr());
        }
    });

    m.def("version", &qwen_version, "The version of the loaded libqwen (\"MAJOR.MINOR.PATCH\").");
    m.def("json_schema_to_grammar", &json_schema_to_grammar, py::arg("schema_json"),
          "The GBNF grammar of a JSON Schema text.");
    m.def("tools_grammar", &tools_grammar, py::arg("tools_json"), "The GBNF grammar of answers with tool calls.");
    m.def("parse_tool_calls", &parse_tool_calls, py::arg("text"),
          "{\"content\": ..., \"tool_calls\": [...]} as JSON text, from a model's answer.");
    m.def("render_chat_json", &render_chat_json, py::arg("messages_json"), py::arg("tools_json"),
          py::arg("add_generation_prompt"), "Qwen2.5's chat template over OpenAI-style JSON messages.");

    py::class_<Sampling>(m, "Sampling", "Sampling settings of one call; None keeps the model's default.")
        .def(py::init<>())
        .def_readwrite("greedy", &Sampling::greedy)
        .def_readwrite("temperature", &Sampling::temperature)
        .def_readwrite("top_k", &Sampling::top_k)
        .def_readwrite("top_p", &Sampling::top_p)
        .def_readwrite("min_p", &Sampling::min_p)
        .def_readwrite("repetition_penalty", &Sampling::repetition_penalty)
        .def_readwrite("seed", &Sampling::seed)
        .def_readwrite("grammar", &Sampling::grammar)
        .def_readwrite("json_schema", &Sampling::json_schema);

    py::class_<Generation>(m, "Generation", "The outcome of one generation call.")
        .def_property_readonly("text", [](const Generation &g) { return py::bytes(g.text); })
        .def_readonly("finish_reason", &Generation::finish_reason)
        .def_readonly("n_prompt_tokens", &Generation::n_prompt_tokens)
        .def_readonly("n_cached_tokens", &Generation::n_cached_tokens)
        .def_readonly("n_generated_tokens", &Generation::n_generated_tokens);

    py::class_<Model>(m, "Model", "A loaded model with one context (KV cache). Use from one thread at a time.")
        .def(py::init<const std::string &, uint32_t, int32_t>(), py::arg("path"), py::arg("n_ctx"),
             py::arg("n_threads"))
        .def("close", &Model::close, "Frees the model and its context now.")
        .def_property_readonly("n_vocab", [](const Model &s) { return qwen_model_n_vocab(s.model()); })
        .def_property_readonly("n_ctx_train", [](const Model &s) { return qwen_model_n_ctx_train(s.model()); })
        .def_property_readonly("n_embd", [](const Model &s) { return qwen_model_n_embd(s.model()); })
        .def_property_readonly("n_layer", [](const Model &s) { return qwen_model_n_layer(s.model()); })
        .def_property_readonly("n_ctx", [](const Model &s) { return qwen_context_n_ctx(s.ctx()); })
        .def_property_readonly("n_past", [](const Model &s) { return qwen_context_n_past(s.ctx()); })
        .def_property_readonly("eos_token", [](const Model &s) { return qwen_token_special(s.model(), QWEN_TOKEN_EOS); })
        .def("tokenize", &Model::tokenize, py::arg("text"), py::arg("special"),
             "Token ids of a str; special=True parses control-token text.")
        .def("detokenize", &Model::detokenize, py::arg("ids"), py::arg("skip_special"), py::arg("raw_bytes"),
             "The bytes of ids (valid UTF-8 unless raw_bytes).")
        .def(
            "generate",
            [](Model &s, const std::string &prompt, const Sampling &sampling, int32_t max_tokens,
               const std::vector<std::string> &stop, bool ignore_eos,
               const std::optional<std::function<bool(py::bytes)>> &on_text) {
                return s.generate(prompt, sampling, max_tokens, stop, ignore_eos, on_text ? &*on_text : nullptr);
            },
            py::arg("prompt"), py::arg("sampling"), py::arg("max_tokens"), py::arg("stop"), py::arg("ignore_eos"),
            py::arg("on_text"),
            "Generates from a prompt text; on_text(bytes) -> bool gets each chunk (False stops).")
        .def("reset", [](Model &s) { check(qwen_context_truncate(s.ctx(), 0)); }, "Empties the KV cache.")
        .def("abort", [](Model &s) { qwen_context_abort(s.ctx()); },
             "Stops a generation running on another thread (safe to call from any thread).")
        .def("logits", &Model::logits, "Read-only view (rows, n_vocab) of the last logits; valid until the next eval.");
}
