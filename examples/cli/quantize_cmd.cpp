// qwen quantize: an F32/F16/BF16 model (GGUF file or Hugging Face folder) to a GGUF file of one
// of llama.cpp's file types, through the public C API, with a line per tensor.
#include "cli.hpp"

#include <qwen/qwen.h>

#include <cstring>
#include <string>
#include <vector>

namespace qwen_cli {

namespace {

const char* kQuantizeHelp =
    "usage: qwen quantize IN OUT TYPE [-t N] [--pure] [--allow-requantize]\n"
    "\n"
    "Writes the model IN (GGUF file or Hugging Face folder, F32/F16/BF16) as the GGUF file OUT of\n"
    "file type TYPE (any case): F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q4_K_S, Q4_K_M,\n"
    "Q5_K_S, Q5_K_M, Q6_K, IQ4_NL, IQ4_XS. The tensor types and bytes are those llama.cpp's\n"
    "llama-quantize writes (no importance matrix). -t: threads (default: all cores). --pure: every\n"
    "matrix the type's base format, without the per-tensor mix.\n";

double mib(uint64_t bytes) { return double(bytes) / (1024.0 * 1024.0); }

struct Totals {
    uint64_t from = 0, to = 0;
};

int print_progress(const qwen_quantize_progress* p, void* user_data) {
    auto* totals = static_cast<Totals*>(user_data);
    totals->from += p->src_bytes;
    totals->to += p->dst_bytes;
    const int width = int(std::to_string(p->count).size());
    std::printf("[%*zu/%zu] %-32s %6s -> %-6s %9.2f MiB -> %9.2f MiB\n", width, p->index + 1, p->count, p->name,
                p->src_type, p->dst_type, mib(p->src_bytes), mib(p->dst_bytes));
    std::fflush(stdout);
    return 0;
}

}  // namespace

int quantize_main(int argc, char** argv) {
    std::vector<std::string> positional;
    std::vector<char*> rest{argv[0]};
    for (int i = 1; i < argc; ++i) {
        if (argv[i][0] != '-') positional.push_back(argv[i]);
        else {
            rest.push_back(argv[i]);
            if ((!std::strcmp(argv[i], "-t") || !std::strcmp(argv[i], "--threads")) && i + 1 < argc)
                rest.push_back(argv[++i]);
        }
    }
    Args a(int(rest.size()), rest.data(), {"pure", "allow-requantize"}, {"threads"}, {{"-t", "threads"}});
    if (a.help()) {
        std::fputs(kQuantizeHelp, stdout);
        return 0;
    }
    if (!a.error().empty()) throw UsageError(a.error());
    if (positional.size() != 3) throw UsageError("give IN, OUT and TYPE");

    qwen_quantize_params p = qwen_quantize_default_params();
    if (qwen_ftype_from_name(positional[2].c_str(), &p.ftype) != QWEN_OK) throw UsageError(qwen_last_error());
    p.n_threads = int32_t(a.get_int("threads", 0, 0, 1024));
    p.pure = a.has("pure");
    p.allow_requantize = a.has("allow-requantize");
    Totals totals;
    p.callback = print_progress;
    p.user_data = &totals;
    const qwen_status st = qwen_model_quantize(positional[0].c_str(), positional[1].c_str(), &p);
    if (st != QWEN_OK) {
        std::fprintf(stderr, "qwen quantize: %s: %s\n", qwen_status_name(st), qwen_last_error());
        return 1;
    }
    std::printf("%s: %.2f MiB -> %.2f MiB (%s)\n", positional[1].c_str(), mib(totals.from), mib(totals.to),
                qwen_ftype_name(p.ftype));
    return 0;
}

}  // namespace qwen_cli
