// qwen info: what a model file holds (hyper-parameters, tensor types and sizes, sampling
// defaults, tokenizer), and qwen tokenize: the ids and pieces of a text. `info` reads the
// container only (no weights are validated or touched), so it also describes files the
// library would refuse to load.
#include "cli.hpp"
#include "hub.hpp"
#include "core/error.hpp"
#include "format/gguf.hpp"
#include "format/gguf_source.hpp"
#include "format/hf_source.hpp"

#include <qwen/qwen.h>

#include <fstream>
#include <map>
#include <memory>
#include <sstream>

namespace qwen_cli {

namespace {

const char* kInfoHelp =
    "usage: qwen info MODEL [--tensors]\n"
    "\n"
    "Describes a GGUF file or a Hugging Face folder: hyper-parameters, tensor types with their\n"
    "sizes, sampling defaults and tokenizer metadata. --tensors lists every tensor.\n";

const char* kTokenizeHelp =
    "usage: qwen tokenize -m MODEL (-p TEXT | -f FILE) [--special] [--ids]\n"
    "\n"
    "Prints one line per token: its id and its text (bytes that are not printable are escaped).\n"
    "--special parses control-token text such as <|im_start|> into its id; --ids prints only the\n"
    "ids, comma-separated.\n";

std::string mib(double bytes) {
    std::ostringstream s;
    s.precision(1);
    s << std::fixed << bytes / (1024.0 * 1024.0) << " MiB";
    return s.str();
}

std::string dims_str(const std::vector<uint64_t>& d) {
    std::string s = "{";
    for (size_t i = 0; i < d.size(); ++i) s += (i ? ", " : "") + std::to_string(d[i]);
    return s + "}";
}

std::string escaped(const std::string& piece) {
    std::string out;
    for (unsigned char c : piece) {
        if (c == '\n') out += "\\n";
        else if (c == '\t') out += "\\t";
        else if (c == '\\') out += "\\\\";
        else if (c < 0x20 || c == 0x7f) {
            char b[8];
            std::snprintf(b, sizeof b, "\\x%02x", c);
            out += b;
        } else out += char(c);
    }
    return out;
}

}  // namespace

int info_main(int argc, char** argv) {
    std::string path;
    std::vector<char*> rest{argv[0]};
    for (int i = 1; i < argc; ++i) {
        if (argv[i][0] != '-' && path.empty()) path = argv[i];
        else rest.push_back(argv[i]);
    }
    Args a(int(rest.size()), rest.data(), {"tensors"}, {});
    if (a.help()) {
        std::fputs(kInfoHelp, stdout);
        return 0;
    }
    if (!a.error().empty()) throw UsageError(a.error());
    if (path.empty()) throw UsageError("give the model file or folder");
    path = resolve_model(path);

    std::unique_ptr<qwen::ModelSource> src;
    std::shared_ptr<const qwen::GgufFile> gguf;
    try {
        if (qwen::is_hf_folder(path)) {
            src = qwen::open_hf_folder(path);
            std::printf("%s: Hugging Face folder\n", path.c_str());
        } else {
            gguf = std::make_shared<const qwen::GgufFile>(path);
            src = qwen::open_gguf_source(gguf);
            const auto name = gguf->get_string("general.name");
            std::printf("%s: GGUF v%u, %zu metadata keys%s%s\n", path.c_str(), gguf->version(), gguf->kvs().size(),
                        name ? ", name: " : "", name ? std::string(*name).c_str() : "");
        }
    } catch (const qwen::Error& e) {
        throw std::runtime_error(std::string(qwen_status_name(e.status())) + ": " + e.what());
    }
    const qwen::Qwen2Hparams& h = src->hparams();
    std::printf("hyper-parameters: vocab %u, context %u, embedding %u, layers %u, heads %u (kv %u, dim %u), "
                "ffn %u, rms eps %g, rope theta %g\n",
                h.n_vocab, h.n_ctx_train, h.n_embd, h.n_layer, h.n_head, h.n_head_kv, h.head_dim, h.n_ff,
                double(h.rms_eps), double(h.rope_theta));
    std::printf("embeddings: %s\n", src->find("output.weight") ? "untied (own output.weight)" : "tied (LM head = token_embd)");

    struct Sum {
        size_t n = 0;
        double bytes = 0, params = 0;
    };
    std::map<std::string, Sum> by_type;
    Sum total;
    for (const auto& t : src->tensors()) {
        double p = 1;
        for (auto d : t.dims) p *= double(d);
        Sum& s = by_type[std::string(qwen::tensor_type_name(t.type))];
        s.n++, s.bytes += double(t.bytes), s.params += p;
        total.n++, total.bytes += double(t.bytes), total.params += p;
    }
    std::printf("tensors: %zu, %.1f M parameters, %s (%.2f bits per weight)\n", total.n, total.params / 1e6,
                mib(total.bytes).c_str(), total.params ? total.bytes * 8 / total.params : 0.0);
    for (const auto& [type, s] : by_type)
        std::printf("  %-8s %4zu tensors  %8.1f M parameters  %12s\n", type.c_str(), s.n, s.params / 1e6,
                    mib(s.bytes).c_str());
    if (const auto g = src->generation_defaults())
        std::printf("sampling defaults: %s, temperature %g, top_p %g, top_k %d, repetition_penalty %g\n",
                    g->do_sample ? "sample" : "greedy", double(g->temperature), double(g->top_p), g->top_k,
                    double(g->repetition_penalty));
    else
        std::printf("sampling defaults: none in the file (libqwen uses Qwen2.5-Instruct's)\n");
    if (gguf) {
        const auto model = gguf->get_string("tokenizer.ggml.model");
        const auto pre = gguf->get_string("tokenizer.ggml.pre");
        const auto eos = gguf->get_uint("tokenizer.ggml.eos_token_id");
        std::printf("tokenizer: %s%s%s, eos id %s, chat template %s\n", model ? std::string(*model).c_str() : "none",
                    pre ? " / " : "", pre ? std::string(*pre).c_str() : "", eos ? std::to_string(*eos).c_str() : "-",
                    gguf->find("tokenizer.chat_template") ? "present" : "absent");
    }
    if (a.has("tensors"))
        for (const auto& t : src->tensors())
            std::printf("  %-32s %-8s %-16s %10zu bytes\n", t.name.c_str(),
                        std::string(qwen::tensor_type_name(t.type)).c_str(), dims_str(t.dims).c_str(), t.bytes);
    return 0;
}

int tokenize_main(int argc, char** argv) {
    Args a(argc, argv, {"special", "ids"}, {"model", "prompt", "file"}, {{"-m", "model"}, {"-p", "prompt"}, {"-f", "file"}});
    if (a.help()) {
        std::fputs(kTokenizeHelp, stdout);
        return 0;
    }
    if (!a.error().empty()) throw UsageError(a.error());
    if (!a.has("model")) throw UsageError("-m MODEL is required");
    if (a.has("prompt") == a.has("file")) throw UsageError("give the text with -p TEXT or -f FILE");
    std::string text = a.get("prompt");
    if (a.has("file")) {
        std::ifstream f(a.get("file"), std::ios::binary);
        if (!f) throw std::runtime_error("cannot read '" + a.get("file") + "'");
        std::ostringstream ss;
        ss << f.rdbuf();
        text = ss.str();
    }
    qwen_model* model = nullptr;
    if (qwen_status st0 = qwen_model_load(resolve_model(a.get("model")).c_str(), nullptr, &model); st0 != QWEN_OK)
        throw std::runtime_error(std::string("loading the model: ") + qwen_status_name(st0) + ": " + qwen_last_error());
    std::unique_ptr<qwen_model, void (*)(qwen_model*)> owner(model, qwen_model_free);
    const uint32_t flags = a.has("special") ? QWEN_TOKENIZE_PARSE_SPECIAL : 0u;
    size_t n = 0;
    qwen_status st = qwen_tokenize(model, text.data(), text.size(), flags, nullptr, 0, &n);
    std::vector<int32_t> ids(n);
    if (st == QWEN_ERR_BUFFER_TOO_SMALL) st = qwen_tokenize(model, text.data(), text.size(), flags, ids.data(), n, &n);
    if (st != QWEN_OK) throw std::runtime_error(std::string(qwen_status_name(st)) + ": " + qwen_last_error());
    if (a.has("ids")) {
        for (size_t i = 0; i < ids.size(); ++i) std::printf("%s%d", i ? "," : "", ids[i]);
        std::printf("\n");
        return 0;
    }
    char piece[256];
    for (int32_t id : ids) {
        size_t len = 0;
        if (qwen_token_to_piece(model, id, piece, sizeof piece, &len) != QWEN_OK) len = 0;
        std::printf("%6d  %s\n", id, escaped(std::string(piece, len)).c_str());
    }
    std::fprintf(stderr, "%zu tokens\n", ids.size());
    return 0;
}

}  // namespace qwen_cli
