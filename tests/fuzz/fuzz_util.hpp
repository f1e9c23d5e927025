// Shared by the fuzzers: what counts as a bug, inputs split into parts, inputs as files.
//
// Bad input must end in a clear qwen_status. A crash, a sanitizer report, a hang or an
// allocation past libFuzzer's limits is a bug, and so is QWEN_ERR_INTERNAL (an exception the
// library did not expect) and any broken property a fuzzer checks: check() aborts on those,
// so libFuzzer saves the input.
#pragma once

#include <qwen/qwen.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include <unistd.h>

namespace qwen::fuzz {

// Parts of one input are separated by this line (the seed writer and the fuzzers agree on it;
// mutations mostly keep it, so the fuzzer explores each part).
inline constexpr std::string_view kSeparator = "\n#--qwen-fuzz--#\n";

inline std::vector<std::string_view> split(std::string_view data, size_t max_parts) {
    std::vector<std::string_view> parts;
    while (parts.size() + 1 < max_parts) {
        size_t at = data.find(kSeparator);
        if (at == std::string_view::npos) break;
        parts.push_back(data.substr(0, at));
        data.remove_prefix(at + kSeparator.size());
    }
    parts.push_back(data);
    parts.resize(max_parts);
    return parts;
}

[[noreturn]] inline void bug(const char* what, const std::string& detail) {
    std::fprintf(stderr, "fuzz: %s: %s\n", what, detail.c_str());
    std::abort();
}

// A status from the C API: anything but QWEN_ERR_INTERNAL is an acceptable answer to bad input.
inline qwen_status check(qwen_status s, const char* call) {
    if (s == QWEN_ERR_INTERNAL) bug(call, qwen_last_error());
    return s;
}

inline void require(bool ok, const char* property, const std::string& detail = "") {
    if (!ok) bug(property, detail);
}

// A per-process scratch directory (on tmpfs when there is one), removed at exit: the readers
// take paths.
inline const std::string& scratch_dir() {
    struct Dir {
        std::string path;
        ~Dir() {
            std::error_code ec;
            std::filesystem::remove_all(path, ec);
        }
    };
    static const Dir dir{[] {
        const char* tmp = std::getenv("TMPDIR");
        const std::string root = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : (tmp ? tmp : "/tmp");
        std::string d = root + "/qwen-fuzz-" + std::to_string(getpid());
        std::filesystem::create_directories(d);
        return d;
    }()};
    return dir.path;
}

inline void write_file(const std::string& path, std::string_view bytes) {
    std::FILE* f = std::fopen(path.c_str(), "wb");
    if (!f) bug("scratch file", path);
    if (!bytes.empty() && std::fwrite(bytes.data(), 1, bytes.size(), f) != bytes.size()) bug("scratch write", path);
    std::fclose(f);
}

}  // namespace qwen::fuzz
