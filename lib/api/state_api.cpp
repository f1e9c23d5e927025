// qwen_context_state_*: a context's state and optionally a sampler's in one checked container:
//   "QWST" u32 version=1, u64 n + context state (model/context_state.cpp),
//   u64 n + sampler state (0 bytes: none), u64 FNV-1a of everything before.
// Loading checks the container, the context part and the sampler part before changing
// anything, so a bad buffer leaves both objects as they were.
#include "api/guard.hpp"
#include "api/handles.hpp"
#include "core/bytes.hpp"
#include "core/mapped_file.hpp"
#include "model/context.hpp"
#include "sample/sampler.hpp"

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>

using qwen::fail;
using qwen::guarded;

namespace {

constexpr char kMagic[4] = {'Q', 'W', 'S', 'T'};
constexpr uint32_t kVersion = 1;

size_t header_bytes() { return 4 + 4 + 8 + 8 + 8; }

std::string sampler_bytes(const qwen_sampler* sampler) {
    std::string s;
    if (sampler) sampler->sampler->save_state(s);
    return s;
}

std::string save(const qwen_context* ctx, const qwen_sampler* sampler) {
    const std::string smp = sampler_bytes(sampler);
    const size_t n_ctx = ctx->ctx->state_size();
    std::string out;
    out.reserve(header_bytes() + n_ctx + smp.size());
    qwen::ByteWriter w(out);
    w.put_bytes(kMagic, 4);
    w.put(kVersion);
    w.put(uint64_t(n_ctx));
    ctx->ctx->save_state(out);  // appends in place: the KV cache is copied once
    if (out.size() != 16 + n_ctx) fail(QWEN_ERR_INTERNAL, "context state size ", out.size() - 16, " != ", n_ctx);
    w.put(uint64_t(smp.size()));
    w.put_bytes(smp.data(), smp.size());
    w.put(qwen::fnv1a64(out.data(), out.size()));
    return out;
}

void load(qwen_context* ctx, qwen_sampler* sampler, const uint8_t* data, size_t n) {
    qwen::ByteReader r(data, n, "state");
    if (std::memcmp(r.bytes(4, "magic"), kMagic, 4) != 0) r.bad("magic", "not a libqwen state");
    if (uint32_t v = r.get<uint32_t>("version"); v != kVersion)
        r.bad("version", qwen::cat("version ", v, " is not supported (this library writes ", kVersion, ")"));
    const uint64_t n_ctx = r.get<uint64_t>("context state size");
    if (n_ctx > r.remaining()) r.bad("context state size", qwen::cat(n_ctx, " bytes is more than the buffer holds"));
    const uint8_t* ctx_bytes = r.bytes(size_t(n_ctx), "context state");
    const uint64_t n_smp = r.get<uint64_t>("sampler state size");
    if (n_smp > r.remaining()) r.bad("sampler state size", qwen::cat(n_smp, " bytes is more than the buffer holds"));
    const uint8_t* smp_bytes = r.bytes(size_t(n_smp), "sampler state");
    const size_t summed = r.offset();
    if (r.get<uint64_t>("checksum") != qwen::fnv1a64(data, summed))
        r.bad("checksum", "the state is corrupted (checksum mismatch)");
    if (r.remaining()) r.bad("end", qwen::cat(r.remaining(), " unexpected bytes after the state"));

    ctx->ctx->check_state(ctx_bytes, size_t(n_ctx));
    std::unique_ptr<qwen::Sampler> next;
    if (sampler) {
        if (n_smp == 0) fail(QWEN_ERR_FORMAT, "state: a sampler was given but the state holds none");
        next = std::make_unique<qwen::Sampler>(*sampler->sampler);
        next->load_state(smp_bytes, size_t(n_smp));
    }
    ctx->ctx->load_state(ctx_bytes, size_t(n_ctx));
    if (sampler) sampler->sampler = std::move(next);
}

}  // namespace

extern "C" {

QWEN_API qwen_status qwen_context_state_size(const qwen_context* ctx, const qwen_sampler* sampler, size_t* size) {
    return guarded(__func__, [&] {
        QWEN_REQUIRE_ARG(ctx);
        QWEN_REQUIRE_ARG(size);
        *size = header_bytes() + ctx->ctx->state_size() + sampler_bytes(sampler).size();
    });
}

QWEN_API qwen_status qwen_context_state_save(const qwen_context* ctx, const qwen_sampler* sampler, void* buf,
                                             size_t capacity, size_t* len) {
    return guarded(__func__, [&] {
        QWEN_REQUIRE_ARG(ctx);
        QWEN_REQUIRE_ARG(buf != nullptr || capacity == 0);
        QWEN_REQUIRE_ARG(len);
        qwen::write_out(save(ctx, sampler), buf, capacity, len, "qwen_context_state_save: the state");
    });
}

QWEN_API qwen_status qwen_context_state_load(qwen_context* ctx, qwen_sampler* sampler, const void* buf, size_t len) {
    return guarded(__func__, [&] {
        QWEN_REQUIRE_ARG(ctx);
        QWEN_REQUIRE_ARG(buf != nullptr || len == 0);
        load(ctx, sampler, static_cast<const uint8_t*>(buf), len);
    });
}

QWEN_API qwen_status qwen_context_state_save_file(const qwen_context* ctx, const qwen_sampler* sampler,
                                                  const char* path) {
    return guarded(__func__, [&] {
        QWEN_REQUIRE_ARG(ctx);
        QWEN_REQUIRE_ARG(path);
        const std::string s = save(ctx, sampler);
        // Whole file under a temporary name, then an atomic rename: a crash never leaves a
        // half-written state under the real name.
        const std::string tmp = std::string(path) + ".tmp";
        {
            std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
            if (!f) fail(QWEN_ERR_IO, "cannot create '", tmp, "': ", std::strerror(errno));
            f.write(s.data(), std::streamsize(s.size()));
            f.flush();
            if (!f) {
                std::remove(tmp.c_str());
                fail(QWEN_ERR_IO, "cannot write '", tmp, "'");
            }
        }
        std::error_code ec;
        std::filesystem::rename(tmp, path, ec);
        if (ec) {
            std::remove(tmp.c_str());
            fail(QWEN_ERR_IO, "cannot rename '", tmp, "' to '", path, "': ", ec.message());
        }
    });
}

QWEN_API qwen_status qwen_context_state_load_file(qwen_context* ctx, qwen_sampler* sampler, const char* path) {
    return guarded(__func__, [&] {
        QWEN_REQUIRE_ARG(ctx);
        QWEN_REQUIRE_ARG(path);
        qwen::MappedFile f(path);
        try {
            load(ctx, sampler, f.data(), f.size());
        } catch (const qwen::Error& e) {
            fail(e.status(), "'", path, "': ", e.what());
        }
    });
}

}  // extern "C"
