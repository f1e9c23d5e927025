// Helpers shared by the extension's files: libqwen statuses as C++ exceptions, and the C API's
// buffer protocol (QWEN_ERR_BUFFER_TOO_SMALL + the size needed) as vectors and strings.
#pragma once

#include <qwen/qwen.h>

#include <string>
#include <vector>

namespace qwen_py {

// A failed libqwen call, carried to the translator that raises qwen.QwenError.
struct Failure {
    qwen_status status;
    std::string message;
};

// Must run on the thread that made the call, before any other libqwen call (the message is
// per thread and valid until the next call).
inline void check(qwen_status st) {
    if (st != QWEN_OK) throw Failure{st, qwen_last_error()};
}

// Calls a sized C function twice at most: once to measure, once to fill.
template <class T, class F>
std::vector<T> sized_call(F &&fill) {
    std::vector<T> out(256);
    size_t n = 0;
    qwen_status st = fill(out.data(), out.size(), &n);
    if (st == QWEN_ERR_BUFFER_TOO_SMALL) {
        out.resize(n);
        st = fill(out.data(), out.size(), &n);
    }
    check(st);
    out.resize(n);
    return out;
}

inline std::string sized_text(const auto &fill) {
    std::vector<char> buf = sized_call<char>(fill);
    return {buf.begin(), buf.end()};
}

} // namespace qwen_py
