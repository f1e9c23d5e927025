// A streaming chat REPL over libqwen's C API: one user message per line on stdin, "/reset"
// starts over, EOF quits.   qwen-chat-cpp [-n MAX_TOKENS] MODEL.gguf [SYSTEM PROMPT]
//
// The C handles live in std::unique_ptr with their free functions, so every path out of
// main - errors included - releases them, contexts and samplers before their model.
#include <qwen/qwen.h>

#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

template <class T, void (*Free)(T *)>
struct Deleter {
    void operator()(T *p) const { Free(p); }
};
using Model = std::unique_ptr<qwen_model, Deleter<qwen_model, qwen_model_free>>;
using Context = std::unique_ptr<qwen_context, Deleter<qwen_context, qwen_context_free>>;
using Sampler = std::unique_ptr<qwen_sampler, Deleter<qwen_sampler, qwen_sampler_free>>;

// A failed call as an exception carrying the library's status and message.
struct Error : std::runtime_error {
    qwen_status status;
    explicit Error(qwen_status s)
        : std::runtime_error(std::string(qwen_last_error()) + " (" + qwen_status_name(s) + ")"), status(s) {}
};

void check(qwen_status status) {
    if (status != QWEN_OK) throw Error(status);
}

struct Message {
    std::string role, content;
};

struct Chat {
    Model model;
    Context ctx;
    Sampler sampler;
    int32_t max_tokens = qwen_generate_default_params().max_tokens;

    explicit Chat(const char *path) {
        qwen_model *m = nullptr;
        check(qwen_model_load(path, nullptr, &m));
        model.reset(m);
        qwen_context *c = nullptr;
        check(qwen_context_create(model.get(), nullptr, &c));
        ctx.reset(c);
        qwen_sampler *s = nullptr;
        qwen_sampler_params params = qwen_sampler_default_params(); // Qwen2.5's generation_config
        check(qwen_sampler_create(model.get(), &params, &s));
        sampler.reset(s);
    }

    // Streams the assistant's answer (and a newline) to stdout and returns it. Only the new turn is evaluated:
    // the rest of the history is already in the KV cache.
    std::string answer(const std::vector<Message> &history) {
        std::vector<qwen_chat_message> messages;
        for (const Message &m : history) messages.push_back({m.role.c_str(), m.content.c_str(), nullptr});

        std::string text;
        qwen_generate_params params = qwen_generate_default_params();
        params.max_tokens = max_tokens;
        params.user_data = &text;
        params.callback = [](const qwen_generate_event *event, void *user_data) -> int {
            static_cast<std::string *>(user_data)->append(event->text, event->text_len);
            std::fwrite(event->text, 1, event->text_len, stdout);
            return std::fflush(stdout) == 0 ? 0 : 1; // stdout closed: stop generating
        };
        qwen_generate_result result{};
        result.struct_size = sizeof result;
        check(qwen_generate_chat(ctx.get(), sampler.get(), messages.data(), messages.size(), nullptr, &params,
                                 &result));
        std::fputc('\n', stdout);
        std::fprintf(stderr, "[%u tokens, %u from cache, %.1f tokens/s]\n", result.n_generated_tokens,
                     result.n_cached_tokens,
                     result.generate_ms > 0 ? 1000.0 * result.n_generated_tokens / result.generate_ms : 0.0);
        return text;
    }
};

} // namespace

int main(int argc, char **argv) {
    std::vector<std::string> args(argv + 1, argv + argc);
    std::optional<int32_t> max_tokens;
    if (args.size() >= 2 && args[0] == "-n") {
        max_tokens = std::atoi(args[1].c_str());
        args.erase(args.begin(), args.begin() + 2);
    }
    if (args.empty() || args.size() > 2 || (max_tokens && *max_tokens <= 0)) {
        std::fprintf(stderr, "usage: %s [-n MAX_TOKENS] MODEL.gguf [SYSTEM PROMPT]\n", argv[0]);
        return 2;
    }
    std::vector<Message> start;
    if (args.size() == 2) start.push_back({"system", args[1]});
    try {
        Chat chat(args[0].c_str());
        if (max_tokens) chat.max_tokens = *max_tokens;
        std::vector<Message> history = start;
        std::string line;
        for (std::cout << "> " << std::flush; std::getline(std::cin, line); std::cout << "> " << std::flush) {
            if (line.empty()) continue;
            if (line == "/reset") {
                history = start;
                std::cout << "(history cleared)\n";
                continue;
            }
            history.push_back({"user", line});
            std::string reply = chat.answer(history);
            history.push_back({"assistant", std::move(reply)});
        }
        std::cout << '\n';
    } catch (const Error &e) {
        std::fprintf(stderr, "qwen-chat-cpp: %s\n", e.what());
        return 1;
    }
    return 0;
}
