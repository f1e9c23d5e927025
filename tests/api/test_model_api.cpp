// The model and context C API on a tiny synthetic model: load from GGUF and from a Hugging
// Face folder, evaluate, read logits, truncate, and every documented error.
#include <qwen/qwen.h>

#include "format/gguf.hpp"
#include "synth/synth_model.hpp"
#include "tokenizer/tokenizer.hpp"

#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

using namespace qwen;

namespace {

const std::string kDir = std::string(QWEN_BINARY_DIR) + "/test_model_api";

// A byte-level tokenizer (256 single-byte tokens, one merge, <|im_end|>): enough for the
// model API, with no dependence on the real vocabulary.
std::unique_ptr<Tokenizer> tiny_tokenizer() {
    std::vector<Tokenizer::Token> toks;
    for (int b = 0; b < 256; ++b) toks.push_back({std::string(1, char(b)), TokenType::Normal});
    toks.push_back({"ab", TokenType::Normal});
    toks.push_back({"<|im_end|>", TokenType::Control});
    Tokenizer::SpecialIds sp;
    sp.eos = 257;
    return std::make_unique<Tokenizer>(toks, std::vector<std::pair<int32_t, int32_t>>{{'a', 'b'}}, sp);
}

struct Files {
    std::string gguf, hf, no_embd, nan_norm, nan_matrix;
};

const Files& files() {
    static const Files f = [] {
        std::filesystem::create_directories(kDir);
        SynthSpec spec = synth_spec("tiny");
        spec.hparams.n_vocab = 320;
        auto w = synth_weights(spec);
        auto tok = tiny_tokenizer();
        Files out{kDir + "/tiny.gguf", kDir + "/tiny-hf", kDir + "/no-embd.gguf", kDir + "/nan-norm.gguf",
                  kDir + "/nan-matrix.gguf"};
        write_synth_gguf(spec, w, *tok, "{{ messages }}", out.gguf);
        write_synth_hf(spec, w, out.hf);
        // The HF folder needs tokenizer files: the same byte-level vocabulary in tokenizer.json form.
        {
            std::ofstream tj(out.hf + "/tokenizer.json");
            tj << R"({"normalizer":{"type":"NFC"},"pre_tokenizer":{"type":"Sequence","pretokenizers":[)"
               << R"({"type":"Split","pattern":{"Regex":"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|)"
               << R"(\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"},)"
               << R"("behavior":"Isolated","invert":false},{"type":"ByteLevel","add_prefix_space":false,)"
               << R"("trim_offsets":false,"use_regex":false}]},"model":{"type":"BPE","vocab":{)";
            // GPT-2 byte-to-unicode mapping for the 256 byte tokens.
            auto byte_char = [](int b) -> std::string {
                int cp = b;
                if (!((b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255))) {
                    int n = 0;
                    for (int x = 0; x < b; ++x)
                        if (!((x >= 33 && x <= 126) || (x >= 161 && x <= 172) || (x >= 174 && x <= 255))) ++n;
                    cp = 256 + n;
                }
                std::string s;
                if (cp < 0x80) {
                    if (cp == '"' || cp == '\\') s += '\\';
                    s += char(cp);
                } else {
                    s += char(0xC0 | (cp >> 6));
                    s += char(0x80 | (cp & 0x3F));
                }
                return s;
            };
            for (int b = 0; b < 256; ++b) tj << '"' << byte_char(b) << "\":" << b << ',';
            tj << R"("ab":256},"merges":["a b"]},"added_tokens":[{"id":257,"content":"<|im_end|>","special":true}]})";
        }
        // Hostile variants: a missing tensor, a NaN in a norm.
        for (bool nan : {false, true}) {
            auto w2 = w;
            if (nan) {
                for (auto& t : w2)
                    if (t.name == "blk.1.ffn_norm.weight") t.values[3] = std::nanf("");
            } else {
                w2.erase(w2.begin() + 1);  // blk.0.attn_norm.weight
            }
            write_synth_gguf(spec, w2, *tok, "", nan ? out.nan_norm : out.no_embd);
        }
        auto w3 = w;
        for (auto& t : w3)
            if (t.name == "blk.0.ffn_down.weight") t.values[5] = std::nanf("");
        write_synth_gguf(spec, w3, *tok, "", out.nan_matrix);
        return out;
    }();
    return f;
}

std::string last_error() { return qwen_last_error(); }

}  // namespace

TEST_CASE("load a GGUF file, evaluate, read logits, truncate") {
    qwen_model* m = nullptr;
    REQUIRE(qwen_model_load(files().gguf.c_str(), nullptr, &m) == QWEN_OK);
    CHECK(qwen_model_n_vocab(m) == 320);
    CHECK(qwen_model_n_embd(m) == 64);
    CHECK(qwen_model_n_layer(m) == 2);
    CHECK(qwen_model_n_ctx_train(m) == 4096);

    qwen_context_params cp = qwen_context_default_params();
    cp.n_ctx = 16;
    cp.n_threads = 2;
    qwen_context* c = nullptr;
    REQUIRE(qwen_context_create(m, &cp, &c) == QWEN_OK);
    CHECK(qwen_context_n_ctx(c) == 16);
    size_t rows = 7;
    CHECK(qwen_context_logits(c, &rows) == nullptr);
    CHECK(rows == 0);

    const int32_t toks[] = {104, 101, 108, 108, 111};
    REQUIRE(qwen_eval(c, toks, 5, QWEN_EVAL_ALL_LOGITS) == QWEN_OK);
    const float* all = qwen_context_logits(c, &rows);
    REQUIRE(rows == 5);
    std::vector<float> last(all + 4 * 320, all + 5 * 320);
    for (float v : last) REQUIRE(std::isfinite(v));
    CHECK(qwen_context_n_past(c) == 5);

    // Re-evaluating the last token after truncation gives the same logits.
    REQUIRE(qwen_context_truncate(c, 4) == QWEN_OK);
    REQUIRE(qwen_eval(c, toks + 4, 1, 0) == QWEN_OK);
    const float* one = qwen_context_logits(c, &rows);
    CHECK(rows == 1);
    CHECK(std::memcmp(one, last.data(), 320 * sizeof(float)) == 0);

    // Errors leave the context as it was.
    const int32_t bad[] = {1, 320};
    CHECK(qwen_eval(c, bad, 2, 0) == QWEN_ERR_INVALID_ARGUMENT);
    CHECK(last_error().find("320") != std::string::npos);
    std::vector<int32_t> many(12, 1);
    CHECK(qwen_eval(c, many.data(), many.size(), 0) == QWEN_ERR_CONTEXT_FULL);
    CHECK(qwen_context_n_past(c) == 5);
    CHECK(qwen_eval(c, toks, 0, 0) == QWEN_ERR_INVALID_ARGUMENT);
    CHECK(qwen_eval(c, toks, 1, 0x80) == QWEN_ERR_INVALID_ARGUMENT);
    CHECK(qwen_context_truncate(c, 6) == QWEN_ERR_INVALID_ARGUMENT);
    CHECK(qwen_eval(nullptr, toks, 1, 0) == QWEN_ERR_INVALID_ARGUMENT);

    qwen_context_free(c);
    qwen_model_free(m);
}

TEST_CASE("the Hugging Face folder gives the same logits as the GGUF file") {
    std::vector<float> out[2];
    int i = 0;
    for (const std::string& path : {files().gguf, files().hf}) {
        qwen_model* m = nullptr;
        INFO(path);
        REQUIRE_MESSAGE(qwen_model_load(path.c_str(), nullptr, &m) == QWEN_OK, last_error());
        qwen_context* c = nullptr;
        REQUIRE(qwen_context_create(m, nullptr, &c) == QWEN_OK);
        CHECK(qwen_context_n_ctx(c) == 4096);  // default: min(4096, n_ctx_train)
        const int32_t toks[] = {256, 3, 99, 257, 7};
        REQUIRE(qwen_eval(c, toks, 5, QWEN_EVAL_ALL_LOGITS) == QWEN_OK);
        out[i++].assign(qwen_context_logits(c, nullptr), qwen_context_logits(c, nullptr) + 5 * 320);
        qwen_context_free(c);
        qwen_model_free(m);
    }
    CHECK(out[0] == out[1]);
}

TEST_CASE("bad models and parameters: a status and a message naming what is wrong") {
    qwen_model* m = nullptr;
    CHECK(qwen_model_load(files().no_embd.c_str(), nullptr, &m) == QWEN_ERR_FORMAT);
    CHECK(last_error().find("blk.0.attn_norm.weight") != std::string::npos);
    CHECK(m == nullptr);
    CHECK(qwen_model_load(files().nan_norm.c_str(), nullptr, &m) == QWEN_ERR_FORMAT);
    CHECK(last_error().find("blk.1.ffn_norm.weight") != std::string::npos);
    CHECK(last_error().find("not finite") != std::string::npos);

    // NaN inside a matrix is found when it reaches the logits; the context stays usable.
    REQUIRE(qwen_model_load(files().nan_matrix.c_str(), nullptr, &m) == QWEN_OK);
    qwen_context* nc = nullptr;
    REQUIRE(qwen_context_create(m, nullptr, &nc) == QWEN_OK);
    const int32_t t2[] = {5, 6};
    CHECK(qwen_eval(nc, t2, 2, 0) == QWEN_ERR_FORMAT);
    CHECK(last_error().find("non-finite") != std::string::npos);
    CHECK(qwen_context_n_past(nc) == 0);
    CHECK(qwen_context_logits(nc, nullptr) == nullptr);
    qwen_context_free(nc);
    qwen_model_free(m);

    REQUIRE(qwen_model_load(files().gguf.c_str(), nullptr, &m) == QWEN_OK);
    qwen_context* c = nullptr;
    qwen_context_params cp = qwen_context_default_params();
    cp.n_ctx = 5000;  // beyond the model's 4096
    CHECK(qwen_context_create(m, &cp, &c) == QWEN_ERR_INVALID_ARGUMENT);
    CHECK(last_error().find("5000") != std::string::npos);
    cp = qwen_context_default_params();
    cp.kv_type = static_cast<qwen_kv_type>(9);
    CHECK(qwen_context_create(m, &cp, &c) == QWEN_ERR_INVALID_ARGUMENT);
    cp = qwen_context_default_params();
    cp.struct_size = 0;
    CHECK(qwen_context_create(m, &cp, &c) == QWEN_ERR_INVALID_ARGUMENT);
    CHECK(c == nullptr);
    qwen_model_free(m);
}
