// Little-endian byte strings for saved state: a writer that appends plain values and a
// reader that checks every read against the end and names the offset when data runs out.
// (x86-64 and AArch64 are little-endian; the static_assert keeps it honest elsewhere.)
#pragma once

#include "core/error.hpp"

#include <bit>
#include <cstdint>
#include <cstring>
#include <string>
#include <type_traits>

namespace qwen {

static_assert(std::endian::native == std::endian::little, "saved state is little-endian");

class ByteWriter {
public:
    explicit ByteWriter(std::string& out) : out_(out) {}
    template <class T>
    void put(T v) {
        static_assert(std::is_trivially_copyable_v<T>);
        out_.append(reinterpret_cast<const char*>(&v), sizeof v);
    }
    void put_bytes(const void* p, size_t n) { out_.append(static_cast<const char*>(p), n); }

private:
    std::string& out_;
};

class ByteReader {
public:
    // `what` names the data in error messages ("context state").
    ByteReader(const uint8_t* data, size_t n, const char* what) : p_(data), n_(n), what_(what) {}
    template <class T>
    T get(const char* field) {
        static_assert(std::is_trivially_copyable_v<T>);
        T v;
        std::memcpy(&v, bytes(sizeof v, field), sizeof v);
        return v;
    }
    // A pointer to the next n bytes (checked), then skips them.
    const uint8_t* bytes(size_t n, const char* field) {
        if (n > n_ - off_)
            fail(QWEN_ERR_FORMAT, what_, ": ", field, " at offset ", off_, " needs ", n, " bytes but only ",
                 n_ - off_, " remain");
        const uint8_t* p = p_ + off_;
        off_ += n;
        return p;
    }
    size_t offset() const { return off_; }
    size_t remaining() const { return n_ - off_; }
    [[noreturn]] void bad(const char* field, const std::string& why) const {
        fail(QWEN_ERR_FORMAT, what_, ": ", field, " at offset ", off_, ": ", why);
    }

private:
    const uint8_t* p_;
    size_t n_, off_ = 0;
    const char* what_;
};

// FNV-1a, 64 bits: a cheap checksum for saved state (corruption, not tampering).
inline uint64_t fnv1a64(const void* data, size_t n, uint64_t h = 0xcbf29ce484222325ull) {
    const auto* p = static_cast<const uint8_t*>(data);
    for (size_t i = 0; i < n; ++i) h = (h ^ p[i]) * 0x100000001b3ull;
    return h;
}

}  // namespace qwen
