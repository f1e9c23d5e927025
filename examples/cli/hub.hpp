// The Hugging Face hub, as far as `qwen download` and `-m SHORT_NAME` need it: the published
// Qwen2.5-0.5B-Instruct files, a cache folder, and resumable, verified downloads (libcurl).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace qwen_cli {

// A short name users type (`q4_k_m`, `hf`) and the files it stands for in a hub repository.
struct Variant {
    const char* name;
    const char* repo;
    std::vector<const char*> files;  // the first one is what -m resolves to (a file or, for
                                     // several files, their folder)
};

const std::vector<Variant>& variants();
const Variant* find_variant(const std::string& name);

// $QWEN_CACHE_DIR, else $XDG_CACHE_HOME/qwen, else ~/.cache/qwen.
std::string cache_dir();
// Where a variant's files live in the cache: <cache>/<owner>--<name>/.
std::string variant_dir(const std::string& cache, const Variant& v);
// What -m VARIANT stands for: its one file, or the folder of its files.
std::string variant_path(const std::string& cache, const Variant& v);
// True when every file of the variant is in the cache.
bool is_downloaded(const std::string& cache, const Variant& v);

// -m accepts a path, or a variant name whose files are in the cache; anything else is
// returned unchanged (and the loader reports it). Names that are not downloaded yet get a
// UsageError telling the command that fetches them.
std::string resolve_model(const std::string& arg);

struct DownloadOptions {
    std::string endpoint;  // $HF_ENDPOINT or https://huggingface.co
    std::string revision = "main";
    std::string token;     // $HF_TOKEN: sent to the hub only, never to the redirect target
    bool progress = true;  // a progress bar on stderr (when it is a terminal)
};

// Fetches endpoint/repo/resolve/revision/file into dest. A finished file that matches the
// hub's size and checksum is kept as it is; a `dest.part` left by an interrupted run is
// resumed with an HTTP Range request. The bytes are verified against the hub's checksum (the
// SHA-256 of an LFS file, the git blob SHA-1 of a small one) before dest appears. Throws
// std::runtime_error naming the URL and what went wrong. Returns "downloaded", "resumed" or
// "already present".
std::string download_file(const DownloadOptions& opt, const std::string& repo, const std::string& file,
                          const std::string& dest);

}  // namespace qwen_cli
