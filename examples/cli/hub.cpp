// Downloads from the Hugging Face hub with libcurl, verified with OpenSSL's digests.
//
// The protocol is the one huggingface_hub uses: a HEAD request on
// <endpoint>/<repo>/resolve/<revision>/<file>, without following redirects, returns the
// file's size and checksum (X-Linked-Size / X-Linked-Etag for LFS files, whose etag is the
// SHA-256 of the content; Content-Length / ETag, the git blob SHA-1, for small files) and a
// redirect to the storage host; the GET follows it.
#include "hub.hpp"

#include "cli.hpp"

#include <curl/curl.h>
#include <openssl/evp.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <stdexcept>
#include <unistd.h>

namespace fs = std::filesystem;

namespace qwen_cli {

static std::string lower(std::string s) {
    std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return char(std::tolower(c)); });
    return s;
}

static std::string trim(const std::string& s) {
    auto space = [](unsigned char c) { return std::isspace(c) != 0; };
    const auto b = std::find_if_not(s.begin(), s.end(), space);
    const auto e = std::find_if_not(s.rbegin(), std::string::const_reverse_iterator(b), space).base();
    return std::string(b, e);
}

const std::vector<Variant>& variants() {
    static const std::vector<Variant> v = [] {
        std::vector<Variant> out;
        // The quantizations Qwen publishes in its GGUF repository, one file each.
        static const char* const kGguf[][2] = {
            {"q4_k_m", "qwen2.5-0.5b-instruct-q4_k_m.gguf"}, {"q4_0", "qwen2.5-0.5b-instruct-q4_0.gguf"},
            {"q5_0", "qwen2.5-0.5b-instruct-q5_0.gguf"},     {"q5_k_m", "qwen2.5-0.5b-instruct-q5_k_m.gguf"},
            {"q6_k", "qwen2.5-0.5b-instruct-q6_k.gguf"},     {"q8_0", "qwen2.5-0.5b-instruct-q8_0.gguf"},
            {"q3_k_m", "qwen2.5-0.5b-instruct-q3_k_m.gguf"}, {"q2_k", "qwen2.5-0.5b-instruct-q2_k.gguf"},
            {"fp16", "qwen2.5-0.5b-instruct-fp16.gguf"},
        };
        for (const auto& g : kGguf)
            out.push_back({g[0], "Qwen/Qwen2.5-0.5B-Instruct-GGUF", {g[1]}});
        out.push_back({"hf", "Qwen/Qwen2.5-0.5B-Instruct",
                       {"model.safetensors", "config.json", "generation_config.json", "tokenizer.json",
                        "tokenizer_config.json"}});
        return out;
    }();
    return v;
}

const Variant* find_variant(const std::string& name) {
    const std::string wanted = lower(name);
    for (const auto& v : variants())
        if (wanted == v.name) return &v;
    return nullptr;
}

std::string cache_dir() {
    if (const char* d = std::getenv("QWEN_CACHE_DIR"); d && *d) return d;
    if (const char* d = std::getenv("XDG_CACHE_HOME"); d && *d) return std::string(d) + "/qwen";
    const char* home = std::getenv("HOME");
    return std::string(home && *home ? home : ".") + "/.cache/qwen";
}

std::string variant_dir(const std::string& cache, const Variant& v) {
    std::string repo = v.repo;
    repo.replace(repo.find('/'), 1, "--");
    return cache + "/" + repo;
}

std::string variant_path(const std::string& cache, const Variant& v) {
    const std::string dir = variant_dir(cache, v);
    return v.files.size() == 1 ? dir + "/" + v.files[0] : dir;
}

bool is_downloaded(const std::string& cache, const Variant& v) {
    const std::string dir = variant_dir(cache, v);
    return std::all_of(v.files.begin(), v.files.end(), [&](const char* f) { return fs::exists(dir + "/" + f); });
}

std::string resolve_model(const std::string& arg) {
    if (fs::exists(arg)) return arg;
    const Variant* v = find_variant(arg);
    if (!v) return arg;
    const std::string cache = cache_dir();
    if (!is_downloaded(cache, *v))
        throw UsageError("'" + arg + "' is not downloaded yet: run 'qwen download " + v->name + "'");
    return variant_path(cache, *v);
}

namespace {

struct CurlDeleter {
    void operator()(CURL* c) const { curl_easy_cleanup(c); }
};
using CurlPtr = std::unique_ptr<CURL, CurlDeleter>;
struct SlistDeleter {
    void operator()(curl_slist* s) const { curl_slist_free_all(s); }
};
using SlistPtr = std::unique_ptr<curl_slist, SlistDeleter>;

CurlPtr new_handle(const std::string& url, curl_slist* headers) {
    static const bool inited = curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK;
    CurlPtr c(inited ? curl_easy_init() : nullptr);
    if (!c) throw std::runtime_error("cannot initialise libcurl");
    curl_easy_setopt(c.get(), CURLOPT_URL, url.c_str());
    curl_easy_setopt(c.get(), CURLOPT_USERAGENT, "libqwen-cli");
    curl_easy_setopt(c.get(), CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(c.get(), CURLOPT_CONNECTTIMEOUT, 30L);
    // A stalled transfer (under 1 byte/s for 60 s) fails instead of hanging; rerunning resumes.
    curl_easy_setopt(c.get(), CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(c.get(), CURLOPT_LOW_SPEED_TIME, 60L);
    curl_easy_setopt(c.get(), CURLOPT_NOSIGNAL, 1L);
    return c;
}

// What the HEAD request tells about a file.
struct Remote {
    long long size = -1;  // -1: not said
    std::string etag;     // without quotes or W/
};

// The headers of the HEAD response; X-Linked-* (LFS files: the real content's size and
// SHA-256) win over the plain ones, which then describe the redirect.
struct HeadHeaders {
    std::string etag, linked_etag, length, linked_size;
};

size_t on_header(char* data, size_t size, size_t n, void* user) {
    auto* h = static_cast<HeadHeaders*>(user);
    const std::string line(data, size * n);
    const size_t colon = line.find(':');
    if (colon == std::string::npos) return size * n;
    const std::string key = lower(trim(line.substr(0, colon))), value = trim(line.substr(colon + 1));
    if (key == "etag") h->etag = value;
    else if (key == "x-linked-etag") h->linked_etag = value;
    else if (key == "content-length") h->length = value;
    else if (key == "x-linked-size") h->linked_size = value;
    return size * n;
}

Remote head(const std::string& url, curl_slist* headers) {
    HeadHeaders h;
    CurlPtr c = new_handle(url, headers);
    curl_easy_setopt(c.get(), CURLOPT_NOBODY, 1L);
    curl_easy_setopt(c.get(), CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c.get(), CURLOPT_HEADERDATA, &h);
    const CURLcode rc = curl_easy_perform(c.get());
    if (rc != CURLE_OK) throw std::runtime_error(url + ": " + curl_easy_strerror(rc));
    long status = 0;
    curl_easy_getinfo(c.get(), CURLINFO_RESPONSE_CODE, &status);
    if (status == 401 || status == 403)
        throw std::runtime_error(url + ": HTTP " + std::to_string(status) + " (a gated or private file: set HF_TOKEN)");
    if (status >= 400) throw std::runtime_error(url + ": HTTP " + std::to_string(status));
    const bool lfs = !h.linked_etag.empty();
    std::string etag = lfs ? h.linked_etag : h.etag;
    if (etag.rfind("W/", 0) == 0) etag = etag.substr(2);
    etag.erase(std::remove(etag.begin(), etag.end(), '"'), etag.end());
    const std::string& size = lfs ? h.linked_size : (status < 300 ? h.length : std::string());
    return Remote{size.empty() ? -1 : std::atoll(size.c_str()), etag};
}

class Progress {
public:
    Progress(std::string name, bool on) : name_(std::move(name)), on_(on && isatty(2)) {}
    void update(long long done, long long total) {
        if (!on_) return;
        const auto now = std::chrono::steady_clock::now();
        if (now - last_ < std::chrono::milliseconds(200) && done != total) return;
        last_ = now;
        const double secs = std::chrono::duration<double>(now - start_).count();
        const double rate = secs > 0 ? double(done - first_) / secs : 0.0;
        const int width = 30, filled = total > 0 ? int(width * double(done) / double(total)) : 0;
        std::string bar(size_t(filled), '#');
        bar.resize(width, '.');
        std::fprintf(stderr, "\r%s [%s] %6.1f / %.1f MiB  %5.1f MiB/s  ", name_.c_str(), bar.c_str(),
                     double(done) / 1048576, double(total) / 1048576, rate / 1048576);
        if (rate > 0 && total > done) std::fprintf(stderr, "%3.0f s left ", double(total - done) / rate);
        std::fflush(stderr);
    }
    void start_at(long long first) { first_ = first; }
    ~Progress() {
        if (on_) std::fputc('\n', stderr);
    }

private:
    std::string name_;
    bool on_;
    long long first_ = 0;
    std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now(), last_{};
};

struct Sink {
    FILE* f;
    long long done, total;
    Progress* progress;
};

size_t on_body(char* data, size_t size, size_t n, void* user) {
    auto* s = static_cast<Sink*>(user);
    const size_t wrote = std::fwrite(data, size, n, s->f);
    s->done += static_cast<long long>(wrote * size);
    s->progress->update(s->done, s->total);
    return wrote * size;
}

// The hex digest of the file: SHA-256, or the git blob SHA-1 ("blob <size>\0" + content).
std::string digest(const std::string& path, bool git_sha1, long long size) {
    std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
    if (!ctx || !EVP_DigestInit_ex(ctx.get(), git_sha1 ? EVP_sha1() : EVP_sha256(), nullptr))
        throw std::runtime_error("cannot initialise the digest");
    if (git_sha1) {
        const std::string head = "blob " + std::to_string(size);
        EVP_DigestUpdate(ctx.get(), head.c_str(), head.size() + 1);  // with its NUL
    }
    std::unique_ptr<FILE, decltype(&std::fclose)> f(std::fopen(path.c_str(), "rb"), std::fclose);
    if (!f) throw std::runtime_error("cannot read " + path);
    std::vector<unsigned char> buf(1 << 20);
    for (size_t n; (n = std::fread(buf.data(), 1, buf.size(), f.get())) > 0;) EVP_DigestUpdate(ctx.get(), buf.data(), n);
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned len = 0;
    EVP_DigestFinal_ex(ctx.get(), md, &len);
    std::string hex;
    for (unsigned i = 0; i < len; ++i) {
        char b[3];
        std::snprintf(b, sizeof b, "%02x", md[i]);
        hex += b;
    }
    return hex;
}

bool is_hex(const std::string& s, size_t n) {
    return s.size() == n && std::all_of(s.begin(), s.end(), [](unsigned char c) { return std::isxdigit(c); });
}

// Checks size and checksum; the message names what differs.
std::string verify(const std::string& path, const Remote& r) {
    const long long size = static_cast<long long>(fs::file_size(path));
    if (r.size >= 0 && size != r.size)
        return "size " + std::to_string(size) + " bytes, the hub says " + std::to_string(r.size);
    const bool sha256 = is_hex(r.etag, 64), sha1 = is_hex(r.etag, 40);
    if (!sha256 && !sha1) return {};  // no checksum published: the size is all we can check
    const std::string got = digest(path, sha1, size);
    if (got != lower(r.etag))
        return std::string(sha256 ? "SHA-256 " : "git SHA-1 ") + got + ", the hub says " + r.etag;
    return {};
}

}  // namespace

std::string download_file(const DownloadOptions& opt, const std::string& repo, const std::string& file,
                          const std::string& dest) {
    const std::string url = opt.endpoint + "/" + repo + "/resolve/" + opt.revision + "/" + file;
    SlistPtr headers;
    if (!opt.token.empty()) headers.reset(curl_slist_append(nullptr, ("Authorization: Bearer " + opt.token).c_str()));
    const Remote remote = head(url, headers.get());

    if (fs::exists(dest)) {
        if (verify(dest, remote).empty()) return "already present";
        fs::remove(dest);  // stale or damaged: fetch again
    }
    fs::create_directories(fs::path(dest).parent_path());
    const std::string part = dest + ".part";
    long long have = fs::exists(part) ? static_cast<long long>(fs::file_size(part)) : 0;
    if (remote.size >= 0 && have > remote.size) have = 0;  // not a prefix of this file

    const bool resumed = have > 0;
    std::unique_ptr<FILE, decltype(&std::fclose)> f(nullptr, std::fclose);
    Progress progress(file, opt.progress);
    Sink sink{nullptr, 0, remote.size, &progress};
    // One GET from `have` bytes on; false if the server refused the range.
    auto fetch = [&](long long from) {
        f.reset(std::fopen(part.c_str(), from ? "ab" : "wb"));
        if (!f) throw std::runtime_error("cannot write " + part);
        sink.f = f.get();
        sink.done = from;
        progress.start_at(from);
        CurlPtr c = new_handle(url, headers.get());
        curl_easy_setopt(c.get(), CURLOPT_FOLLOWLOCATION, 1L);
        curl_easy_setopt(c.get(), CURLOPT_MAXREDIRS, 10L);
        curl_easy_setopt(c.get(), CURLOPT_FAILONERROR, 1L);
        curl_easy_setopt(c.get(), CURLOPT_WRITEFUNCTION, on_body);
        curl_easy_setopt(c.get(), CURLOPT_WRITEDATA, &sink);
        if (from) curl_easy_setopt(c.get(), CURLOPT_RESUME_FROM_LARGE, static_cast<curl_off_t>(from));
        const CURLcode rc = curl_easy_perform(c.get());
        if (rc == CURLE_RANGE_ERROR) return false;
        if (rc != CURLE_OK)
            throw std::runtime_error(url + ": " + curl_easy_strerror(rc) + " after " + std::to_string(sink.done) +
                                     " bytes (run again to resume)");
        return true;
    };
    if (remote.size < 0 || have < remote.size) {
        if (!fetch(have) && !fetch(0))  // a server without ranges: start over once
            throw std::runtime_error(url + ": the server refused the download");
    } else {
        f.reset(std::fopen(part.c_str(), "ab"));  // complete already: only the checks remain
        if (!f) throw std::runtime_error("cannot write " + part);
    }
    if (std::fflush(f.get()) != 0) throw std::runtime_error("cannot write " + part);
    f.reset();
    if (const std::string bad = verify(part, remote); !bad.empty()) {
        fs::remove(part);
        throw std::runtime_error(url + ": the downloaded file does not match: " + bad + " (removed; run again)");
    }
    fs::rename(part, dest);
    return resumed ? "resumed" : "downloaded";
}

}  // namespace qwen_cli
