// Reading the tokenizer from GGUF metadata and from Hugging Face tokenizer.json, and writing
// it back as GGUF metadata the way llama.cpp's converter does.
#include "core/error.hpp"
#include "format/gguf.hpp"
#include "tokenizer/byte_level.hpp"
#include "tokenizer/tokenizer.hpp"

#include <nlohmann/json.hpp>

#include <fstream>
#include <map>
#include <unordered_map>

namespace qwen {

namespace {

// The split pattern of Qwen2's tokenizer.json; the pre-tokenizer hand-codes exactly this.
constexpr std::string_view kQwen2Pattern =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";

// convert_hf_to_gguf.py's does_token_look_special(), for the tokens a Qwen vocabulary has.
bool looks_special(std::string_view t) {
    return (t.starts_with("<|") && t.ends_with("|>")) || t == "<pad>" || t == "<mask>" ||
           (t.starts_with("<unused") && t.ends_with(">"));
}

// "a b" -> (id of a, id of b), by byte-level text.
std::pair<int32_t, int32_t> parse_merge(std::string_view left, std::string_view right,
                                        const std::unordered_map<std::string_view, int32_t>& ids,
                                        const char* where, size_t index) {
    auto a = ids.find(left), b = ids.find(right);
    if (a == ids.end() || b == ids.end())
        fail(QWEN_ERR_FORMAT, where, "[", index, "] names a token that is not in the vocabulary");
    return {a->second, b->second};
}

}  // namespace

std::unique_ptr<Tokenizer> Tokenizer::from_gguf(const GgufFile& f) {
    auto model = f.get_string("tokenizer.ggml.model");
    if (!model) fail(QWEN_ERR_FORMAT, f.path(), ": key tokenizer.ggml.model is missing");
    if (*model != "gpt2")
        fail(QWEN_ERR_UNSUPPORTED, f.path(), ": tokenizer.ggml.model is '", *model, "', only 'gpt2' is supported");
    // Files converted before the key existed (spring 2024) have no pre; for a qwen2 model it
    // can only mean the Qwen2 pre-tokenizer.
    if (auto pre = f.get_string("tokenizer.ggml.pre"); pre && *pre != "qwen2")
        fail(QWEN_ERR_UNSUPPORTED, f.path(), ": tokenizer.ggml.pre is '", *pre, "', only 'qwen2' is supported");
    auto texts = f.get_string_array("tokenizer.ggml.tokens");
    if (!texts) fail(QWEN_ERR_FORMAT, f.path(), ": key tokenizer.ggml.tokens is missing");
    auto types = f.get_int_array("tokenizer.ggml.token_type");
    if (!types) fail(QWEN_ERR_FORMAT, f.path(), ": key tokenizer.ggml.token_type is missing");
    if (types->size() != texts->size())
        fail(QWEN_ERR_FORMAT, f.path(), ": tokenizer.ggml.token_type has ", types->size(),
             " entries but tokenizer.ggml.tokens has ", texts->size());
    if (texts->size() > size_t{1} << 24)
        fail(QWEN_ERR_FORMAT, f.path(), ": tokenizer.ggml.tokens has ", texts->size(), " entries (too many)");

    std::vector<Token> tokens(texts->size());
    std::unordered_map<std::string_view, int32_t> by_text;
    by_text.reserve(texts->size());
    for (size_t i = 0; i < texts->size(); ++i) {
        std::string_view text = (*texts)[i];
        int64_t type = (*types)[i];
        Token& t = tokens[i];
        switch (type) {
            case 1: {
                auto bytes = byte_level::decode(text);
                if (!bytes)
                    fail(QWEN_ERR_FORMAT, f.path(), ": tokenizer.ggml.tokens[", i, "] is not byte-level encoded");
                t = Token{std::move(*bytes), TokenType::Normal};
                by_text.emplace(text, static_cast<int32_t>(i));
                break;
            }
            case 3: case 4:  // added tokens are stored as their text
                t = Token{std::string(text), static_cast<TokenType>(type)};
                break;
            case 5:
                t = Token{std::string(), TokenType::Unused};
                break;
            default:
                fail(QWEN_ERR_UNSUPPORTED, f.path(), ": tokenizer.ggml.token_type[", i, "] is ", type,
                     " (only 1 normal, 3 control, 4 user-defined and 5 unused are supported)");
        }
    }

    auto merge_texts = f.get_string_array("tokenizer.ggml.merges");
    if (!merge_texts) fail(QWEN_ERR_FORMAT, f.path(), ": key tokenizer.ggml.merges is missing");
    std::vector<std::pair<int32_t, int32_t>> merges;
    merges.reserve(merge_texts->size());
    for (size_t r = 0; r < merge_texts->size(); ++r) {
        std::string_view m = (*merge_texts)[r];
        size_t sp = m.find(' ');
        if (sp == std::string_view::npos)
            fail(QWEN_ERR_FORMAT, f.path(), ": tokenizer.ggml.merges[", r, "] has no space");
        merges.push_back(parse_merge(m.substr(0, sp), m.substr(sp + 1), by_text, "tokenizer.ggml.merges", r));
    }

    SpecialIds special;
    auto read_id = [&](const char* key, int32_t& dst) {
        if (auto v = f.get_uint(key)) {
            if (*v >= tokens.size())
                fail(QWEN_ERR_FORMAT, f.path(), ": ", key, " is ", *v, ", outside the vocabulary of ", tokens.size());
            dst = static_cast<int32_t>(*v);
        }
    };
    read_id("tokenizer.ggml.bos_token_id", special.bos);
    read_id("tokenizer.ggml.eos_token_id", special.eos);
    read_id("tokenizer.ggml.padding_token_id", special.pad);
    try {
        return std::make_unique<Tokenizer>(std::move(tokens), merges, special);
    } catch (const Error& e) {
        fail(e.status(), f.path(), ": ", e.what());
    }
}

namespace {

nlohmann::json read_json(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) fail(QWEN_ERR_IO, path, ": cannot open");
    try {
        return nlohmann::json::parse(in);
    } catch (const nlohmann::json::exception& e) {
        fail(QWEN_ERR_FORMAT, path, ": not valid JSON: ", e.what());
    }
}

// The text of a special-token entry of tokenizer_config.json: "..." or {"content": "..."}.
std::optional<std::string> special_text(const nlohmann::json& config, const char* key) {
    auto it = config.find(key);
    if (it == config.end() || it->is_null()) return std::nullopt;
    if (it->is_string()) return it->get<std::string>();
    if (it->is_object() && it->contains("content") && (*it)["content"].is_string())
        return (*it)["content"].get<std::string>();
    return std::nullopt;
}

}  // namespace

std::unique_ptr<Tokenizer> Tokenizer::from_hf_json(const std::string& path, const std::string& config_path,
                                                   HfOptions options) {
    nlohmann::json j = read_json(path);
    using nlohmann::json;
    auto require = [&](bool ok, auto&&... what) {
        if (!ok) fail(QWEN_ERR_FORMAT, path, ": ", what...);
    };
    auto unsupported = [&](bool ok, auto&&... what) {
        if (!ok) fail(QWEN_ERR_UNSUPPORTED, path, ": ", what...);
    };
    try {
        require(j.is_object() && j.contains("model") && j["model"].is_object(), "no \"model\" object");
        const json& m = j["model"];
        unsupported(m.value("type", std::string("BPE")) == "BPE", "model.type is not BPE");
        unsupported(!m.value("byte_fallback", false), "model.byte_fallback is not supported");
        unsupported(!m.value("ignore_merges", false), "model.ignore_merges is not supported");
        unsupported(m.value("continuing_subword_prefix", json()).is_null() ||
                        m["continuing_subword_prefix"] == "", "model.continuing_subword_prefix is not supported");
        unsupported(m.value("end_of_word_suffix", json()).is_null() || m["end_of_word_suffix"] == "",
                    "model.end_of_word_suffix is not supported");
        unsupported(m.value("dropout", json()).is_null(), "model.dropout is not supported");
        // The normalizer must be NFC and the pre-tokenizer Qwen2's split + ByteLevel.
        unsupported(j.value("normalizer", json()).is_object() && j["normalizer"].value("type", "") == "NFC",
                    "normalizer is not NFC");
        unsupported(j.value("pre_tokenizer", json()).dump().find(json(std::string(kQwen2Pattern)).dump()) !=
                        std::string::npos, "pre_tokenizer is not Qwen2's split pattern");

        require(m.contains("vocab") && m["vocab"].is_object(), "model.vocab is not an object");
        const json& vocab = m["vocab"];
        std::map<int64_t, Token> by_id;
        for (auto it = vocab.begin(); it != vocab.end(); ++it) {
            require(it.value().is_number_integer(), "model.vocab[\"", it.key(), "\"] is not an integer");
            int64_t id = it.value().get<int64_t>();
            require(id >= 0 && id < (int64_t{1} << 24), "model.vocab[\"", it.key(), "\"] = ", id, " is out of range");
            auto bytes = byte_level::decode(it.key());
            require(bytes.has_value(), "model.vocab entry ", id, " is not byte-level encoded");
            require(by_id.emplace(id, Token{std::move(*bytes), TokenType::Normal}).second,
                    "model.vocab id ", id, " is used twice");
        }
        const json added = j.value("added_tokens", json::array());
        require(added.is_array(), "added_tokens is not an array");
        for (size_t i = 0; i < added.size(); ++i) {
            const json& a = added[i];
            require(a.is_object() && a.contains("id") && a["id"].is_number_integer() && a.contains("content") &&
                        a["content"].is_string(), "added_tokens[", i, "] needs an integer id and a string content");
            int64_t id = a["id"].get<int64_t>();
            if (options.max_added_id >= 0 && id > options.max_added_id) continue;
            require(id >= 0 && id < (int64_t{1} << 24), "added_tokens[", i, "].id is out of range");
            for (const char* flag : {"lstrip", "rstrip", "single_word", "normalized"})
                unsupported(!a.value(flag, false), "added_tokens[", i, "].", flag, " = true is not supported");
            std::string content = a["content"].get<std::string>();
            require(!content.empty(), "added_tokens[", i, "].content is empty");
            TokenType type = a.value("special", false) || looks_special(content) ? TokenType::Control
                                                                                   : TokenType::UserDefined;
            by_id[id] = Token{std::move(content), type};  // an added token overrides a vocab entry
        }
        require(!by_id.empty(), "the vocabulary is empty");

        std::vector<Token> tokens(static_cast<size_t>(by_id.rbegin()->first + 1), Token{std::string(), TokenType::Unused});
        for (auto& [id, t] : by_id) tokens[static_cast<size_t>(id)] = std::move(t);

        // Merges refer to tokens by their byte-level text.
        std::unordered_map<std::string_view, int32_t> by_text;
        by_text.reserve(vocab.size());
        for (auto it = vocab.begin(); it != vocab.end(); ++it)
            by_text.emplace(it.key(), static_cast<int32_t>(it.value().get<int64_t>()));
        require(m.contains("merges") && m["merges"].is_array(), "model.merges is not an array");
        const json& mj = m["merges"];
        std::vector<std::pair<int32_t, int32_t>> merges;
        merges.reserve(mj.size());
        for (size_t r = 0; r < mj.size(); ++r) {
            const json& e = mj[r];
            if (e.is_string()) {  // "a b"
                const std::string& s = e.get_ref<const std::string&>();
                size_t sp = s.find(' ');
                require(sp != std::string::npos, "model.merges[", r, "] has no space");
                merges.push_back(parse_merge(std::string_view(s).substr(0, sp), std::string_view(s).substr(sp + 1),
                                             by_text, "model.merges", r));
            } else {  // ["a", "b"] (transformers >= 4.45)
                require(e.is_array() && e.size() == 2 && e[0].is_string() && e[1].is_string(),
                        "model.merges[", r, "] is neither \"a b\" nor [\"a\", \"b\"]");
                merges.push_back(parse_merge(e[0].get_ref<const std::string&>(), e[1].get_ref<const std::string&>(),
                                             by_text, "model.merges", r));
            }
        }

        SpecialIds special;
        if (!config_path.empty()) {
            json config = read_json(config_path);
            auto lookup = [&](const char* key, int32_t& dst) {
                auto text = special_text(config, key);
                if (!text) return;
                for (size_t id = 0; id < tokens.size(); ++id)
                    if (tokens[id].type == TokenType::Control || tokens[id].type == TokenType::UserDefined)
                        if (tokens[id].bytes == *text) {
                            dst = static_cast<int32_t>(id);
                            return;
                        }
                fail(QWEN_ERR_FORMAT, config_path, ": ", key, " '", *text, "' is not an added token of ", path);
            };
            lookup("bos_token", special.bos);
            lookup("eos_token", special.eos);
            lookup("pad_token", special.pad);
        }
        try {
            return std::make_unique<Tokenizer>(std::move(tokens), merges, special);
        } catch (const Error& e) {
            fail(e.status(), path, ": ", e.what());
        }
    } catch (const nlohmann::json::exception& e) {
        fail(QWEN_ERR_FORMAT, path, ": unexpected JSON structure: ", e.what());
    }
}

void write_gguf_tokenizer(const Tokenizer& tok, GgufWriter& w, const GgufTokenizerOptions& options) {
    const auto& tokens = tok.tokens();
    size_t n = std::max<size_t>(tokens.size(), options.n_vocab > 0 ? static_cast<size_t>(options.n_vocab) : 0);
    std::vector<std::string> texts(n);
    std::vector<int32_t> types(n);
    for (size_t i = 0; i < n; ++i) {
        TokenType type = i < tokens.size() ? tokens[i].type : TokenType::Unused;
        types[i] = static_cast<int32_t>(type);
        switch (type) {
            case TokenType::Normal: texts[i] = byte_level::encode(tokens[i].bytes); break;
            case TokenType::Unused: texts[i] = "[PAD" + std::to_string(i) + "]"; break;
            default: texts[i] = tokens[i].bytes; break;
        }
    }
    std::vector<std::string> merges;
    merges.reserve(tok.bpe().merges().size());
    for (const Bpe::Merge& m : tok.bpe().merges())
        merges.push_back(byte_level::encode(tokens[m.left].bytes) + " " + byte_level::encode(tokens[m.right].bytes));

    w.set_string("tokenizer.ggml.model", "gpt2");
    w.set_string("tokenizer.ggml.pre", "qwen2");
    w.set_string_array("tokenizer.ggml.tokens", texts);
    w.set_int32_array("tokenizer.ggml.token_type", types);
    w.set_string_array("tokenizer.ggml.merges", merges);
    // The converter's order: ids found in tokenizer_config.json first (eos, pad), then the
    // ones only config.json has (bos).
    const auto& s = tok.special_ids();
    int32_t bos = options.bos_id >= 0 ? options.bos_id : s.bos;
    if (s.eos >= 0) w.set_uint32("tokenizer.ggml.eos_token_id", static_cast<uint32_t>(s.eos));
    if (s.pad >= 0) w.set_uint32("tokenizer.ggml.padding_token_id", static_cast<uint32_t>(s.pad));
    if (bos >= 0) w.set_uint32("tokenizer.ggml.bos_token_id", static_cast<uint32_t>(bos));
    w.set_bool("tokenizer.ggml.add_bos_token", false);
    if (!options.chat_template.empty()) w.set_string("tokenizer.chat_template", options.chat_template);
}

}  // namespace qwen
