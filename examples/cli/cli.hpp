// Sub-commands of the `qwen` tool and the small argument parser they share.
#pragma once

#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

namespace qwen_cli {

int synth_main(int argc, char** argv);
int logits_main(int argc, char** argv);
int run_main(int argc, char** argv);
int chat_main(int argc, char** argv);
int info_main(int argc, char** argv);
int tokenize_main(int argc, char** argv);
int bench_main(int argc, char** argv);
int download_main(int argc, char** argv);
int quantize_main(int argc, char** argv);

// A bad option value: main() prints it with the usage hint and exits with status 2.
class UsageError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// --name value / --flag options after the sub-command name. Unknown options are errors.
class Args {
public:
    // aliases: short spellings, e.g. {"-m", "model"}.
    Args(int argc, char** argv, const std::vector<std::string>& flags, const std::vector<std::string>& valued,
         const std::map<std::string, std::string>& aliases = {}) {
        for (int i = 1; i < argc; ++i) {
            std::string a = argv[i];
            if (auto al = aliases.find(a); al != aliases.end()) a = "--" + al->second;
            bool is_flag = false, is_valued = false;
            for (const auto& f : flags) is_flag |= a == "--" + f;
            for (const auto& v : valued) is_valued |= a == "--" + v;
            if (a == "--help" || a == "-h") {
                help_ = true;
            } else if (is_flag) {
                values_[a.substr(2)] = "1";
            } else if (is_valued && i + 1 < argc) {
                values_[a.substr(2)] = argv[++i];
            } else {
                error_ = is_valued ? "option " + a + " needs a value" : "unknown option " + a;
                return;
            }
        }
    }
    // Numbers within [lo, hi]; UsageError naming the option otherwise.
    long long get_int(const std::string& k, long long def, long long lo, long long hi) const {
        if (!has(k)) return def;
        const std::string v = get(k);
        long long x = 0;
        auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), x);
        if (ec != std::errc() || end != v.data() + v.size() || x < lo || x > hi)
            throw UsageError("--" + k + " must be an integer in [" + std::to_string(lo) + ", " + std::to_string(hi) +
                             "], not '" + v + "'");
        return x;
    }
    float get_float(const std::string& k, float def, float lo, float hi) const {
        if (!has(k)) return def;
        const std::string v = get(k);
        char* end = nullptr;
        const float x = std::strtof(v.c_str(), &end);
        if (v.empty() || *end || !(x >= lo && x <= hi))
            throw UsageError("--" + k + " must be a number in [" + std::to_string(lo) + ", " + std::to_string(hi) +
                             "], not '" + v + "'");
        return x;
    }
    bool help() const { return help_; }
    const std::string& error() const { return error_; }
    bool has(const std::string& k) const { return values_.count(k) != 0; }
    std::string get(const std::string& k, const std::string& def = "") const {
        auto it = values_.find(k);
        return it == values_.end() ? def : it->second;
    }

private:
    std::map<std::string, std::string> values_;
    std::string error_;
    bool help_ = false;
};

}  // namespace qwen_cli
