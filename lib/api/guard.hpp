// The one place where C++ exceptions become a qwen_status + qwen_last_error() message.
// Every exported function that can fail runs its body through guarded(__func__, ...), so
// the messages of failed argument checks name the C function (inside the body's lambda,
// __func__ would only be "operator()").
#pragma once

#include "core/error.hpp"
#include "core/last_error.hpp"

#include <cstring>
#include <new>
#include <string>

namespace qwen {

// A failed QWEN_REQUIRE_ARG: guarded() prefixes the name of the C function.
class ArgumentError : public Error {
public:
    explicit ArgumentError(const char* what) : Error(QWEN_ERR_INVALID_ARGUMENT, what) {}
};

template <class F>
qwen_status guarded(const char* api, F&& body) noexcept {
    try {
        body();
        return QWEN_OK;
    } catch (const ArgumentError& e) {
        set_last_error(cat(api, ": ", e.what()));
        return e.status();
    } catch (const Error& e) {
        set_last_error(e.what());
        return e.status();
    } catch (const std::bad_alloc&) {
        set_last_error("out of memory");
        return QWEN_ERR_OUT_OF_MEMORY;
    } catch (const std::exception& e) {
        set_last_error(cat("internal error: ", e.what()));
        return QWEN_ERR_INTERNAL;
    } catch (...) {
        set_last_error("internal error: unknown exception");
        return QWEN_ERR_INTERNAL;
    }
}

#define QWEN_REQUIRE_ARG(cond)                                                          \
    do {                                                                                \
        if (!(cond)) throw ::qwen::ArgumentError(#cond " is false");                    \
    } while (0)

// Reads a versioned params struct: defaults first, then the bytes the caller's struct_size
// covers (older callers pass smaller structs; newer fields keep their defaults).
template <class T>
T read_params(const T* user, T defaults) {
    if (!user) return defaults;
    if (user->struct_size < sizeof(size_t))
        fail(QWEN_ERR_INVALID_ARGUMENT, "params.struct_size is ", user->struct_size,
             ": initialise params with the qwen_*_default_params() function");
    size_t n = user->struct_size < sizeof(T) ? user->struct_size : sizeof(T);
    std::memcpy(static_cast<void*>(&defaults), user, n);
    defaults.struct_size = sizeof(T);
    return defaults;
}

// The buffer protocol of the C API: copies `s` to buf[0 .. *len) if it fits; otherwise
// *len is the size needed, the caller's buffer is untouched, and the error names `what`.
inline void write_out(const std::string& s, void* buf, size_t capacity, size_t* len, const char* what) {
    *len = s.size();
    if (s.size() > capacity)
        fail(QWEN_ERR_BUFFER_TOO_SMALL, what, " needs ", s.size(), " bytes, the buffer has ", capacity);
    if (!s.empty()) std::memcpy(buf, s.data(), s.size());
}

// Fills a caller's struct with defaults for the size it was compiled with.
template <class T>
void init_params(T* user, size_t struct_size, const T& defaults) {
    if (!user || struct_size < sizeof(size_t)) return;
    size_t n = struct_size < sizeof(T) ? struct_size : sizeof(T);
    std::memcpy(static_cast<void*>(user), &defaults, n);
    user->struct_size = struct_size;
}

}  // namespace qwen
