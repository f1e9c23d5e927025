// Errors inside the library are C++ exceptions carrying a qwen_status; the C API turns
// them into a status plus the thread's last-error message (api/guard.hpp). Nothing else
// may cross the C boundary.
#pragma once

#include <qwen/qwen.h>

#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>

namespace qwen {

class Error : public std::runtime_error {
public:
    Error(qwen_status status, const std::string& message)
        : std::runtime_error(message), status_(status) {}
    qwen_status status() const noexcept { return status_; }

private:
    qwen_status status_;
};

// Concatenates anything streamable: cat("tensor '", name, "' at offset ", off).
template <class... Args>
std::string cat(Args&&... args) {
    std::ostringstream os;
    (os << ... << std::forward<Args>(args));
    return os.str();
}

template <class... Args>
[[noreturn]] void fail(qwen_status status, Args&&... args) {
    throw Error(status, cat(std::forward<Args>(args)...));
}

}  // namespace qwen
