#include "format/hf_generation_config.hpp"

#include "core/error.hpp"
#include "core/mapped_file.hpp"

#include <nlohmann/json.hpp>

#include <cmath>
#include <filesystem>
#include <limits>

namespace qwen {

std::optional<GenerationDefaults> read_generation_config(const std::string& dir) {
    namespace fs = std::filesystem;
    const std::string path = (fs::path(dir) / "generation_config.json").string();
    std::error_code ec;
    if (!fs::exists(path, ec)) return std::nullopt;

    MappedFile file(path, false);
    if (file.size() > (16u << 20)) fail(QWEN_ERR_FORMAT, path, ": ", file.size(), " bytes is too large for a config");
    nlohmann::json j;
    try {
        j = nlohmann::json::parse(file.data(), file.data() + file.size());
    } catch (const nlohmann::json::exception& e) {
        fail(QWEN_ERR_FORMAT, path, ": not valid JSON: ", e.what());
    }
    if (!j.is_object()) fail(QWEN_ERR_FORMAT, path, ": not a JSON object");

    GenerationDefaults g;
    // A present, non-null field must be a finite number within [lo, hi].
    auto number = [&](const char* key, float& out, double lo, double hi) {
        auto it = j.find(key);
        if (it == j.end() || it->is_null()) return;
        if (!it->is_number()) fail(QWEN_ERR_FORMAT, path, ": field '", key, "' is not a number");
        const double v = it->get<double>();
        if (!std::isfinite(v) || v < lo || v > hi)
            fail(QWEN_ERR_FORMAT, path, ": field '", key, "' = ", v, " is outside [", lo, ", ", hi, "]");
        out = float(v);
    };
    auto token = [&](const char* key, const nlohmann::json& v) -> int32_t {
        if (!v.is_number_integer() || v.get<int64_t>() < 0 ||
            v.get<int64_t>() > std::numeric_limits<int32_t>::max())
            fail(QWEN_ERR_FORMAT, path, ": field '", key, "' = ", v.dump(), " is not a token id");
        return int32_t(v.get<int64_t>());
    };

    if (auto it = j.find("do_sample"); it != j.end() && !it->is_null()) {
        if (!it->is_boolean()) fail(QWEN_ERR_FORMAT, path, ": field 'do_sample' is not a boolean");
        g.do_sample = it->get<bool>();
    }
    number("temperature", g.temperature, 0.0, 1e6);
    number("top_p", g.top_p, 0.0, 1.0);
    number("repetition_penalty", g.repetition_penalty, 1e-6, 1e6);
    if (auto it = j.find("top_k"); it != j.end() && !it->is_null()) {
        if (!it->is_number_integer() || it->get<int64_t>() < 0 ||
            it->get<int64_t>() > std::numeric_limits<int32_t>::max())
            fail(QWEN_ERR_FORMAT, path, ": field 'top_k' = ", it->dump(), " is not a non-negative integer");
        g.top_k = int(it->get<int64_t>());
    }
    if (auto it = j.find("eos_token_id"); it != j.end() && !it->is_null()) {
        if (it->is_array()) {
            for (const auto& v : *it) g.eos_token_ids.push_back(token("eos_token_id", v));
        } else {
            g.eos_token_ids.push_back(token("eos_token_id", *it));
        }
    }
    if (auto it = j.find("bos_token_id"); it != j.end() && !it->is_null()) g.bos_token_id = token("bos_token_id", *it);
    if (auto it = j.find("pad_token_id"); it != j.end() && !it->is_null()) g.pad_token_id = token("pad_token_id", *it);
    return g;
}

}  // namespace qwen
