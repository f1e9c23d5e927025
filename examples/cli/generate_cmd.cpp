// qwen run / qwen chat: text generation through the public C API, streamed to the terminal.
// Both share the model, context and sampler options; stats go to stderr so stdout is only
// the generated text.
#include "cli.hpp"
#include "hub.hpp"

#include <qwen/qwen.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstring>
#include <fstream>
#include <iostream>
#include <memory>
#include <optional>
#include <sstream>
#include <unistd.h>
#include <utility>
#include <vector>

namespace qwen_cli {

namespace {

const char* kCommonHelp =
    "model and context:\n"
    "  -m, --model PATH        GGUF file or Hugging Face folder (required)\n"
    "  -c, --ctx N             context length in tokens (default 4096)\n"
    "  -t, --threads N         compute threads (default: one per core)\n"
    "      --kv f16|f32        KV cache precision (default f16)\n"
    "sampling (defaults: the model's generation_config.json, else Qwen2.5's 0.7/0.8/20/1.1):\n"
    "      --temp X            temperature; 0 = greedy\n"
    "      --greedy            always the most likely token: --temp 0 and no repetition penalty\n"
    "      --top-k N           0 = off\n"
    "      --top-p X           1 = off\n"
    "      --min-p X           0 = off\n"
    "      --typical-p X       1 = off\n"
    "      --repeat-penalty X  1 = off\n"
    "      --repeat-last-n N   tokens the penalties see; -1 = all\n"
    "      --presence-penalty X, --frequency-penalty X\n"
    "  -s, --seed N            random seed\n"
    "generation:\n"
    "  -n, --max-tokens N      most tokens per answer (default 512; 0 = until the end of turn)\n"
    "      --stop TEXT         stop before this text\n"
    "      --ignore-eos        keep going past the end-of-turn token\n"
    "      --special           show control tokens in the output\n"
    "structured output (one of):\n"
    "      --grammar FILE      only text this GBNF grammar accepts\n"
    "      --json-schema S     only JSON valid under this JSON Schema (a file, or the JSON itself)\n"
    "      --json              only JSON (any value)\n";

const std::vector<std::string> kFlags = {"greedy", "ignore-eos", "special", "stats", "json"};
const std::vector<std::string> kValued = {
    "model",          "ctx",           "threads",        "kv",    "temp",       "top-k",       "top-p",
    "min-p",          "typical-p",     "repeat-penalty", "repeat-last-n", "presence-penalty",
    "frequency-penalty", "seed",       "max-tokens",     "stop",  "prompt",     "file",        "system",
    "grammar",        "json-schema"};
const std::map<std::string, std::string> kAliases = {{"-m", "model"}, {"-c", "ctx"},        {"-t", "threads"},
                                                     {"-s", "seed"},  {"-n", "max-tokens"}, {"-p", "prompt"},
                                                     {"-f", "file"}};

// The library's message for a failed call, as an exception main() prints.
void check(qwen_status st, const char* what) {
    if (st != QWEN_OK)
        throw std::runtime_error(std::string(what) + ": " + qwen_status_name(st) + ": " + qwen_last_error());
}

std::string read_file(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    if (!f) throw std::runtime_error("cannot read '" + path + "'");
    std::ostringstream ss;
    ss << f.rdbuf();
    return ss.str();
}

// Model, context and sampler built from the shared options; freed in reverse order.
struct Session {
    qwen_model* model = nullptr;
    qwen_context* ctx = nullptr;
    qwen_sampler* sampler = nullptr;
    std::string stop;
    qwen_generate_params gen = qwen_generate_default_params();

    explicit Session(const Args& a) {
        // Every option is checked before the (slow) model load, so a typo fails at once.
        qwen_context_params cp = qwen_context_default_params();
        cp.n_ctx = uint32_t(a.get_int("ctx", 0, 0, 1 << 20));
        cp.n_threads = int32_t(a.get_int("threads", 0, 0, 1024));
        const std::string kv = a.get("kv", "f16");
        if (kv != "f16" && kv != "f32") throw UsageError("--kv must be f16 or f32");
        cp.kv_type = kv == "f32" ? QWEN_KV_F32 : QWEN_KV_F16;
        qwen_sampler_params sp = qwen_sampler_default_params();
        apply_sampling(a, sp);
        read_structure(a);
        gen.max_tokens = int32_t(a.get_int("max-tokens", gen.max_tokens, 0, 1 << 30));
        gen.flags = (a.has("ignore-eos") ? QWEN_GENERATE_IGNORE_EOS : 0u) |
                    (a.has("special") ? QWEN_GENERATE_KEEP_SPECIAL : 0u);
        if (a.has("stop")) {
            stop = a.get("stop");
            stop_ptr = stop.c_str();
            gen.stop = &stop_ptr;
            gen.n_stop = 1;
        }

        check(qwen_model_load(resolve_model(a.get("model")).c_str(), nullptr, &model), "loading the model");
        check(qwen_context_create(model, &cp, &ctx), "creating the context");
        // The model's own defaults, then the options given on the command line over them.
        sp = qwen_sampler_default_params();
        check(qwen_sampler_params_from_model(model, &sp), "reading the model's sampling defaults");
        apply_sampling(a, sp);
        if (!grammar.empty()) sp.grammar = grammar.c_str();
        if (!schema.empty()) sp.json_schema = schema.c_str();
        check(qwen_sampler_create(model, &sp, &sampler), "creating the sampler");
    }
    ~Session() {
        qwen_sampler_free(sampler);
        qwen_context_free(ctx);
        qwen_model_free(model);
    }
    Session(const Session&) = delete;
    Session& operator=(const Session&) = delete;

private:
    static void apply_sampling(const Args& a, qwen_sampler_params& sp) {
        sp.temperature = a.has("greedy") ? 0.0f : a.get_float("temp", sp.temperature, 0.0f, 100.0f);
        sp.top_k = int32_t(a.get_int("top-k", sp.top_k, 0, 1 << 30));
        sp.top_p = a.get_float("top-p", sp.top_p, 0.0f, 1.0f);
        sp.min_p = a.get_float("min-p", sp.min_p, 0.0f, 1.0f);
        sp.typical_p = a.get_float("typical-p", sp.typical_p, 0.0f, 1.0f);
        if (a.has("greedy")) sp.repetition_penalty = 1.0f;
        sp.repetition_penalty = a.get_float("repeat-penalty", sp.repetition_penalty, 0.0f, 100.0f);
        sp.penalty_last_n = int32_t(a.get_int("repeat-last-n", sp.penalty_last_n, -1, 1 << 30));
        sp.presence_penalty = a.get_float("presence-penalty", sp.presence_penalty, -100.0f, 100.0f);
        sp.frequency_penalty = a.get_float("frequency-penalty", sp.frequency_penalty, -100.0f, 100.0f);
        sp.seed = uint64_t(a.get_int("seed", (long long)sp.seed, 0, 0x7fffffffffffffffLL));
    }
    // --grammar FILE, --json-schema FILE|JSON, --json: at most one.
    void read_structure(const Args& a) {
        if (int(a.has("grammar")) + int(a.has("json-schema")) + int(a.has("json")) > 1)
            throw UsageError("give at most one of --grammar, --json-schema and --json");
        if (a.has("grammar")) grammar = read_file(a.get("grammar"));
        if (a.has("json")) schema = "{}";
        if (a.has("json-schema")) {
            // JSON text starts with { (or is true); anything else names a file.
            const std::string v = a.get("json-schema");
            const size_t first = v.find_first_not_of(" \t\r\n");
            schema = first != std::string::npos && (v[first] == '{' || v.compare(first, 4, "true") == 0) ? v : read_file(v);
        }
    }

    const char* stop_ptr = nullptr;
    std::string grammar, schema;
};

// Streams text to stdout as it comes and keeps it (the chat history needs the answer).
struct Printer {
    std::string text;
    static int on_event(const qwen_generate_event* ev, void* ud) {
        auto* p = static_cast<Printer*>(ud);
        std::fwrite(ev->text, 1, ev->text_len, stdout);
        std::fflush(stdout);
        p->text.append(ev->text, ev->text_len);
        return 0;
    }
};

const char* finish_name(qwen_finish_reason r) {
    switch (r) {
    case QWEN_FINISH_EOS: return "end of turn";
    case QWEN_FINISH_STOP_STRING: return "stop string";
    case QWEN_FINISH_LENGTH: return "max tokens";
    case QWEN_FINISH_CONTEXT_FULL: return "context full";
    case QWEN_FINISH_CALLBACK: return "callback";
    case QWEN_FINISH_ABORTED: return "interrupted";
    default: return "?";
    }
}

void print_stats(const qwen_generate_result& r) {
    const uint32_t evaluated = r.n_prompt_tokens - r.n_cached_tokens;
    std::fprintf(stderr,
                 "[prompt: %u tokens (%u cached), %.1f tok/s | generated: %u tokens, %.1f tok/s | first token "
                 "after %.0f ms | %s]\n",
                 r.n_prompt_tokens, r.n_cached_tokens, r.prompt_ms > 0 ? evaluated * 1000.0 / r.prompt_ms : 0.0,
                 r.n_generated_tokens,
                 r.generate_ms > 0 && r.n_generated_tokens > 1 ? (r.n_generated_tokens - 1) * 1000.0 / r.generate_ms
                                                              : 0.0,
                 r.time_to_first_token_ms, finish_name(r.finish_reason));
}

// Ctrl-C: stops the answer being generated; at the chat prompt it ends the session.
std::atomic<qwen_context*> g_ctx{nullptr};
std::atomic<bool> g_generating{false}, g_quit{false};

extern "C" void on_sigint(int) {
    if (g_generating.load()) {
        if (qwen_context* c = g_ctx.load()) qwen_context_abort(c);
    } else {
        g_quit.store(true);
    }
}

void install_sigint(qwen_context* ctx) {
    g_ctx.store(ctx);
    struct sigaction sa {};
    sa.sa_handler = on_sigint;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0;  // no SA_RESTART: a read at the prompt returns, so Ctrl-C there quits
    sigaction(SIGINT, &sa, nullptr);
}

// Parses the shared options; nullopt when --help was asked for (the help is printed).
std::optional<Args> parse(int argc, char** argv, const std::string& help) {
    Args a(argc, argv, kFlags, kValued, kAliases);
    if (a.help()) {
        std::fputs(help.c_str(), stdout);
        return std::nullopt;
    }
    if (!a.error().empty()) throw UsageError(a.error());
    if (!a.has("model")) throw UsageError("-m MODEL is required");
    return a;
}

// Runs one generation call with the text streamed to stdout; Ctrl-C aborts it.
template <class Call>
qwen_generate_result stream(Session& s, Printer& out, Call call) {
    s.gen.callback = Printer::on_event;
    s.gen.user_data = &out;
    qwen_generate_result r{};
    r.struct_size = sizeof r;
    g_generating.store(true);
    const qwen_status st = call(&r);
    g_generating.store(false);
    std::fputc('\n', stdout);
    check(st, "generating");
    return r;
}

// A long prompt is evaluated here, before qwen_generate (which then finds it cached), so a
// terminal can show how far it got: "prompt: 2048 / 8192 tokens (25%), 312 tok/s". Returns
// the milliseconds spent and the tokens evaluated; does nothing (0, 0) for short prompts or
// when stderr is not a terminal. Ctrl-C stops it like it stops generation.
std::pair<double, uint32_t> prefill_with_progress(Session& s, const std::string& prompt) {
    constexpr size_t kMinTokens = 1024, kChunk = 256;
    if (!isatty(2) || prompt.size() < kMinTokens) return {0.0, 0};
    size_t n = 0;
    qwen_status st = qwen_tokenize(s.model, prompt.data(), prompt.size(), QWEN_TOKENIZE_PARSE_SPECIAL, nullptr, 0, &n);
    // A prompt that does not fit is qwen_generate's to report.
    if (st != QWEN_ERR_BUFFER_TOO_SMALL || n < kMinTokens || n >= qwen_context_n_ctx(s.ctx)) return {0.0, 0};
    std::vector<int32_t> ids(n);
    check(qwen_tokenize(s.model, prompt.data(), prompt.size(), QWEN_TOKENIZE_PARSE_SPECIAL, ids.data(), n, &n),
          "tokenizing the prompt");
    check(qwen_context_truncate(s.ctx, 0), "resetting the context");
    const auto t0 = std::chrono::steady_clock::now();
    double ms = 0.0;
    st = QWEN_OK;
    g_generating.store(true);
    for (size_t done = 0; done + 1 < n && st == QWEN_OK;) {  // the last token is qwen_generate's
        const size_t m = std::min(kChunk, n - 1 - done);
        st = qwen_eval(s.ctx, ids.data() + done, m, 0);
        done += m;
        ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
        std::fprintf(stderr, "\rprompt: %zu / %zu tokens (%.0f%%), %.0f tok/s ", done, n, 100.0 * double(done) / double(n),
                     double(done) * 1000.0 / ms);
    }
    g_generating.store(false);
    std::fputs("\r\033[K", stderr);  // the generated text takes the line
    check(st, "evaluating the prompt");
    return {ms, qwen_context_n_past(s.ctx)};
}

}  // namespace

int run_main(int argc, char** argv) {
    static const std::string help = std::string(
                                        "usage: qwen run -m MODEL (-p PROMPT | -f FILE) [options]\n"
                                        "\n"
                                        "Completes the prompt as plain text (control tokens such as <|im_start|> in it\n"
                                        "are parsed, so a hand-written ChatML prompt works) and streams the result to\n"
                                        "stdout; timings go to stderr. Ctrl-C stops generating.\n\n") +
                                    kCommonHelp;
    const std::optional<Args> parsed = parse(argc, argv, help);
    if (!parsed) return 0;
    const Args& a = *parsed;
    if (a.has("prompt") == a.has("file")) throw UsageError("give the prompt with -p TEXT or -f FILE");
    const std::string prompt = a.has("file") ? read_file(a.get("file")) : a.get("prompt");
    Session s(a);
    install_sigint(s.ctx);
    Printer out;
    const auto [pre_ms, pre_tokens] = prefill_with_progress(s, prompt);
    qwen_generate_result r = stream(s, out, [&](qwen_generate_result* res) {
        return qwen_generate_text(s.ctx, s.sampler, prompt.data(), prompt.size(), &s.gen, res);
    });
    // The stats describe the whole run, the pre-evaluated part included.
    r.prompt_ms += pre_ms;
    r.time_to_first_token_ms += pre_ms;
    r.n_cached_tokens -= std::min(r.n_cached_tokens, pre_tokens);
    print_stats(r);
    return 0;
}

int chat_main(int argc, char** argv) {
    static const std::string help =
        std::string("usage: qwen chat -m MODEL [--system TEXT] [--stats] [options]\n"
                    "\n"
                    "Chats with the model in the terminal with Qwen2.5's chat template. Each turn reuses the\n"
                    "cached conversation, so only the new message is evaluated. Commands:\n"
                    "  /reset          forget the conversation\n"
                    "  /system TEXT    set the system prompt (and forget the conversation)\n"
                    "  /exit           quit (also Ctrl-D, or Ctrl-C at the prompt)\n"
                    "Ctrl-C while the model answers stops the answer. A line ending in \\ continues.\n"
                    "--stats prints timings after each answer.\n\n") +
        kCommonHelp;
    const std::optional<Args> parsed = parse(argc, argv, help);
    if (!parsed) return 0;
    const Args& a = *parsed;
    Session s(a);
    install_sigint(s.ctx);
    std::string system = a.get("system");
    std::vector<std::pair<std::string, std::string>> history;  // role, content

    for (;;) {
        std::fputs("> ", stdout);
        std::fflush(stdout);
        std::string line, more;
        bool eof = !std::getline(std::cin, line);
        while (!eof && !line.empty() && line.back() == '\\') {
            line.back() = '\n';
            eof = !std::getline(std::cin, more);
            line += more;
        }
        if (eof || g_quit.load()) {
            std::fputc('\n', stdout);
            break;
        }
        if (line.empty()) continue;
        if (line == "/exit" || line == "/quit") break;
        if (line == "/reset" || line.rfind("/system", 0) == 0) {
            if (line != "/reset") system = line.size() > 8 ? line.substr(8) : "";
            history.clear();
            std::fputs(line == "/reset" ? "(conversation cleared)\n" : "(system prompt set, conversation cleared)\n",
                       stdout);
            continue;
        }
        if (line[0] == '/') {
            std::fprintf(stdout, "unknown command %s (try /reset, /system TEXT, /exit)\n", line.c_str());
            continue;
        }
        history.emplace_back("user", line);
        std::vector<qwen_chat_message> msgs;
        if (!system.empty()) msgs.push_back({"system", system.c_str(), nullptr});
        for (const auto& [role, content] : history) msgs.push_back({role.c_str(), content.c_str(), nullptr});

        Printer out;
        qwen_generate_result r{};
        try {
            r = stream(s, out, [&](qwen_generate_result* res) {
                return qwen_generate_chat(s.ctx, s.sampler, msgs.data(), msgs.size(), nullptr, &s.gen, res);
            });
        } catch (const std::exception& e) {
            // A full context is recoverable: say so, drop the message, let the user /reset.
            std::fprintf(stderr, "error: %s\n", e.what());
            history.pop_back();
            continue;
        }
        if (r.finish_reason == QWEN_FINISH_ABORTED) std::fputs("(stopped)\n", stdout);
        history.emplace_back("assistant", out.text);
        if (a.has("stats")) print_stats(r);
    }
    return 0;
}

}  // namespace qwen_cli
