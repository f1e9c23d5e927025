// qwen._qwen: the compiled half of the Python package, over the public C API only.
//
// It stays thin: a model, contexts on it (session.hpp), the pure functions of the C API, and
// the translation of qwen_status into qwen.QwenError. The pythonic surface (keyword defaults,
// streaming iterators, chat dictionaries, result objects) lives in qwen/__init__.py.
#include "session.hpp"

#include <optional>
#include <string>

namespace py = pybind11;
using namespace qwen_py;

namespace {

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

// qwen_logprobs() over one row of logits given as any float32 buffer (a logits() row, numpy).
TokenLogprob logprobs(const py::buffer &logits, int32_t token, size_t n_top) {
    const py::buffer_info info = logits.request();
    if (info.format != py::format_descriptor<float>::format() || info.ndim != 1 || info.strides[0] != sizeof(float))
        throw Failure{QWEN_ERR_INVALID_ARGUMENT, "logprobs: logits must be one contiguous row of float32"};
    if (n_top > QWEN_MAX_TOP_LOGPROBS)
        throw Failure{QWEN_ERR_INVALID_ARGUMENT,
                      "logprobs: top " + std::to_string(n_top) + " is above " + std::to_string(QWEN_MAX_TOP_LOGPROBS)};
    float lp = 0.0f;
    qwen_token_logprob top[QWEN_MAX_TOP_LOGPROBS];
    check(qwen_logprobs(static_cast<const float *>(info.ptr), static_cast<size_t>(info.shape[0]), token, &lp, top,
                        n_top));
    std::vector<std::pair<int32_t, float>> alternatives(n_top);
    for (size_t i = 0; i < n_top; ++i) alternatives[i] = {top[i].token, top[i].logprob};
    return {token, lp, std::move(alternatives)};
}

void bind_session(py::module_ &m) {
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
        .def_readonly("n_generated_tokens", &Generation::n_generated_tokens)
        .def_readonly("tokens", &Generation::tokens);

    py::class_<Model>(m, "Model", "Loaded weights and tokenizer (immutable; contexts hold a reference).")
        .def(py::init<const std::string &>(), py::arg("path"))
        .def("close", &Model::close, "Drops this reference to the weights.")
        .def_property_readonly("n_vocab", [](const Model &s) { return qwen_model_n_vocab(s.get()); })
        .def_property_readonly("n_ctx_train", [](const Model &s) { return qwen_model_n_ctx_train(s.get()); })
        .def_property_readonly("n_embd", [](const Model &s) { return qwen_model_n_embd(s.get()); })
        .def_property_readonly("n_layer", [](const Model &s) { return qwen_model_n_layer(s.get()); })
        .def_property_readonly("eos_token", [](const Model &s) { return qwen_token_special(s.get(), QWEN_TOKEN_EOS); })
        .def("tokenize", &Model::tokenize, py::arg("text"), py::arg("special"),
             "Token ids of a str; special=True parses control-token text.")
        .def("detokenize", &Model::detokenize, py::arg("ids"), py::arg("skip_special"), py::arg("raw_bytes"),
             "The bytes of ids (valid UTF-8 unless raw_bytes).");

    py::class_<Context>(m, "Context", "A KV cache on a model. Use from one thread at a time (abort() excepted).")
        .def(py::init<const Model &, uint32_t, int32_t>(), py::arg("model"), py::arg("n_ctx"), py::arg("n_threads"))
        .def("close", &Context::close, "Frees the KV cache now.")
        .def_property_readonly("n_ctx", [](const Context &s) { return qwen_context_n_ctx(s.get()); })
        .def_property_readonly("n_past", [](const Context &s) { return qwen_context_n_past(s.get()); })
        .def_property_readonly("tokens", &Context::tokens)
        .def(
            "generate",
            [](Context &s, std::string prompt, Sampling sampling, int32_t max_tokens, std::vector<std::string> stop,
               bool ignore_eos, int32_t logprobs, const std::optional<EventCallback> &on_event) {
                const GenerateRequest r{std::move(prompt), std::move(sampling), max_tokens, std::move(stop), ignore_eos,
                                        logprobs};
                return s.generate(r, on_event ? &*on_event : nullptr);
            },
            py::arg("prompt"), py::arg("sampling"), py::arg("max_tokens"), py::arg("stop"), py::arg("ignore_eos"),
            py::arg("logprobs"), py::arg("on_event"),
            "Generates from a prompt text; on_event(bytes, token_or_None) -> bool gets each chunk (False stops).")
        .def("eval", &Context::eval, py::arg("tokens"), py::arg("all_logits"), "Appends tokens and runs the model.")
        .def("truncate", [](Context &s, uint32_t n_keep) { check(qwen_context_truncate(s.get(), n_keep)); },
             py::arg("n_keep"), "Forgets the tokens at positions >= n_keep.")
        .def("abort", &Context::abort, "Stops the work running on the context (safe from any thread).")
        .def("logits", &Context::logits, "Read-only view (rows, n_vocab) of the last logits; valid until the next eval.")
        .def("save_state", &Context::save_state, "Tokens, KV cache and last logits as bytes.")
        .def("load_state", &Context::load_state, py::arg("state"), "Restores save_state() bytes.")
        .def("save_state_file", &Context::save_state_file, py::arg("path"))
        .def("load_state_file", &Context::load_state_file, py::arg("path"));
}

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
    m.attr("MAX_TOP_LOGPROBS") = QWEN_MAX_TOP_LOGPROBS;
    m.def("json_schema_to_grammar", &json_schema_to_grammar, py::arg("schema_json"),
          "The GBNF grammar of a JSON Schema text.");
    m.def("tools_grammar", &tools_grammar, py::arg("tools_json"), "The GBNF grammar of answers with tool calls.");
    m.def("parse_tool_calls", &parse_tool_calls, py::arg("text"),
          "{\"content\": ..., \"tool_calls\": [...]} as JSON text, from a model's answer.");
    m.def("render_chat_json", &render_chat_json, py::arg("messages_json"), py::arg("tools_json"),
          py::arg("add_generation_prompt"), "Qwen2.5's chat template over OpenAI-style JSON messages.");
    m.def("logprobs", &logprobs, py::arg("logits"), py::arg("token"), py::arg("n_top"),
          "(token, logprob, [(token, logprob)] * n_top) under one row of logits.");
    bind_session(m);
}
