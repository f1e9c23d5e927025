// qwen bench: how fast a model runs on this machine, measured as llama-bench measures it.
//
//   pp<N>  prompt processing: N tokens evaluated in one qwen_eval() call
//   tg<N>  text generation: N single-token qwen_eval() calls
//
// both after `depth` tokens already in the KV cache (filled once, untimed; every repetition
// rewinds to it with qwen_context_truncate). The tokens are pseudo-random ids: speed does not
// depend on them. The llama.cpp oracle driver's `bench` sub-command (tests/oracle) does the
// same steps with llama.cpp, and bench/compare.py runs the two side by side.
//
// --latency measures what a user waits for instead: load (qwen_model_load, with its repacking,
// + qwen_context_create), then time to first token of a ~100-token chat prompt (tokenize +
// prefill + greedy pick) on that fresh model and context, -r times in this process, and the
// process's peak RSS after them. It runs alone (no pp/tg) so the RSS is that of one model + one
// context of --ctx tokens.
#include "cli.hpp"
#include "hub.hpp"

#include <qwen/qwen.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <memory>
#include <sstream>
#include <string>
#include <sys/resource.h>
#include <sys/stat.h>
#include <vector>

namespace qwen_cli {

static const char* kBenchHelp =
    "usage: qwen bench -m MODEL [-p 512] [-n 128] [-d 0[,4096,...]] [-s 1[,4,8]] [-r 3] [-t N] [--kv f16|f32]\n"
    "                  [--json]\n"
    "       qwen bench -m MODEL --latency [-r 3] [-t N] [--ctx 4096] [--kv f16|f32] [--json]\n"
    "\n"
    "Measures prompt processing (-p tokens in one batch; 0 skips it) and generation (-n tokens one\n"
    "at a time; 0 skips it) after -d tokens already in the context, -r times each, and prints the\n"
    "median tokens/s (and the spread) as a markdown table, or with --json one line per test with\n"
    "every sample. -s S > 1 adds tg<N>xS: S sequences decoding together (qwen_eval_batch), one\n"
    "token each per step; its tokens/s counts all of them. -t is the thread count (default: one per\n"
    "core).\n"
    "--latency instead reports load seconds (model load + context creation), time to first token\n"
    "of a fixed ~100-token chat prompt (tokenize + prefill + greedy token, on a freshly loaded\n"
    "model and context each repetition) and the process's peak RSS, for a context of --ctx tokens.\n";

namespace {

struct Failed {
    qwen_status status;
};

void check(qwen_status st) {
    if (st != QWEN_OK) throw Failed{st};
}

std::vector<long long> parse_list(const std::string& name, const std::string& s, long long lo, long long hi) {
    std::vector<long long> out;
    std::stringstream ss(s);
    for (std::string item; std::getline(ss, item, ',');) {
        long long d = -1;
        const auto [end, ec] = std::from_chars(item.data(), item.data() + item.size(), d);
        if (ec != std::errc() || end != item.data() + item.size() || d < lo || d > hi)
            throw UsageError("--" + name + " must list integers in [" + std::to_string(lo) + ", " + std::to_string(hi) +
                             "], not '" + s + "'");
        out.push_back(d);
    }
    if (out.empty()) throw UsageError("--" + name + " is empty");
    return out;
}

double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    const size_t n = v.size();
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

struct Result {
    std::string test;
    long long depth;
    std::vector<double> tok_s;
};

// Fills an empty context with its first `depth` tokens, in batches (untimed).
void fill(qwen_context* ctx, const std::vector<int32_t>& toks, long long depth) {
    check(qwen_context_truncate(ctx, 0));
    for (long long b = 0; b < depth; b += 512) check(qwen_eval(ctx, toks.data() + b, size_t(std::min(512LL, depth - b)), 0));
}

// Runs the tests of one depth on a context that holds depth + max(pp, tg) tokens.
void bench_depth(qwen_context* ctx, const std::vector<int32_t>& toks, long long depth, long long pp, long long tg,
                 long long reps, std::vector<Result>& out) {
    using clock = std::chrono::steady_clock;
    fill(ctx, toks, depth);
    if (pp > 0) {
        Result r{"pp" + std::to_string(pp), depth, {}};
        for (long long i = 0; i < reps; ++i) {
            check(qwen_context_truncate(ctx, uint32_t(depth)));
            const auto t0 = clock::now();
            check(qwen_eval(ctx, toks.data() + depth, size_t(pp), 0));
            r.tok_s.push_back(double(pp) / std::chrono::duration<double>(clock::now() - t0).count());
        }
        out.push_back(r);
    }
    if (tg > 0) {
        Result r{"tg" + std::to_string(tg), depth, {}};
        for (long long i = 0; i < reps; ++i) {
            check(qwen_context_truncate(ctx, uint32_t(depth)));
            const auto t0 = clock::now();
            for (long long k = 0; k < tg; ++k) check(qwen_eval(ctx, toks.data() + depth + k, 1, 0));
            r.tok_s.push_back(double(tg) / std::chrono::duration<double>(clock::now() - t0).count());
        }
        out.push_back(r);
    }
}

// tg with S sequences: S contexts at the same depth, each step one qwen_eval_batch() call.
void bench_batched(qwen_context* const* ctxs, size_t S, const std::vector<int32_t>& toks, long long depth,
                   long long tg, long long reps, std::vector<Result>& out) {
    using clock = std::chrono::steady_clock;
    for (size_t s = 0; s < S; ++s) fill(ctxs[s], toks, depth);
    Result r{"tg" + std::to_string(tg) + "x" + std::to_string(S), depth, {}};
    std::vector<int32_t> step(S);
    for (long long i = 0; i < reps; ++i) {
        for (size_t s = 0; s < S; ++s) check(qwen_context_truncate(ctxs[s], uint32_t(depth)));
        const auto t0 = clock::now();
        for (long long k = 0; k < tg; ++k) {
            for (size_t s = 0; s < S; ++s) step[s] = toks[size_t(depth + k) + s];  // a different token each
            check(qwen_eval_batch(ctxs, step.data(), S));
        }
        r.tok_s.push_back(double(tg * (long long)S) / std::chrono::duration<double>(clock::now() - t0).count());
    }
    out.push_back(r);
}

// The user turn of the --latency prompt: with the default system prompt and the template's
// markers, Qwen2.5's chat template makes it 100 tokens. The llama.cpp oracle driver's bench
// --mode latency holds the same rendered text (tests/oracle/llama_oracle.cpp).
constexpr const char* kLatencyMessage =
    "Summarize the following note in two sentences. The team moved the weekly planning meeting from "
    "Monday morning to Tuesday afternoon because several people travel on Mondays. The new slot starts "
    "at two o'clock, lasts forty-five minutes, and will be held in the small conference room on the "
    "third floor. Remote attendees can join through the usual video link, as before.";

struct ModelFree {
    void operator()(qwen_model* m) const { qwen_model_free(m); }
};
struct ContextFree {
    void operator()(qwen_context* c) const { qwen_context_free(c); }
};

struct Latency {
    std::vector<double> load_s, ttft_ms;
    size_t prompt_tokens = 0;
    int32_t first_token = -1;
    uint32_t n_ctx = 0;
};

// ru_maxrss: the high-water mark of resident memory, mapped file pages included (KiB on Linux).
double peak_rss_mib() {
    rusage ru{};
    getrusage(RUSAGE_SELF, &ru);
    return double(ru.ru_maxrss) / 1024.0;
}

Latency bench_latency(const std::string& path, qwen_context_params cp, long long ctx_tokens, long long reps) {
    using clock = std::chrono::steady_clock;
    const qwen_chat_message msg{"user", kLatencyMessage, nullptr};
    size_t len = 0;
    std::string text(4096, '\0');
    check(qwen_chat_render(&msg, 1, nullptr, QWEN_CHAT_ADD_GENERATION_PROMPT, text.data(), text.size(), &len));
    text.resize(len);
    Latency out;
    for (long long r = 0; r < reps; ++r) {
        const auto t0 = clock::now();
        qwen_model* mp = nullptr;
        check(qwen_model_load(path.c_str(), nullptr, &mp));
        const std::unique_ptr<qwen_model, ModelFree> model(mp);
        cp.n_ctx = uint32_t(std::min<long long>(ctx_tokens, qwen_model_n_ctx_train(mp)));
        qwen_context* cx = nullptr;
        check(qwen_context_create(mp, &cp, &cx));
        const std::unique_ptr<qwen_context, ContextFree> ctx(cx);
        const auto t1 = clock::now();
        std::vector<int32_t> toks(text.size() + 16);  // at most one token per byte
        size_t n = 0;
        check(qwen_tokenize(mp, text.data(), text.size(), QWEN_TOKENIZE_PARSE_SPECIAL, toks.data(), toks.size(), &n));
        check(qwen_eval(cx, toks.data(), n, 0));
        const float* logits = qwen_context_logits(cx, nullptr);
        const int32_t nv = qwen_model_n_vocab(mp);
        const int32_t best = int32_t(std::max_element(logits, logits + nv) - logits);
        const auto t2 = clock::now();
        out.load_s.push_back(std::chrono::duration<double>(t1 - t0).count());
        out.ttft_ms.push_back(1e3 * std::chrono::duration<double>(t2 - t1).count());
        out.prompt_tokens = n;
        out.first_token = best;
        out.n_ctx = qwen_context_n_ctx(cx);
    }
    return out;
}

void print_samples(const char* key, const std::vector<double>& v) {
    std::printf("\"%s\": [", key);
    for (size_t i = 0; i < v.size(); ++i) std::printf("%s%.4f", i ? ", " : "", v[i]);
    std::printf("]");
}

int latency_main(const Args& a, const std::string& path, long long reps, long long threads, qwen_kv_type kv) {
    qwen_context_params cp = qwen_context_default_params();
    cp.n_threads = int32_t(threads);
    cp.kv_type = kv;
    const long long ctx_tokens = a.get_int("ctx", 4096, 128, 1 << 20);
    Latency l;
    try {
        l = bench_latency(path, cp, ctx_tokens, reps);
    } catch (const Failed& f) {
        std::fprintf(stderr, "qwen bench: %s: %s\n", qwen_status_name(f.status), qwen_last_error());
        return 1;
    }
    const double rss = peak_rss_mib();
    if (a.has("json")) {
        std::printf("{\"engine\": \"libqwen\", \"test\": \"latency\", \"threads\": %lld, \"n_ctx\": %u, "
                    "\"prompt_tokens\": %zu, \"first_token\": %d, ",
                    threads, l.n_ctx, l.prompt_tokens, l.first_token);
        print_samples("load_s", l.load_s);
        std::printf(", ");
        print_samples("ttft_ms", l.ttft_ms);
        std::printf(", \"peak_rss_mib\": %.1f}\n", rss);
        return 0;
    }
    std::printf("| model | threads | context | prompt | load s | TTFT ms | peak RSS MiB |\n"
                "|---|---:|---:|---:|---:|---:|---:|\n");
    std::printf("| %s | %s | %u | %zu | %.3f | %.1f | %.1f |\n", path.substr(path.rfind('/') + 1).c_str(),
                threads ? std::to_string(threads).c_str() : "all", l.n_ctx, l.prompt_tokens, median(l.load_s),
                median(l.ttft_ms), rss);
    return 0;
}

}  // namespace

int bench_main(int argc, char** argv) {
    Args a(argc, argv, {"json", "latency"}, {"model", "prompt", "n-gen", "depth", "seqs", "reps", "threads", "kv", "ctx"},
           {{"-m", "model"}, {"-p", "prompt"}, {"-n", "n-gen"}, {"-d", "depth"}, {"-s", "seqs"}, {"-r", "reps"},
            {"-t", "threads"}});
    if (a.help()) {
        std::fputs(kBenchHelp, stdout);
        return 0;
    }
    if (!a.error().empty()) throw UsageError(a.error());
    if (!a.has("model")) throw UsageError("-m MODEL is required");
    const long long pp = a.get_int("prompt", 512, 0, 1 << 16), tg = a.get_int("n-gen", 128, 0, 1 << 16);
    const long long reps = a.get_int("reps", 3, 1, 1000), threads = a.get_int("threads", 0, 0, 1024);
    const std::vector<long long> depths = parse_list("depth", a.get("depth", "0"), 0, 1 << 20);
    const std::vector<long long> seqs = parse_list("seqs", a.get("seqs", "1"), 1, 64);
    const std::string kv = a.get("kv", "f16");
    if (kv != "f16" && kv != "f32") throw UsageError("--kv must be f16 or f32, not '" + kv + "'");
    const std::string path = resolve_model(a.get("model"));
    if (a.has("latency")) return latency_main(a, path, reps, threads, kv == "f32" ? QWEN_KV_F32 : QWEN_KV_F16);
    if (a.has("ctx")) throw UsageError("--ctx is for --latency (the speed tests size their context themselves)");

    qwen_model* model = nullptr;
    qwen_context* ctx = nullptr;
    std::vector<qwen_context*> extra;  // sequences 2.. of the batched tests
    std::vector<Result> results;
    int rc = 0;
    try {
        check(qwen_model_load(path.c_str(), nullptr, &model));
        const long long deepest = *std::max_element(depths.begin(), depths.end());
        qwen_context_params cp = qwen_context_default_params();
        const long long n_ctx = deepest + std::max({pp, tg, 1LL});
        if (n_ctx > qwen_model_n_ctx_train(model))
            throw UsageError("depth + max(-p, -n) = " + std::to_string(n_ctx) + " exceeds the model's context of " +
                             std::to_string(qwen_model_n_ctx_train(model)) + " tokens");
        cp.n_ctx = uint32_t(n_ctx);
        cp.n_threads = int32_t(threads);
        cp.kv_type = kv == "f32" ? QWEN_KV_F32 : QWEN_KV_F16;
        check(qwen_context_create(model, &cp, &ctx));

        // The same pseudo-random ids as the oracle driver's bench (a 64-bit LCG).
        const long long max_seqs = *std::max_element(seqs.begin(), seqs.end());
        std::vector<int32_t> toks(static_cast<size_t>(n_ctx + max_seqs));
        uint64_t s = 0x9E3779B97F4A7C15ull;
        for (auto& t : toks) {
            s = s * 6364136223846793005ull + 1442695040888963407ull;
            t = int32_t((s >> 33) % uint64_t(qwen_model_n_vocab(model)));
        }
        check(qwen_eval(ctx, toks.data(), 1, 0));  // warm-up: page the weights in
        for (long long d : depths) bench_depth(ctx, toks, d, pp, tg, reps, results);
        if (tg > 0 && max_seqs > 1) {
            std::vector<qwen_context*> all = {ctx};
            while (all.size() < size_t(max_seqs)) {
                extra.push_back(nullptr);
                check(qwen_context_create(model, &cp, &extra.back()));
                all.push_back(extra.back());
            }
            for (long long d : depths)
                for (long long S : seqs)
                    if (S > 1) bench_batched(all.data(), size_t(S), toks, d, tg, reps, results);
        }
    } catch (const Failed& f) {
        std::fprintf(stderr, "qwen bench: %s: %s\n", qwen_status_name(f.status), qwen_last_error());
        rc = 1;
    } catch (...) {
        for (auto* c : extra) qwen_context_free(c);
        qwen_context_free(ctx);
        qwen_model_free(model);
        throw;
    }
    for (auto* c : extra) qwen_context_free(c);
    qwen_context_free(ctx);
    qwen_model_free(model);
    if (rc) return rc;

    struct stat st {};
    const double size_mib = ::stat(path.c_str(), &st) == 0 ? double(st.st_size) / (1 << 20) : 0.0;
    if (a.has("json")) {
        for (const auto& r : results) {
            std::printf("{\"engine\": \"libqwen\", \"test\": \"%s\", \"depth\": %lld, \"threads\": %lld, \"tok_s\": [",
                        r.test.c_str(), r.depth, threads);
            for (size_t i = 0; i < r.tok_s.size(); ++i) std::printf("%s%.3f", i ? ", " : "", r.tok_s[i]);
            std::printf("]}\n");
        }
        return 0;
    }
    std::printf("| model | size | threads | test | t/s |\n|---|---:|---:|---|---:|\n");
    for (const auto& r : results) {
        const auto [lo, hi] = std::minmax_element(r.tok_s.begin(), r.tok_s.end());
        const std::string test = r.depth ? r.test + " @ d" + std::to_string(r.depth) : r.test;
        std::printf("| %s | %.1f MiB | %s | %s | %.2f (%.2f .. %.2f) |\n", path.substr(path.rfind('/') + 1).c_str(),
                    size_mib, threads ? std::to_string(threads).c_str() : "all", test.c_str(), median(r.tok_s), *lo,
                    *hi);
    }
    return 0;
}

}  // namespace qwen_cli
