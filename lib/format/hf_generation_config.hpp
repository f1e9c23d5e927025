// Sampling defaults from a Hugging Face folder's generation_config.json. Qwen2.5-0.5B-Instruct
// ships: do_sample true, temperature 0.7, top_p 0.8, top_k 20, repetition_penalty 1.1,
// eos_token_id [151645, 151643], bos/pad 151643.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace qwen {

// Defaults are transformers' GenerationConfig defaults, used for keys the file omits (or
// sets to null). Note transformers' top_k default is 50; here an absent top_k means "off"
// (0), because a runtime that silently truncates to 50 when the file did not ask for it
// would surprise more than it helps.
struct GenerationDefaults {
    bool do_sample = false;  // false: greedy decoding; the sampling fields are then unused
    float temperature = 1.0f;
    float top_p = 1.0f;
    int top_k = 0;  // 0 = off
    float repetition_penalty = 1.0f;
    std::vector<int32_t> eos_token_ids;  // eos_token_id as an int or a list, in file order
    std::optional<int32_t> bos_token_id;
    std::optional<int32_t> pad_token_id;
};

// nullopt when `dir` has no generation_config.json. Throws Error(QWEN_ERR_FORMAT) naming
// the file and the field when it exists but is not valid JSON or a value is out of range
// (temperature < 0, top_p outside [0, 1], top_k < 0, repetition_penalty <= 0, token ids
// negative, non-finite numbers), and Error(QWEN_ERR_IO) when it cannot be read.
std::optional<GenerationDefaults> read_generation_config(const std::string& dir);

}  // namespace qwen
