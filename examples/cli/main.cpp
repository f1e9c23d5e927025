// The `qwen` command. Each sub-command lives in its own file; this one only dispatches.
#include "cli.hpp"

#include <cstdio>
#include <cstring>
#include <string>

namespace {

struct Command {
    const char* name;
    int (*run)(int argc, char** argv);
    const char* summary;
};

const Command kCommands[] = {
    {"run", qwen_cli::run_main, "complete a prompt, streaming the text"},
    {"chat", qwen_cli::chat_main, "chat in the terminal (Qwen2.5 chat template, history, /reset)"},
    {"info", qwen_cli::info_main, "describe a model file: hyper-parameters, tensor types and sizes"},
    {"tokenize", qwen_cli::tokenize_main, "show the tokens of a text"},
    {"quantize", qwen_cli::quantize_main, "write a model as a quantized GGUF file (llama.cpp's file types)"},
    {"bench", qwen_cli::bench_main, "measure prompt and generation speed (tokens/s, as llama-bench)"},
    {"download", qwen_cli::download_main, "fetch Qwen2.5-0.5B-Instruct from the Hugging Face hub (resumable, verified)"},
    {"synth", qwen_cli::synth_main, "write a synthetic Qwen2 model (GGUF and/or Hugging Face folder)"},
    {"logits", qwen_cli::logits_main, "evaluate tokens and write the logits (for parity tests)"},
};

void usage(FILE* out) {
    std::fprintf(out, "usage: qwen <command> [options]\n\ncommands:\n");
    for (const auto& c : kCommands) std::fprintf(out, "  %-9s %s\n", c.name, c.summary);
    std::fprintf(out, "\n'qwen <command> --help' describes a command.\n");
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 2 || !std::strcmp(argv[1], "--help") || !std::strcmp(argv[1], "-h")) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    for (const auto& c : kCommands)
        if (!std::strcmp(argv[1], c.name)) {
            try {
                return c.run(argc - 1, argv + 1);
            } catch (const qwen_cli::UsageError& e) {
                std::fprintf(stderr, "qwen %s: %s (see 'qwen %s --help')\n", c.name, e.what(), c.name);
                return 2;
            } catch (const std::exception& e) {
                std::fprintf(stderr, "qwen %s: %s\n", c.name, e.what());
                return 1;
            }
        }
    std::fprintf(stderr, "qwen: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return 2;
}
