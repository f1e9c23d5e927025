// Writes the seed corpora of the fuzzers into OUT/<fuzzer>/: the text seeds committed in
// tests/fuzz/seeds/<fuzzer>/, plus what is made here so that no binary is committed: tiny
// synthetic models (GGUF, and a Hugging Face folder packed as one input), the tokenizer test
// corpus with each flag combination, and the grammars the seed schemas compile to.
//
// Usage: fuzz_seeds OUT
#include "chat/json_text.hpp"
#include "core/error.hpp"
#include "fuzz_util.hpp"
#include "grammar/json_schema.hpp"
#include "synth/synth_model.hpp"
#include "tokenizer/tokenizer.hpp"

#include <fstream>
#include <sstream>

namespace fs = std::filesystem;
using qwen::cat;
using qwen::fuzz::kSeparator;

namespace {

std::string read(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

void write(const fs::path& p, std::string_view bytes) { qwen::fuzz::write_file(p.string(), bytes); }

// A model small enough to mutate quickly (about 80 KB in F32) with every tensor and key the
// real one has: one layer, 32 wide, a byte-level vocabulary with the ChatML control tokens.
qwen::SynthSpec tiny_spec(qwen::TensorType dtype) {
    qwen::SynthSpec s = qwen::synth_spec("tiny");
    qwen::Qwen2Hparams& h = s.hparams;
    h.n_vocab = 288;
    h.n_ctx_train = 64;
    h.n_embd = 32;
    h.n_layer = 1;
    h.n_head = 2;
    h.n_head_kv = 1;
    h.head_dim = 16;
    h.n_ff = 64;
    s.dtype = dtype;
    return s;
}

qwen::Tokenizer byte_tokenizer() {
    std::vector<qwen::Tokenizer::Token> toks;
    for (int b = 0; b < 256; ++b) toks.push_back({std::string(1, char(b)), qwen::TokenType::Normal});
    for (const char* t : {"<|endoftext|>", "<|im_start|>", "<|im_end|>"}) toks.push_back({t, qwen::TokenType::Control});
    qwen::Tokenizer::SpecialIds sp;
    sp.eos = 258;
    sp.pad = 256;
    return qwen::Tokenizer(toks, {}, sp);
}

void model_seeds(const fs::path& out, const fs::path& scratch) {
    const qwen::Tokenizer tok = byte_tokenizer();
    for (auto [dtype, name] : {std::pair{qwen::TensorType::F32, "f32"}, std::pair{qwen::TensorType::F16, "f16"}}) {
        const qwen::SynthSpec spec = tiny_spec(dtype);
        const auto weights = qwen::synth_weights(spec);
        qwen::write_synth_gguf(spec, weights, tok, "{{ messages }}", (out / "gguf" / cat(name, ".gguf")).string());

        // The folder as one input: config.json, generation_config.json, model.safetensors.
        const fs::path dir = scratch / cat("hf-", name);
        qwen::write_synth_hf(spec, weights, dir.string());
        write(out / "hf" / name,
              cat(read(dir / "config.json"), kSeparator, read(dir / "generation_config.json"), kSeparator,
                  read(dir / "model.safetensors")));
    }
}

void tokenizer_seeds(const fs::path& out, const fs::path& corpus) {
    for (const auto& e : fs::directory_iterator(corpus))
        for (char flags : {0, 1, 2, 5, 7})  // parse_special 1, skip_special 2, raw 4
            write(out / "tokenizer" / cat(e.path().stem().string(), "-", int(flags)),
                  std::string(1, flags) + read(e.path()));
}

// The grammars of the seed schemas, each followed by token choices for fuzz_grammar.
void grammar_seeds(const fs::path& out, const fs::path& schemas) {
    for (const auto& e : fs::directory_iterator(schemas)) {
        if (e.path().extension() != ".json") continue;  // the others also carry a regex part
        try {
            const std::string gbnf = qwen::json_schema_to_gbnf(qwen::parse_json_text(read(e.path()), "schema"));
            write(out / "grammar" / cat("schema-", e.path().stem().string()),
                  cat(gbnf, kSeparator, "\x01\x07\x20\x03\x11\x42\x99\xff\x00\x10\x05\x33"));
        } catch (const qwen::Error& err) {
            std::fprintf(stderr, "fuzz_seeds: %s: %s (kept only as a schema seed)\n", e.path().c_str(), err.what());
        }
    }
}

}  // namespace

int main(int argc, char** argv) {
    if (argc != 2) {
        std::fprintf(stderr, "usage: fuzz_seeds OUT\n");
        return 2;
    }
    const fs::path out = argv[1], seeds = fs::path(QWEN_SOURCE_DIR) / "tests/fuzz/seeds";
    const fs::path scratch = qwen::fuzz::scratch_dir();
    try {
        for (const char* f : {"gguf", "hf", "tokenizer", "chat", "json_schema", "grammar"}) {
            fs::create_directories(out / f);
            if (fs::exists(seeds / f))
                for (const auto& e : fs::directory_iterator(seeds / f))
                    fs::copy_file(e.path(), out / f / e.path().filename(), fs::copy_options::overwrite_existing);
        }
        model_seeds(out, scratch);
        tokenizer_seeds(out, fs::path(QWEN_SOURCE_DIR) / "tests/tokenizer/corpus");
        grammar_seeds(out, seeds / "json_schema");
    } catch (const std::exception& e) {
        std::fprintf(stderr, "fuzz_seeds: %s\n", e.what());
        return 1;
    }
    return 0;
}
