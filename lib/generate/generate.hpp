// The generation loop behind qwen_generate(): reuse the cached prefix of the prompt, evaluate
// the rest, then sample, stream text (held back at incomplete characters and possible stop
// strings) and evaluate token by token until a finish reason.
#pragma once

#include <qwen/qwen.h>

#include <cstdint>
#include <string>
#include <vector>

namespace qwen {

class Context;
class Sampler;
class Tokenizer;

struct GenerateOptions {
    uint32_t max_tokens = 512;  // 0: until EOS or a full context
    std::vector<std::string> stop;
    bool keep_special = false;
    bool ignore_eos = false;
    int32_t logprobs = -1;  // -1: none; 0: the chosen token's; n: also the top n
    qwen_generate_callback callback = nullptr;
    void* user_data = nullptr;
};

// Throws Error for invalid prompts (ids, length) and evaluation errors other than an abort;
// every way of stopping is a finish reason in the result.
qwen_generate_result generate(Context& ctx, const Tokenizer& tokenizer, Sampler* sampler, const int32_t* prompt,
                              size_t n_prompt, const GenerateOptions& options);

// Tokens that end a turn: the tokenizer's EOS plus <|im_end|> and <|endoftext|> when the
// vocabulary has them.
std::vector<int32_t> end_of_turn_tokens(const Tokenizer& tokenizer);

}  // namespace qwen
