// llama_oracle: a small command-line driver around the prebuilt llama.cpp shared libraries
// (npm package @node-llama-cpp/linux-x64). It is test infrastructure only: libqwen's parity
// tests compare against what it prints and writes. Built by scripts/build-llama-oracle.sh
// against the llama.h / ggml headers of the same llama.cpp release (read from the
// node-llama-cpp git bundle at build time, never committed).
//
// Sub-commands (run without arguments for the usage text):
//   info      MODEL.gguf [--meta]
//   logits    MODEL.gguf --tokens 1,2,3 [--all] [--batch N] [--threads N] [--ctx N]
//                        [--kv f16|f32] [--fa auto|on|off] --out FILE
//   teacher   MODEL.gguf --tokens ... --out FILE          (= logits --all)
//   greedy    MODEL.gguf --tokens PROMPT --n 64 [--out FILE] [--stop-eog] [...]
//   tokenize  MODEL.gguf (--text "..." | --text-file F) [--special] [--add-special]
//   detokenize MODEL.gguf --tokens ... [--special]        (raw bytes to stdout)
//   quantize  IN.gguf OUT.gguf TYPE [--threads N] [--pure] [--allow-requantize]
//                        [--embd-type T] [--output-type T] [--imatrix-ones]
//   dequant   TYPE IN.bin OUT.f32                         (ggml's to_float on raw blocks)
//   quantize-rows TYPE N_PER_ROW IN.f32 OUT.bin           (ggml_quantize_chunk, no imatrix)
//   bench     MODEL.gguf [--pp 512] [--tg 128] [--depth 0] [--seqs 1] [--reps 3] [--threads N] [--kv T] [--fa F]
//                        (timings as JSON lines; the same method as `qwen bench`, see bench/compare.py)
//   bench     MODEL.gguf --mode latency [--reps 3] [--threads N] [--ctx 4096] [--kv T] [--fa F]
//                        (load s, time to first token, peak RSS: as `qwen bench --latency`)
//
// Logits files: a 16-byte header then row-major little-endian float32 data:
//   char magic[4] = "QLGT"; uint32 version = 1; uint32 n_rows; uint32 n_vocab;
//   float32 logits[n_rows][n_vocab]
// dequant / quantize-rows files are raw: little-endian float32 values, or the blocks of a
// ggml type (named as ggml prints it: q4_0, q4_K, iq2_xxs, ...) back to back.

#include "llama.h"
#include "ggml.h"
#include "ggml-backend.h"
#include "gguf.h"

#include <algorithm>
#include <chrono>
#include <cctype>
#include <cerrno>
#include <climits>
#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <map>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include <sys/resource.h>
#include <unistd.h>

namespace {

bool g_verbose = false;

void log_cb(enum ggml_log_level level, const char* text, void*) {
    if (g_verbose || level == GGML_LOG_LEVEL_ERROR) {
        std::fputs(text, stderr);
    }
}

[[noreturn]] void fail(const std::string& msg) {
    throw std::runtime_error(msg);
}

// ---------------------------------------------------------------- argument parsing
struct Args {
    std::vector<std::string> positional;
    std::map<std::string, std::string> opts;  // --key value
    std::map<std::string, bool> flags;        // --flag

    bool flag(const std::string& k) const { return flags.count(k) != 0; }
    bool has(const std::string& k) const { return opts.count(k) != 0; }
    std::string str(const std::string& k, const std::string& def = {}) const {
        auto it = opts.find(k);
        return it == opts.end() ? def : it->second;
    }
    long num(const std::string& k, long def) const {
        auto it = opts.find(k);
        if (it == opts.end()) return def;
        char* end = nullptr;
        errno = 0;
        long v = std::strtol(it->second.c_str(), &end, 10);
        if (errno || end == it->second.c_str() || *end) fail("--" + k + ": not an integer: " + it->second);
        return v;
    }
};

const char* const kFlagNames[] = {"all", "special", "add-special", "verbose", "meta", "pure",
                                  "allow-requantize", "stop-eog", "no-mmap", "vocab-only", "split-nul",
                                  "imatrix-ones"};

Args parse_args(int argc, char** argv, int first) {
    Args a;
    for (int i = first; i < argc; ++i) {
        std::string s = argv[i];
        if (s.size() > 2 && s.compare(0, 2, "--") == 0) {
            std::string k = s.substr(2);
            bool is_flag = false;
            for (const char* f : kFlagNames) is_flag = is_flag || k == f;
            if (is_flag) {
                a.flags[k] = true;
            } else {
                if (i + 1 >= argc) fail("option " + s + " needs a value");
                a.opts[k] = argv[++i];
            }
        } else {
            a.positional.push_back(s);
        }
    }
    return a;
}

std::vector<llama_token> parse_tokens(const std::string& s) {
    std::vector<llama_token> out;
    std::string cur;
    auto push = [&]() {
        if (cur.empty()) return;
        char* end = nullptr;
        errno = 0;
        long v = std::strtol(cur.c_str(), &end, 10);
        if (errno || *end || v < 0 || v > INT32_MAX) fail("bad token id: " + cur);
        out.push_back(static_cast<llama_token>(v));
        cur.clear();
    };
    for (char c : s) {
        if (c == ',' || c == ' ' || c == '\n' || c == '\t') push();
        else cur += c;
    }
    push();
    return out;
}

std::vector<llama_token> tokens_arg(const Args& a) {
    std::string s;
    if (a.has("tokens")) s = a.str("tokens");
    else if (a.has("tokens-file")) {
        std::ifstream f(a.str("tokens-file"));
        if (!f) fail("cannot open " + a.str("tokens-file"));
        std::stringstream ss;
        ss << f.rdbuf();
        s = ss.str();
    } else fail("--tokens (or --tokens-file) is required");
    auto t = parse_tokens(s);
    if (t.empty()) fail("empty token list");
    return t;
}

std::string join_ids(const std::vector<llama_token>& v) {
    std::string s;
    for (size_t i = 0; i < v.size(); ++i) {
        if (i) s += ',';
        s += std::to_string(v[i]);
    }
    return s;
}

// ---------------------------------------------------------------- llama helpers
std::string exe_dir() {
    char buf[4096];
    ssize_t n = readlink("/proc/self/exe", buf, sizeof(buf) - 1);
    if (n <= 0) return ".";
    std::string p(buf, static_cast<size_t>(n));
    auto slash = p.rfind('/');
    return slash == std::string::npos ? "." : p.substr(0, slash);
}

void backend_init() {
    llama_log_set(log_cb, nullptr);
    ggml_log_set(log_cb, nullptr);
    llama_backend_init();
    // The prebuilt package is a GGML_BACKEND_DL build: the CPU backend variants
    // (libggml-cpu-<level>.so) live next to this executable and must be loaded explicitly.
    if (ggml_backend_dev_count() == 0) {
        ggml_backend_load_all_from_path(exe_dir().c_str());
    }
    if (ggml_backend_dev_count() == 0) {
        fail("no ggml backend could be loaded from " + exe_dir() + " (libggml-cpu-*.so missing?)");
    }
}

struct Model {
    llama_model* m = nullptr;
    explicit Model(const std::string& path, bool vocab_only, bool no_mmap) {
        llama_model_params p = llama_model_default_params();
        p.vocab_only = vocab_only;
        p.n_gpu_layers = 0;
        if (no_mmap) p.load_mode = LLAMA_LOAD_MODE_NONE;
        m = llama_model_load_from_file(path.c_str(), p);
        if (!m) fail("llama.cpp failed to load model " + path + " (rerun with --verbose for its log)");
    }
    ~Model() { if (m) llama_model_free(m); }
    Model(const Model&) = delete;
    Model& operator=(const Model&) = delete;
    const llama_vocab* vocab() const { return llama_model_get_vocab(m); }
    int n_vocab() const { return llama_vocab_n_tokens(vocab()); }
};

ggml_type kv_type(const std::string& s) {
    if (s == "f16") return GGML_TYPE_F16;
    if (s == "f32") return GGML_TYPE_F32;
    if (s == "bf16") return GGML_TYPE_BF16;
    if (s == "q8_0") return GGML_TYPE_Q8_0;
    fail("--kv must be f16, f32, bf16 or q8_0, got " + s);
}

llama_flash_attn_type fa_type(const std::string& s) {
    if (s == "auto") return LLAMA_FLASH_ATTN_TYPE_AUTO;
    if (s == "on") return LLAMA_FLASH_ATTN_TYPE_ENABLED;
    if (s == "off") return LLAMA_FLASH_ATTN_TYPE_DISABLED;
    fail("--fa must be auto, on or off, got " + s);
}

struct Context {
    llama_context* c = nullptr;
    Context(const Model& model, const Args& a, uint32_t n_tokens_total, uint32_t batch, uint32_t n_seq = 1) {
        llama_context_params p = llama_context_default_params();
        uint32_t n_ctx = static_cast<uint32_t>(a.num("ctx", 0));
        if (n_ctx == 0) n_ctx = std::max<uint32_t>(256, (n_tokens_total + 255) / 256 * 256) * n_seq;
        if (n_ctx < n_tokens_total * n_seq) fail("--ctx smaller than the number of tokens to evaluate");
        p.n_ctx = n_ctx;
        p.n_batch = std::max<uint32_t>(batch, 1);
        p.n_ubatch = p.n_batch;  // one graph evaluation per llama_decode call
        p.n_seq_max = n_seq;  // llama.cpp splits n_ctx among the sequences
        int threads = static_cast<int>(a.num("threads", 2));
        p.n_threads = threads;
        p.n_threads_batch = threads;
        p.type_k = kv_type(a.str("kv", "f16"));
        p.type_v = kv_type(a.str("kv", "f16"));
        p.flash_attn_type = fa_type(a.str("fa", "auto"));
        p.no_perf = true;
        c = llama_init_from_model(model.m, p);
        if (!c) fail("llama_init_from_model failed (rerun with --verbose)");
    }
    ~Context() { if (c) llama_free(c); }
    Context(const Context&) = delete;
    Context& operator=(const Context&) = delete;
};

// Evaluates tokens[begin, end) at positions begin.. in one llama_decode call. When
// want_all, every row's logits are requested, otherwise only the last one.
void decode_chunk(llama_context* ctx, const std::vector<llama_token>& toks, size_t begin, size_t end,
                  bool want_all) {
    const int32_t n = static_cast<int32_t>(end - begin);
    llama_batch b = llama_batch_init(n, 0, 1);
    for (int32_t i = 0; i < n; ++i) {
        b.token[i] = toks[begin + i];
        b.pos[i] = static_cast<llama_pos>(begin + i);
        b.n_seq_id[i] = 1;
        b.seq_id[i][0] = 0;
        b.logits[i] = (want_all || i == n - 1) ? 1 : 0;
    }
    b.n_tokens = n;
    int32_t rc = llama_decode(ctx, b);
    llama_batch_free(b);
    if (rc != 0) fail("llama_decode failed with code " + std::to_string(rc));
}

void check_tokens(const Model& model, const std::vector<llama_token>& toks) {
    const int nv = model.n_vocab();
    for (llama_token t : toks)
        if (t < 0 || t >= nv) fail("token id " + std::to_string(t) + " out of range [0, " + std::to_string(nv) + ")");
}

void write_logits(const std::string& path, const std::vector<float>& data, uint32_t n_rows, uint32_t n_vocab) {
    FILE* f = std::fopen(path.c_str(), "wb");
    if (!f) fail("cannot open " + path + " for writing");
    const char magic[4] = {'Q', 'L', 'G', 'T'};
    const uint32_t hdr[3] = {1u, n_rows, n_vocab};
    bool ok = std::fwrite(magic, 1, 4, f) == 4 && std::fwrite(hdr, 4, 3, f) == 3 &&
              std::fwrite(data.data(), sizeof(float), data.size(), f) == data.size();
    ok = (std::fclose(f) == 0) && ok;
    if (!ok) fail("write error on " + path);
}

llama_token argmax(const float* row, int n) {
    int best = 0;  // ties go to the lowest id
    for (int i = 1; i < n; ++i)
        if (row[i] > row[best]) best = i;
    return best;
}

// ---------------------------------------------------------------- sub-commands
int cmd_info(const Args& a) {
    if (a.positional.size() != 1) fail("usage: info MODEL.gguf [--meta] [--vocab-only]");
    Model model(a.positional[0], a.flag("vocab-only"), a.flag("no-mmap"));
    const llama_model* m = model.m;
    char buf[512];
    const llama_vocab* v = model.vocab();
    std::printf("n_vocab=%d\n", model.n_vocab());
    std::printf("vocab_type=%d\n", static_cast<int>(llama_vocab_type(v)));
    std::printf("bos=%d\neos=%d\neot=%d\npad=%d\nnl=%d\n", llama_vocab_bos(v), llama_vocab_eos(v),
                llama_vocab_eot(v), llama_vocab_pad(v), llama_vocab_nl(v));
    std::printf("add_bos=%d\n", llama_vocab_get_add_bos(v) ? 1 : 0);
    std::printf("llama_version=%s\n", llama_version());
    if (a.flag("meta")) {
        const int n = llama_model_meta_count(m);
        std::vector<char> val(1 << 16);
        for (int i = 0; i < n; ++i) {
            llama_model_meta_key_by_index(m, i, buf, sizeof(buf));
            llama_model_meta_val_str_by_index(m, i, val.data(), val.size());
            std::printf("meta.%s=%s\n", buf, val.data());
        }
    }
    if (a.flag("vocab-only")) return 0;  // hyper-parameter getters abort on vocab-only models
    llama_model_desc(m, buf, sizeof(buf));
    std::printf("desc=%s\n", buf);
    std::printf("n_embd=%d\n", llama_model_n_embd(m));
    std::printf("n_layer=%d\n", llama_model_n_layer(m));
    std::printf("n_head=%d\n", llama_model_n_head(m));
    std::printf("n_head_kv=%d\n", llama_model_n_head_kv(m));
    std::printf("n_ctx_train=%d\n", llama_model_n_ctx_train(m));
    std::printf("n_params=%llu\n", static_cast<unsigned long long>(llama_model_n_params(m)));
    std::printf("size_bytes=%llu\n", static_cast<unsigned long long>(llama_model_size(m)));
    std::printf("ftype=%s\n", llama_ftype_name(llama_model_ftype(m)));
    std::printf("rope_type=%d\n", static_cast<int>(llama_model_rope_type(m)));
    return 0;
}

int cmd_logits(const Args& a, bool force_all) {
    if (a.positional.size() != 1) fail("usage: logits MODEL.gguf --tokens 1,2,3 [--all] --out FILE");
    if (!a.has("out")) fail("--out FILE is required");
    const bool all = force_all || a.flag("all");
    const auto toks = tokens_arg(a);
    const size_t n = toks.size();
    const size_t chunk = a.has("batch") ? static_cast<size_t>(a.num("batch", 0)) : n;
    if (chunk == 0) fail("--batch must be > 0");

    Model model(a.positional[0], false, a.flag("no-mmap"));
    check_tokens(model, toks);
    const int nv = model.n_vocab();
    Context ctx(model, a, static_cast<uint32_t>(n), static_cast<uint32_t>(std::min(chunk, n)));

    std::vector<float> out;
    out.reserve((all ? n : 1) * static_cast<size_t>(nv));
    for (size_t b = 0; b < n; b += chunk) {
        const size_t e = std::min(n, b + chunk);
        const bool last_chunk = e == n;
        decode_chunk(ctx.c, toks, b, e, all);
        if (all) {
            for (size_t i = 0; i < e - b; ++i) {
                const float* row = llama_get_logits_ith(ctx.c, static_cast<int32_t>(i));
                if (!row) fail("llama_get_logits_ith returned null");
                out.insert(out.end(), row, row + nv);
            }
        } else if (last_chunk) {
            const float* row = llama_get_logits_ith(ctx.c, -1);
            if (!row) fail("llama_get_logits_ith returned null");
            out.insert(out.end(), row, row + nv);
        }
    }
    const uint32_t rows = static_cast<uint32_t>(all ? n : 1);
    write_logits(a.str("out"), out, rows, static_cast<uint32_t>(nv));
    std::printf("n_vocab=%d\nn_rows=%u\nn_tokens=%zu\nargmax_last=%d\n", nv, rows, n,
                argmax(out.data() + (rows - 1) * static_cast<size_t>(nv), nv));
    return 0;
}

int cmd_greedy(const Args& a) {
    if (a.positional.size() != 1) fail("usage: greedy MODEL.gguf --tokens PROMPT --n 64 [--out FILE]");
    const auto prompt = tokens_arg(a);
    const long n_gen = a.num("n", 16);
    if (n_gen <= 0) fail("--n must be > 0");
    Model model(a.positional[0], false, a.flag("no-mmap"));
    check_tokens(model, prompt);
    const int nv = model.n_vocab();
    const size_t chunk = a.has("batch") ? static_cast<size_t>(a.num("batch", 0)) : prompt.size();
    if (chunk == 0) fail("--batch must be > 0");
    Context ctx(model, a, static_cast<uint32_t>(prompt.size() + n_gen),
                static_cast<uint32_t>(std::min(chunk, prompt.size())));

    std::vector<llama_token> all = prompt;
    for (size_t b = 0; b < prompt.size(); b += chunk)
        decode_chunk(ctx.c, all, b, std::min(prompt.size(), b + chunk), false);

    std::vector<float> dump;
    std::vector<llama_token> gen;
    for (long step = 0; step < n_gen; ++step) {
        const float* row = llama_get_logits_ith(ctx.c, -1);
        if (!row) fail("llama_get_logits_ith returned null");
        if (a.has("out")) dump.insert(dump.end(), row, row + nv);
        const llama_token t = argmax(row, nv);
        gen.push_back(t);
        all.push_back(t);
        if (a.flag("stop-eog") && llama_vocab_is_eog(model.vocab(), t)) break;
        if (step + 1 < n_gen) decode_chunk(ctx.c, all, all.size() - 1, all.size(), false);
    }
    if (a.has("out")) write_logits(a.str("out"), dump, static_cast<uint32_t>(gen.size()), static_cast<uint32_t>(nv));
    std::printf("%s\n", join_ids(gen).c_str());
    return 0;
}

std::string read_text(const Args& a) {
    if (a.has("text")) return a.str("text");
    if (a.has("text-file")) {
        std::ifstream f(a.str("text-file"), std::ios::binary);
        if (!f) fail("cannot open " + a.str("text-file"));
        std::stringstream ss;
        ss << f.rdbuf();
        return ss.str();
    }
    fail("--text or --text-file is required");
}

std::vector<llama_token> tokenize_one(const llama_vocab* vocab, const std::string& text, bool add_special,
                                      bool parse_special) {
    std::vector<llama_token> ids(text.size() + 16);
    int32_t n = llama_tokenize(vocab, text.data(), static_cast<int32_t>(text.size()), ids.data(),
                               static_cast<int32_t>(ids.size()), add_special, parse_special);
    if (n == INT32_MIN) fail("tokenization overflow");
    if (n < 0) {
        ids.resize(static_cast<size_t>(-n));
        n = llama_tokenize(vocab, text.data(), static_cast<int32_t>(text.size()), ids.data(),
                           static_cast<int32_t>(ids.size()), add_special, parse_special);
        if (n < 0) fail("llama_tokenize failed");
    }
    ids.resize(static_cast<size_t>(n));
    return ids;
}

int cmd_tokenize(const Args& a) {
    if (a.positional.size() != 1)
        fail("usage: tokenize MODEL.gguf (--text T | --text-file F [--split-nul]) [--special] [--add-special]");
    const std::string text = read_text(a);
    Model model(a.positional[0], true, a.flag("no-mmap"));
    const bool add_special = a.flag("add-special");
    const bool parse_special = a.flag("special");
    if (!a.flag("split-nul")) {
        std::printf("%s\n", join_ids(tokenize_one(model.vocab(), text, add_special, parse_special)).c_str());
        return 0;
    }
    // many texts in one run: the file holds texts each terminated by a NUL byte; one output
    // line per text (possibly empty)
    size_t pos = 0;
    while (pos < text.size()) {
        size_t end = text.find('\0', pos);
        if (end == std::string::npos) end = text.size();
        const std::string one = text.substr(pos, end - pos);
        std::printf("%s\n", join_ids(tokenize_one(model.vocab(), one, add_special, parse_special)).c_str());
        pos = end + 1;
    }
    return 0;
}

int cmd_detokenize(const Args& a) {
    if (a.positional.size() != 1) fail("usage: detokenize MODEL.gguf --tokens 1,2,3 [--special]");
    const auto toks = tokens_arg(a);
    Model model(a.positional[0], true, a.flag("no-mmap"));
    check_tokens(model, toks);
    std::vector<char> buf(toks.size() * 64 + 64);
    int32_t n = llama_detokenize(model.vocab(), toks.data(), static_cast<int32_t>(toks.size()), buf.data(),
                                 static_cast<int32_t>(buf.size()), false, a.flag("special"));
    if (n < 0) {
        buf.resize(static_cast<size_t>(-n));
        n = llama_detokenize(model.vocab(), toks.data(), static_cast<int32_t>(toks.size()), buf.data(),
                             static_cast<int32_t>(buf.size()), false, a.flag("special"));
        if (n < 0) fail("llama_detokenize failed");
    }
    std::fwrite(buf.data(), 1, static_cast<size_t>(n), stdout);
    return 0;
}

std::string lower(std::string s) {
    for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
}

llama_ftype ftype_by_name(const std::string& name) {
    static const std::map<std::string, llama_ftype> m = {
        {"f32", LLAMA_FTYPE_ALL_F32},        {"f16", LLAMA_FTYPE_MOSTLY_F16},
        {"bf16", LLAMA_FTYPE_MOSTLY_BF16},   {"q4_0", LLAMA_FTYPE_MOSTLY_Q4_0},
        {"q4_1", LLAMA_FTYPE_MOSTLY_Q4_1},   {"q5_0", LLAMA_FTYPE_MOSTLY_Q5_0},
        {"q5_1", LLAMA_FTYPE_MOSTLY_Q5_1},   {"q8_0", LLAMA_FTYPE_MOSTLY_Q8_0},
        {"q2_k", LLAMA_FTYPE_MOSTLY_Q2_K},   {"q2_k_s", LLAMA_FTYPE_MOSTLY_Q2_K_S},
        {"q3_k_s", LLAMA_FTYPE_MOSTLY_Q3_K_S}, {"q3_k_m", LLAMA_FTYPE_MOSTLY_Q3_K_M},
        {"q3_k", LLAMA_FTYPE_MOSTLY_Q3_K_M}, {"q3_k_l", LLAMA_FTYPE_MOSTLY_Q3_K_L},
        {"q4_k_s", LLAMA_FTYPE_MOSTLY_Q4_K_S}, {"q4_k_m", LLAMA_FTYPE_MOSTLY_Q4_K_M},
        {"q4_k", LLAMA_FTYPE_MOSTLY_Q4_K_M}, {"q5_k_s", LLAMA_FTYPE_MOSTLY_Q5_K_S},
        {"q5_k_m", LLAMA_FTYPE_MOSTLY_Q5_K_M}, {"q5_k", LLAMA_FTYPE_MOSTLY_Q5_K_M},
        {"q6_k", LLAMA_FTYPE_MOSTLY_Q6_K},   {"iq4_nl", LLAMA_FTYPE_MOSTLY_IQ4_NL},
        {"iq4_xs", LLAMA_FTYPE_MOSTLY_IQ4_XS}, {"iq3_xxs", LLAMA_FTYPE_MOSTLY_IQ3_XXS},
        {"iq3_xs", LLAMA_FTYPE_MOSTLY_IQ3_XS}, {"iq3_s", LLAMA_FTYPE_MOSTLY_IQ3_S},
        {"iq3_m", LLAMA_FTYPE_MOSTLY_IQ3_M}, {"iq2_xxs", LLAMA_FTYPE_MOSTLY_IQ2_XXS},
        {"iq2_xs", LLAMA_FTYPE_MOSTLY_IQ2_XS}, {"iq2_s", LLAMA_FTYPE_MOSTLY_IQ2_S},
        {"iq2_m", LLAMA_FTYPE_MOSTLY_IQ2_M}, {"iq1_s", LLAMA_FTYPE_MOSTLY_IQ1_S},
        {"iq1_m", LLAMA_FTYPE_MOSTLY_IQ1_M}, {"tq1_0", LLAMA_FTYPE_MOSTLY_TQ1_0},
        {"tq2_0", LLAMA_FTYPE_MOSTLY_TQ2_0},
    };
    auto it = m.find(lower(name));
    if (it == m.end()) {
        std::string known;
        for (auto& kv : m) known += " " + kv.first;
        fail("unknown quantization type '" + name + "'; known:" + known);
    }
    return it->second;
}

ggml_type ggml_type_by_name(const std::string& name) {
    const std::string want = lower(name);
    for (int t = 0; t < GGML_TYPE_COUNT; ++t) {
        const char* n = ggml_type_name(static_cast<ggml_type>(t));
        if (n && lower(n) == want) return static_cast<ggml_type>(t);
    }
    fail("unknown ggml tensor type '" + name + "'");
}

// A uniform importance matrix (every weight 1.0) for every tensor of 2 or more dimensions of
// `path`: llama.cpp refuses IQ2_XXS/IQ2_XS/IQ2_S/IQ3_XXS/IQ1_* (and Q2_K in Q2_K_S) without
// one, and with all ones the quantizers weigh every column alike, which is what they do
// without an imatrix, so the files stay comparable with the other types'. llama.cpp looks
// the entries up by tensor name and wants ne[0]*ne[2] values (one per column per expert).
struct UniformImatrix {
    std::vector<std::string> names;
    std::vector<std::vector<float>> values;
    std::vector<llama_model_imatrix_data> entries;  // null-terminated, points into the above
};

UniformImatrix uniform_imatrix(const std::string& path) {
    ggml_context* meta = nullptr;
    gguf_init_params ip{};
    ip.no_alloc = true;
    ip.ctx = &meta;
    gguf_context* g = gguf_init_from_file(path.c_str(), ip);
    if (!g || !meta) fail("cannot read the tensors of " + path + " for --imatrix-ones");
    UniformImatrix m;
    for (ggml_tensor* t = ggml_get_first_tensor(meta); t; t = ggml_get_next_tensor(meta, t)) {
        if (ggml_n_dims(t) < 2) continue;
        m.names.emplace_back(ggml_get_name(t));
        m.values.emplace_back(static_cast<size_t>(t->ne[0] * t->ne[2]), 1.0f);
    }
    gguf_free(g);
    ggml_free(meta);
    for (size_t i = 0; i < m.names.size(); ++i)
        m.entries.push_back({m.names[i].c_str(), m.values[i].data(), m.values[i].size()});
    m.entries.push_back({nullptr, nullptr, 0});
    return m;
}

int cmd_quantize(const Args& a) {
    if (a.positional.size() != 3) fail("usage: quantize IN.gguf OUT.gguf TYPE [--threads N] [--pure] [--allow-requantize] [--embd-type T] [--output-type T] [--imatrix-ones]");
    llama_model_quantize_params p = llama_model_quantize_default_params();
    p.ftype = ftype_by_name(a.positional[2]);
    p.nthread = static_cast<int32_t>(a.num("threads", 2));
    p.pure = a.flag("pure");
    p.allow_requantize = a.flag("allow-requantize");
    if (a.has("embd-type")) p.token_embedding_type = ggml_type_by_name(a.str("embd-type"));
    if (a.has("output-type")) p.output_tensor_type = ggml_type_by_name(a.str("output-type"));
    UniformImatrix imatrix;
    if (a.flag("imatrix-ones")) {
        imatrix = uniform_imatrix(a.positional[0]);
        p.imatrix = imatrix.entries.data();
    }
    const uint32_t rc = llama_model_quantize(a.positional[0].c_str(), a.positional[1].c_str(), &p);
    if (rc != 0) fail("llama_model_quantize failed with code " + std::to_string(rc) + " (rerun with --verbose)");
    std::printf("%s\n", a.positional[1].c_str());
    return 0;
}

// ---------------------------------------------------------------- block formats
// Declared in ggml's private ggml-quants.h (exported by libggml-base): Q8_K is an activation
// type without type-traits converters, so the reference functions are called directly.
extern "C" void quantize_row_q8_K_ref(const float* x, void* y, int64_t k);
extern "C" void dequantize_row_q8_K(const void* x, float* y, int64_t k);

std::vector<uint8_t> read_bytes(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    if (!f) fail("cannot open " + path);
    return std::vector<uint8_t>((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
}

void write_bytes(const std::string& path, const void* data, size_t n) {
    FILE* f = std::fopen(path.c_str(), "wb");
    if (!f) fail("cannot open " + path + " for writing");
    bool ok = std::fwrite(data, 1, n, f) == n;
    ok = (std::fclose(f) == 0) && ok;
    if (!ok) fail("write error on " + path);
}

int cmd_dequant(const Args& a) {
    if (a.positional.size() != 3) fail("usage: dequant TYPE IN.bin OUT.f32");
    const ggml_type type = ggml_type_by_name(a.positional[0]);
    const std::vector<uint8_t> in = read_bytes(a.positional[1]);
    const size_t block_bytes = ggml_type_size(type);
    if (in.size() % block_bytes) fail(a.positional[1] + ": not a whole number of " + a.positional[0] + " blocks");
    const int64_t n = static_cast<int64_t>(in.size() / block_bytes) * ggml_blck_size(type);
    std::vector<float> out(static_cast<size_t>(n));
    if (type == GGML_TYPE_Q8_K) {
        dequantize_row_q8_K(in.data(), out.data(), n);
    } else {
        const ggml_type_traits* t = ggml_get_type_traits(type);
        if (!t->to_float) fail(std::string("ggml has no to_float for ") + ggml_type_name(type));
        t->to_float(in.data(), out.data(), n);
    }
    write_bytes(a.positional[2], out.data(), out.size() * sizeof(float));
    std::printf("n=%lld\n", static_cast<long long>(n));
    return 0;
}

int cmd_quantize_rows(const Args& a) {
    if (a.positional.size() != 4) fail("usage: quantize-rows TYPE N_PER_ROW IN.f32 OUT.bin");
    const ggml_type type = ggml_type_by_name(a.positional[0]);
    const int64_t n_per_row = std::atoll(a.positional[1].c_str());
    const std::vector<uint8_t> in = read_bytes(a.positional[2]);
    const int64_t blck = ggml_blck_size(type);
    if (n_per_row <= 0 || n_per_row % blck) fail("N_PER_ROW must be a positive multiple of the block size");
    if (in.size() % (sizeof(float) * static_cast<size_t>(n_per_row)))
        fail(a.positional[2] + ": not a whole number of rows");
    if (ggml_quantize_requires_imatrix(type)) fail(std::string(ggml_type_name(type)) + " needs an importance matrix");
    std::vector<float> src(in.size() / sizeof(float));
    std::memcpy(src.data(), in.data(), in.size());
    const int64_t nrows = static_cast<int64_t>(src.size()) / n_per_row;
    const size_t row_size = ggml_row_size(type, n_per_row);
    std::vector<uint8_t> out(static_cast<size_t>(nrows) * row_size, 0);  // Q8_K leaves bsums of zero blocks alone
    for (int64_t r = 0; r < nrows; ++r) {
        const float* x = src.data() + r * n_per_row;
        uint8_t* y = out.data() + static_cast<size_t>(r) * row_size;
        if (type == GGML_TYPE_Q8_K) quantize_row_q8_K_ref(x, y, n_per_row);
        else if (type == GGML_TYPE_Q8_1) ggml_get_type_traits(type)->from_float_ref(x, y, n_per_row);
        else if (ggml_quantize_chunk(type, x, y, 0, 1, n_per_row, nullptr) != row_size)
            fail(std::string("ggml_quantize_chunk does not quantize ") + ggml_type_name(type));
    }
    write_bytes(a.positional[3], out.data(), out.size());
    std::printf("rows=%lld\nrow_bytes=%zu\n", static_cast<long long>(nrows), row_size);
    return 0;
}

void usage() {
    std::fputs(
        "usage: llama_oracle COMMAND ARGS [--verbose]\n"
        "  info       MODEL.gguf [--meta] [--vocab-only]\n"
        "  logits     MODEL.gguf --tokens 1,2,3 [--all] [--batch N] [--threads N] [--ctx N]\n"
        "                        [--kv f16|f32] [--fa auto|on|off] --out FILE\n"
        "  teacher    MODEL.gguf --tokens ... --out FILE        (logits of every position)\n"
        "  greedy     MODEL.gguf --tokens PROMPT --n 64 [--out FILE] [--stop-eog] [--kv ..] [--threads N]\n"
        "  tokenize   MODEL.gguf (--text T | --text-file F [--split-nul]) [--special] [--add-special]\n"
        "             (--split-nul: F holds NUL-terminated texts, one output line each)\n"
        "  detokenize MODEL.gguf --tokens 1,2,3 [--special]\n"
        "  quantize   IN.gguf OUT.gguf TYPE [--threads N] [--pure] [--allow-requantize]\n"
        "                        [--embd-type T] [--output-type T] [--imatrix-ones]\n"
        "             (--imatrix-ones: a uniform importance matrix, for IQ2_XS/IQ2_M/Q2_K_S ...)\n"
        "  dequant    TYPE IN.bin OUT.f32     (raw blocks -> float32 via ggml's to_float)\n"
        "  quantize-rows TYPE N_PER_ROW IN.f32 OUT.bin   (ggml_quantize_chunk, no imatrix)\n"
        "  bench     MODEL.gguf [--pp 512] [--tg 128] [--depth 0] [--seqs 1] [--reps 3]   (JSON lines of tok/s)\n"
        "  bench     MODEL.gguf --mode latency [--reps 3] [--ctx 4096]   (load s, TTFT ms, peak RSS)\n"
        "--tokens-file F may replace --tokens (ids separated by commas/whitespace).\n"
        "Logits files: \"QLGT\", u32 version=1, u32 n_rows, u32 n_vocab, then f32[n_rows][n_vocab].\n"
        "Defaults: --kv f16 and --fa auto (llama.cpp's own defaults), --threads 2.\n",
        stderr);
}


// Times prompt processing (--pp tokens in one llama_decode) and generation (--tg single-token
// decodes) after --depth tokens already in the cache, --reps times each, exactly as `qwen
// bench` does (examples/cli/bench_cmd.cpp), and prints one JSON line per test with every
// sample in tokens/s. The tokens are pseudo-random ids (speed does not depend on them).
// The --mode latency prompt: Qwen2.5's chat template (default system prompt) around the fixed
// user message of `qwen bench --latency` (examples/cli/bench_cmd.cpp, which renders it with
// qwen_chat_render); 100 tokens. Written out here so both engines tokenize the same text
// whatever template the GGUF carries.
const char* const kLatencyPrompt =
    "<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\n"
    "<|im_start|>user\nSummarize the following note in two sentences. The team moved the weekly planning "
    "meeting from Monday morning to Tuesday afternoon because several people travel on Mondays. The new slot "
    "starts at two o'clock, lasts forty-five minutes, and will be held in the small conference room on the "
    "third floor. Remote attendees can join through the usual video link, as before.<|im_end|>\n<|im_start|>assistant\n";

void print_samples(const char* key, const std::vector<double>& v) {
    std::printf("\"%s\": [", key);
    for (size_t i = 0; i < v.size(); ++i) std::printf("%s%.4f", i ? ", " : "", v[i]);
    std::printf("]");
}

// Load seconds (llama_model_load_from_file + llama_init_from_model), then time to first
// token on that fresh model and context (tokenize + prefill + greedy pick), --reps times,
// then the process's peak RSS (ru_maxrss, KiB on Linux, mapped file pages included).
int cmd_bench_latency(const Args& a) {
    const long reps = a.num("reps", 3), threads = a.num("threads", 2);
    if (reps <= 0) fail("--reps must be > 0");
    Args ca = a;
    if (!ca.has("ctx")) ca.opts["ctx"] = "4096";
    using clock = std::chrono::steady_clock;
    const std::string prompt = kLatencyPrompt;
    std::vector<double> load_s, ttft_ms;
    size_t n_prompt = 0;
    llama_token first = -1;
    uint32_t n_ctx = 0;
    for (long r = 0; r < reps; ++r) {
        const auto t0 = clock::now();
        Model model(a.positional[0], false, a.flag("no-mmap"));
        Context ctx(model, ca, 1, 512);
        const auto t1 = clock::now();
        const std::vector<llama_token> toks = tokenize_one(model.vocab(), prompt, false, true);
        if (toks.empty() || toks.size() > 512) fail("latency prompt: unexpected token count");
        decode_chunk(ctx.c, toks, 0, toks.size(), false);
        first = argmax(llama_get_logits_ith(ctx.c, -1), model.n_vocab());
        const auto t2 = clock::now();
        load_s.push_back(std::chrono::duration<double>(t1 - t0).count());
        ttft_ms.push_back(1e3 * std::chrono::duration<double>(t2 - t1).count());
        n_prompt = toks.size();
        n_ctx = llama_n_ctx(ctx.c);
    }
    rusage ru{};
    getrusage(RUSAGE_SELF, &ru);
    std::printf("{\"engine\": \"llama.cpp\", \"test\": \"latency\", \"threads\": %ld, \"n_ctx\": %u, "
                "\"prompt_tokens\": %zu, \"first_token\": %d, ",
                threads, n_ctx, n_prompt, first);
    print_samples("load_s", load_s);
    std::printf(", ");
    print_samples("ttft_ms", ttft_ms);
    std::printf(", \"peak_rss_mib\": %.1f}\n", double(ru.ru_maxrss) / 1024.0);
    return 0;
}

int cmd_bench(const Args& a) {
    const std::string mode = a.str("mode", "speed");
    if (mode != "speed" && mode != "latency") fail("--mode must be speed or latency, not " + mode);
    if (mode == "latency") {
        if (a.positional.size() != 1) fail("usage: bench MODEL.gguf --mode latency [--reps 3] [--ctx 4096]");
        return cmd_bench_latency(a);
    }
    if (a.positional.size() != 1) fail("usage: bench MODEL.gguf [--pp 512] [--tg 128] [--depth 0] [--reps 3]");
    const long pp = a.num("pp", 512), tg = a.num("tg", 128), depth = a.num("depth", 0), reps = a.num("reps", 3);
    if (pp < 0 || tg < 0 || depth < 0 || reps <= 0) fail("--pp, --tg, --depth must be >= 0 and --reps > 0");
    Model model(a.positional[0], false, a.flag("no-mmap"));
    const uint32_t chunk = static_cast<uint32_t>(std::max<long>({pp, 512}));
    const uint32_t total = static_cast<uint32_t>(depth + std::max<long>({pp, tg, 1}));
    Context ctx(model, a, total, chunk);
    llama_memory_t mem = llama_get_memory(ctx.c);

    std::vector<llama_token> toks(static_cast<size_t>(total));
    uint64_t s = 0x9E3779B97F4A7C15ull;
    for (auto& t : toks) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        t = static_cast<llama_token>((s >> 33) % static_cast<uint64_t>(model.n_vocab()));
    }
    auto rewind = [&](long n) {
        if (!llama_memory_seq_rm(mem, 0, static_cast<llama_pos>(n), -1)) fail("llama_memory_seq_rm failed");
    };
    decode_chunk(ctx.c, toks, 0, 1, false);  // warm-up: page the weights in
    rewind(0);
    for (long b = 0; b < depth; b += chunk) decode_chunk(ctx.c, toks, b, std::min<long>(depth, b + chunk), false);
    using clock = std::chrono::steady_clock;
    auto report = [&](const char* kind, long n, const std::vector<double>& tps, long seqs = 1) {
        const std::string test = kind + std::to_string(n) + (seqs > 1 ? "x" + std::to_string(seqs) : "");
        std::printf("{\"engine\": \"llama.cpp\", \"test\": \"%s\", \"depth\": %ld, \"threads\": %ld, \"tok_s\": [",
                    test.c_str(), depth, a.num("threads", 2));
        for (size_t i = 0; i < tps.size(); ++i) std::printf("%s%.3f", i ? ", " : "", tps[i]);
        std::printf("]}\n");
        std::fflush(stdout);
    };
    if (pp > 0) {
        std::vector<double> tps;
        for (long r = 0; r < reps; ++r) {
            rewind(depth);
            const auto t0 = clock::now();
            decode_chunk(ctx.c, toks, static_cast<size_t>(depth), static_cast<size_t>(depth + pp), false);
            tps.push_back(double(pp) / std::chrono::duration<double>(clock::now() - t0).count());
        }
        report("pp", pp, tps);
    }
    if (tg > 0) {
        std::vector<double> tps;
        for (long r = 0; r < reps; ++r) {
            rewind(depth);
            const auto t0 = clock::now();
            for (long i = 0; i < tg; ++i)
                decode_chunk(ctx.c, toks, static_cast<size_t>(depth + i), static_cast<size_t>(depth + i + 1), false);
            tps.push_back(double(tg) / std::chrono::duration<double>(clock::now() - t0).count());
        }
        report("tg", tg, tps);
    }
    // --seqs S: S sequences decoding together, one llama_batch of S tokens (seq ids 0..S-1)
    // per step, as llama-batched-bench does; tokens/s counts all of them.
    const long n_seq = a.num("seqs", 1);
    if (n_seq > 1 && tg > 0) {
        Context bctx(model, a, total + static_cast<uint32_t>(n_seq), chunk, static_cast<uint32_t>(n_seq));
        llama_memory_t bmem = llama_get_memory(bctx.c);
        toks.resize(toks.size() + static_cast<size_t>(n_seq), 1);
        llama_batch b = llama_batch_init(static_cast<int32_t>(std::max<long>(n_seq, chunk)), 0, static_cast<int32_t>(n_seq));
        auto decode = [&](int32_t n) {
            b.n_tokens = n;
            if (llama_decode(bctx.c, b) != 0) fail("llama_decode failed in the batched bench");
        };
        for (long sq = 0; sq < n_seq; ++sq)
            for (long b0 = 0; b0 < depth; b0 += chunk) {
                const long b1 = std::min<long>(depth, b0 + chunk);
                for (long i = b0; i < b1; ++i) {
                    b.token[i - b0] = toks[static_cast<size_t>(i)];
                    b.pos[i - b0] = static_cast<llama_pos>(i);
                    b.n_seq_id[i - b0] = 1;
                    b.seq_id[i - b0][0] = static_cast<llama_seq_id>(sq);
                    b.logits[i - b0] = i + 1 == b1;
                }
                decode(static_cast<int32_t>(b1 - b0));
            }
        std::vector<double> tps;
        for (long r = 0; r < reps; ++r) {
            for (long sq = 0; sq < n_seq; ++sq)
                if (!llama_memory_seq_rm(bmem, static_cast<llama_seq_id>(sq), static_cast<llama_pos>(depth), -1))
                    fail("llama_memory_seq_rm failed");
            const auto t0 = clock::now();
            for (long k = 0; k < tg; ++k) {
                for (long sq = 0; sq < n_seq; ++sq) {
                    b.token[sq] = toks[static_cast<size_t>(depth + k + sq)];
                    b.pos[sq] = static_cast<llama_pos>(depth + k);
                    b.n_seq_id[sq] = 1;
                    b.seq_id[sq][0] = static_cast<llama_seq_id>(sq);
                    b.logits[sq] = 1;
                }
                decode(static_cast<int32_t>(n_seq));
            }
            tps.push_back(double(tg * n_seq) / std::chrono::duration<double>(clock::now() - t0).count());
        }
        llama_batch_free(b);
        report("tg", tg, tps, n_seq);
    }
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 2 || !std::strcmp(argv[1], "-h") || !std::strcmp(argv[1], "--help")) {
        usage();
        return argc < 2 ? 2 : 0;
    }
    const std::string cmd = argv[1];
    try {
        Args a = parse_args(argc, argv, 2);
        g_verbose = a.flag("verbose");
        backend_init();
        int rc;
        if (cmd == "info") rc = cmd_info(a);
        else if (cmd == "logits") rc = cmd_logits(a, false);
        else if (cmd == "teacher") rc = cmd_logits(a, true);
        else if (cmd == "greedy") rc = cmd_greedy(a);
        else if (cmd == "tokenize") rc = cmd_tokenize(a);
        else if (cmd == "detokenize") rc = cmd_detokenize(a);
        else if (cmd == "quantize") rc = cmd_quantize(a);
        else if (cmd == "dequant") rc = cmd_dequant(a);
        else if (cmd == "quantize-rows") rc = cmd_quantize_rows(a);
        else if (cmd == "bench") rc = cmd_bench(a);
        else {
            usage();
            fail("unknown command '" + cmd + "'");
        }
        std::fflush(stdout);
        llama_backend_free();
        return rc;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "llama_oracle: error: %s\n", e.what());
        return 1;
    }
}
