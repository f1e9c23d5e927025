// Sub-commands of the `qwen` tool and the small argument parser they share.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>
#include <vector>

namespace qwen_cli {

int synth_main(int argc, char** argv);
int logits_main(int argc, char** argv);

// --name value / --flag options after the sub-command name. Unknown options are errors.
class Args {
public:
    Args(int argc, char** argv, const std::vector<std::string>& flags, const std::vector<std::string>& valued) {
        for (int i = 1; i < argc; ++i) {
            std::string a = argv[i];
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
