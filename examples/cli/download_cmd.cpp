// qwen download: fetches the published Qwen2.5-0.5B-Instruct files into the cache, so that
// `-m q4_k_m` (or any other variant name) finds them.
#include "cli.hpp"
#include "hub.hpp"

#include <cstdio>
#include <cstdlib>
#include <string>

namespace qwen_cli {

static const char* kDownloadHelp =
    "usage: qwen download [VARIANT] [--revision REV] [--list] [--quiet]\n"
    "\n"
    "Fetches a published Qwen2.5-0.5B-Instruct model from the Hugging Face hub into the cache\n"
    "($QWEN_CACHE_DIR, else $XDG_CACHE_HOME/qwen, else ~/.cache/qwen) and prints its path.\n"
    "VARIANT is a GGUF quantization of Qwen/Qwen2.5-0.5B-Instruct-GGUF (default q4_k_m) or `hf`\n"
    "for the safetensors folder of Qwen/Qwen2.5-0.5B-Instruct; --list shows them all. An\n"
    "interrupted download resumes where it stopped when run again, and every file is checked\n"
    "against the hub's size and checksum before it is used. Afterwards `-m VARIANT` works in\n"
    "every command. Environment: HF_ENDPOINT (default https://huggingface.co), HF_TOKEN.\n";

int download_main(int argc, char** argv) {
    std::vector<char*> args;
    std::string name = "q4_k_m";
    for (int i = 0; i < argc; ++i) {
        if (i > 0 && argv[i][0] != '-' && (i == 1 || std::string(argv[i - 1]) != "--revision")) {
            name = argv[i];
            continue;
        }
        args.push_back(argv[i]);
    }
    Args a(int(args.size()), args.data(), {"list", "quiet"}, {"revision"});
    if (a.help()) {
        std::fputs(kDownloadHelp, stdout);
        return 0;
    }
    if (!a.error().empty()) throw UsageError(a.error());
    const std::string cache = cache_dir();
    if (a.has("list")) {
        for (const auto& v : variants())
            std::printf("%-7s %s/%s%s%s\n", v.name, v.repo, v.files[0], v.files.size() > 1 ? " (+ config and tokenizer)" : "",
                        is_downloaded(cache, v) ? "  [downloaded]" : "");
        return 0;
    }
    const Variant* v = find_variant(name);
    if (!v) throw UsageError("unknown variant '" + name + "' (qwen download --list shows them)");

    DownloadOptions opt;
    const char* endpoint = std::getenv("HF_ENDPOINT");
    opt.endpoint = endpoint && *endpoint ? endpoint : "https://huggingface.co";
    while (!opt.endpoint.empty() && opt.endpoint.back() == '/') opt.endpoint.pop_back();
    if (const char* token = std::getenv("HF_TOKEN")) opt.token = token;
    opt.revision = a.get("revision", "main");
    opt.progress = !a.has("quiet");
    const std::string dir = variant_dir(cache, *v);
    for (const char* f : v->files) {
        const std::string what = download_file(opt, v->repo, f, dir + "/" + f);
        if (!a.has("quiet")) std::fprintf(stderr, "%s: %s\n", f, what.c_str());
    }
    std::printf("%s\n", variant_path(cache, *v).c_str());
    return 0;
}

}  // namespace qwen_cli
