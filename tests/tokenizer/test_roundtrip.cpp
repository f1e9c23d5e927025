// Decoding, streaming, hostile input, and the GGUF path: write_gguf_tokenizer() -> file ->
// from_gguf() gives the tokenizer from_hf_json() gave, and llama.cpp's own qwen2 vocabulary
// file (made by its converter) passes llama.cpp's tokenizer test vectors.
#include "format/gguf.hpp"
#include "oracle.hpp"
#include "tokenizer/detokenizer.hpp"
#include "tokenizer/unicode.hpp"

#include <utf8proc.h>

using namespace qwen;
using namespace qwen::test;

namespace {

std::vector<std::string> corpus_files() {
    std::vector<std::string> out;
    for (const auto& e : std::filesystem::directory_iterator(QWEN_SOURCE_DIR "/tests/tokenizer/corpus"))
        out.push_back(read_file(e.path().string()));
    return out;
}

std::string nfc(const std::string& s) {
    std::string out;
    unicode::nfc_append(s, out);
    return out;
}

bool valid_utf8(std::string_view s) {
    std::string lossy;
    unicode::append_lossy(s, lossy);
    return lossy == s;
}

qwen_status status_of(auto&& f) {
    try {
        f();
    } catch (const Error& e) {
        return e.status();
    }
    return QWEN_OK;
}

}  // namespace

TEST_CASE("decode(encode(s)) == NFC(s), with and without special tokens") {
    if (!have_oracle()) return;
    const auto& t = qwen25();
    for (const auto& text : corpus_files()) {
        CHECK(t.decode(t.encode(text, true), false) == nfc(text));
        CHECK(t.decode(t.encode(text, false), false) == nfc(text));
    }
    CHECK(t.encode("", true).empty());
    CHECK(t.decode({}, false).empty());
}

TEST_CASE("special ids, token types and lookups of Qwen2.5") {
    if (!have_oracle()) return;
    const auto& t = qwen25();
    CHECK(t.n_vocab() == 151665);
    CHECK(t.special_ids().eos == 151645);
    CHECK(t.special_ids().pad == 151643);
    CHECK(t.special_ids().bos == -1);  // tokenizer_config.json has bos_token null
    CHECK(t.token_by_text("<|endoftext|>") == 151643);
    CHECK(t.token_by_text("<|im_start|>") == 151644);
    CHECK(t.token_by_text("<|im_end|>") == 151645);
    CHECK(t.token_by_text("Hello") == 9707);
    CHECK(t.token_by_text("<think>") == -1);  // a Qwen3 addition, dropped
    for (int32_t id = 151643; id <= 151664; ++id) {
        TokenType want = (id == 151657 || id == 151658) ? TokenType::UserDefined : TokenType::Control;
        CHECK(t.token_type(id) == want);
    }
    std::vector<int32_t> ids = {151644, 9707, 151645, 151657};
    CHECK(t.decode(ids, true) == "Hello<tool_call>");
    CHECK(t.decode(ids, false) == "<|im_start|>Hello<|im_end|><tool_call>");
}

TEST_CASE("streaming detokenization equals whole decoding and never splits a character") {
    if (!have_oracle()) return;
    const auto& t = qwen25();
    std::vector<std::string> texts = corpus_files();
    texts.push_back("🦙👨‍👩‍👧‍👦 \xF0\x9F\x98 broken \xFF\xE2\x82 end \xE2\x82");  // ill-formed inside and at the end
    for (const auto& text : texts) {
        for (bool parse : {true, false}) {
            auto ids = t.encode(text, parse);
            for (bool skip : {false, true}) {
                for (bool raw : {false, true}) {
                    Detokenizer d(t, skip, raw);
                    std::string all;
                    for (int32_t id : ids) {
                        std::string chunk;
                        d.push(id, chunk);
                        if (!raw) CHECK(valid_utf8(chunk));
                        all += chunk;
                    }
                    d.flush(all);
                    CHECK(d.pending() == 0);
                    CHECK(all == (raw ? t.decode_bytes(ids, skip) : t.decode(ids, skip)));
                }
            }
        }
    }
    // A character cut across tokens comes out whole, once its last byte arrives.
    Detokenizer d(t, false);
    std::string out;
    auto ids = t.encode("\xE2\x82", false);  // the first two bytes of U+20AC
    for (int32_t id : ids) d.push(id, out);
    CHECK(out.empty());
    CHECK(d.pending() == 2);
    for (int32_t id : t.encode("\xAC!", false)) d.push(id, out);
    CHECK(out == "\xE2\x82\xAC!");
}

TEST_CASE("hostile input: ill-formed UTF-8, NUL bytes, huge inputs, bad ids") {
    if (!have_oracle()) return;
    const auto& t = qwen25();
    // Ill-formed bytes are encoded losslessly; the text around them is HF's encoding.
    std::string bad = "abc\xFF\xFE def \xC3 \xED\xA0\x80 \xF4\x90\x80\x80 e\xCC\x81\xF0\x9F\x98";
    auto ids = t.encode(bad, true);
    CHECK(t.decode_bytes(ids, false) == nfc(bad));
    CHECK(nfc(bad).find("\xC3\xA9") != std::string::npos);  // the valid part was normalized
    CHECK(t.encode("abc", true) == std::vector<int32_t>(ids.begin(), ids.begin() + 1));
    // Every single byte value, alone and after each other.
    std::string all;
    for (int b = 0; b < 256; ++b) {
        std::string one(1, static_cast<char>(b));
        CHECK(t.decode_bytes(t.encode(one, true), false) == one);
        all += one;
    }
    CHECK(t.decode_bytes(t.encode(all, true), false) == all);
    // NUL is an ordinary character.
    std::string nul("a\0b\0\0<|im_end|>\0", 16);
    CHECK(t.decode(t.encode(nul, true), false) == nul);
    // Gigantic inputs: refused above the limit, fine (and linear) below it.
    std::string huge(kMaxEncodeBytes + 1, 'a');
    CHECK(status_of([&] { t.encode(huge, true); }) == QWEN_ERR_INPUT_TOO_LARGE);
    std::string long_word(1 << 20, 'a');  // one 1 MiB pre-token
    CHECK(t.decode(t.encode(long_word, true), false) == long_word);
    std::string long_space(1 << 20, ' ');
    CHECK(t.decode(t.encode(long_space, true), false) == long_space);
    // Out-of-range ids.
    for (int32_t id : {-1, t.n_vocab(), INT32_MAX, INT32_MIN}) {
        std::vector<int32_t> v = {9707, id};
        CHECK(status_of([&] { t.decode(v, false); }) == QWEN_ERR_INVALID_ARGUMENT);
        CHECK(status_of([&] { t.token_to_piece(id); }) == QWEN_ERR_INVALID_ARGUMENT);
        Detokenizer d(t, false);
        std::string out;
        CHECK(status_of([&] { d.push(id, out); }) == QWEN_ERR_INVALID_ARGUMENT);
    }
}

TEST_CASE("GGUF: written like the converter, read back as the same tokenizer") {
    if (!have_oracle()) return;
    const auto& t = qwen25();
    GgufWriter w;
    GgufTokenizerOptions opts;
    opts.chat_template = "{{ messages }}";
    opts.n_vocab = 151936;
    opts.bos_id = 151643;
    write_gguf_tokenizer(t, w, opts);
    std::string path = temp_path("tok.gguf");
    w.write(path);
    GgufFile f(path);
    std::vector<std::string> keys;
    for (const auto& kv : f.kvs()) keys.push_back(kv.key);
    CHECK(keys == std::vector<std::string>{"tokenizer.ggml.model", "tokenizer.ggml.pre", "tokenizer.ggml.tokens",
                                           "tokenizer.ggml.token_type", "tokenizer.ggml.merges",
                                           "tokenizer.ggml.eos_token_id", "tokenizer.ggml.padding_token_id",
                                           "tokenizer.ggml.bos_token_id", "tokenizer.ggml.add_bos_token",
                                           "tokenizer.chat_template"});
    auto tokens = *f.get_string_array("tokenizer.ggml.tokens");
    auto types = *f.get_int_array("tokenizer.ggml.token_type");
    REQUIRE(tokens.size() == 151936);
    CHECK(tokens[9707] == "Hello");
    CHECK(tokens[220] == "\xC4\xA0");  // 'Ġ'
    CHECK(tokens[151644] == "<|im_start|>");
    CHECK(tokens[151665] == "[PAD151665]");
    CHECK(types[9707] == 1);
    CHECK(types[151645] == 3);
    CHECK(types[151657] == 4);
    CHECK(types[151660] == 3);  // <|fim_middle|>: not special in HF, but looks special
    CHECK(types[151935] == 5);
    CHECK((*f.get_string_array("tokenizer.ggml.merges"))[0] == "\xC4\xA0 \xC4\xA0");
    CHECK(f.get_bool("tokenizer.ggml.add_bos_token") == false);

    auto g = Tokenizer::from_gguf(f);
    CHECK(g->n_vocab() == 151936);
    CHECK(g->special_ids().eos == 151645);
    CHECK(g->special_ids().pad == 151643);
    CHECK(g->special_ids().bos == 151643);
    for (int32_t id = 0; id < t.n_vocab(); ++id) {
        if (g->token_to_piece(id) != t.token_to_piece(id) || g->token_type(id) != t.token_type(id)) {
            FAIL_CHECK("token " << id << " differs");
            break;
        }
    }
    for (const auto& text : corpus_files()) {
        CHECK(g->encode(text, true) == t.encode(text, true));
        CHECK(g->encode(text, false) == t.encode(text, false));
    }
    std::filesystem::remove(path);
}

TEST_CASE("llama.cpp's qwen2 vocabulary file and its tokenizer test vectors") {
    if (!have_oracle()) return;
    std::string bundle = oracle_dir() + "/node_modules/node-llama-cpp/llama/gitRelease.bundle";
    std::string git = temp_path("llama.git");
    std::string dir = temp_path("vocab");
    std::filesystem::create_directories(dir);
    std::string cmd = "git clone -q --bare '" + bundle + "' '" + git + "' && for f in gguf gguf.inp gguf.out; do git --git-dir='" +
                      git + "' show HEAD:models/ggml-vocab-qwen2.$f > '" + dir + "'/v.$f || exit 1; done";
    REQUIRE_MESSAGE(std::system(cmd.c_str()) == 0, "could not read the llama.cpp bundle: " << cmd);
    GgufFile f(dir + "/v.gguf");
    auto t = Tokenizer::from_gguf(f);
    std::string inp = read_file(dir + "/v.gguf.inp"), out = read_file(dir + "/v.gguf.out");
    std::filesystem::remove_all(git);
    std::filesystem::remove_all(dir);

    std::vector<std::string> inputs;
    const std::string sep = "\n__ggml_vocab_test__\n";
    for (size_t p = 0;;) {
        size_t q = inp.find(sep, p);
        if (q == std::string::npos) break;
        inputs.push_back(inp.substr(p, q - p));
        p = q + sep.size();
    }
    std::vector<std::string> lines;
    std::istringstream os(out);
    for (std::string line; std::getline(os, line);) lines.push_back(line);
    REQUIRE(inputs.size() == lines.size());
    int mismatches = 0;
    for (size_t i = 0; i < inputs.size(); ++i) {
        std::string got;
        for (int32_t id : t->encode(inputs[i], false)) got += " " + std::to_string(id);
        if (got != lines[i]) {
            ++mismatches;
            FAIL_CHECK("vector " << i << " " << nlohmann::json(inputs[i]).dump() << ": got" << got << " want" << lines[i]);
        }
    }
    MESSAGE(inputs.size() << " llama.cpp vectors: " << mismatches << " mismatches");
}
