#include "api/guard.hpp"

#define QWEN_STR2(x) #x
#define QWEN_STR(x) QWEN_STR2(x)

extern "C" {

QWEN_API const char* qwen_version(void) {
    return QWEN_STR(QWEN_VERSION_MAJOR) "." QWEN_STR(QWEN_VERSION_MINOR) "." QWEN_STR(QWEN_VERSION_PATCH);
}

QWEN_API unsigned qwen_version_number(void) { return QWEN_VERSION_NUMBER; }

QWEN_API const char* qwen_status_name(qwen_status status) {
    switch (status) {
    case QWEN_OK: return "QWEN_OK";
    case QWEN_ERR_INVALID_ARGUMENT: return "QWEN_ERR_INVALID_ARGUMENT";
    case QWEN_ERR_IO: return "QWEN_ERR_IO";
    case QWEN_ERR_FORMAT: return "QWEN_ERR_FORMAT";
    case QWEN_ERR_UNSUPPORTED: return "QWEN_ERR_UNSUPPORTED";
    case QWEN_ERR_OUT_OF_MEMORY: return "QWEN_ERR_OUT_OF_MEMORY";
    case QWEN_ERR_CONTEXT_FULL: return "QWEN_ERR_CONTEXT_FULL";
    case QWEN_ERR_BUFFER_TOO_SMALL: return "QWEN_ERR_BUFFER_TOO_SMALL";
    case QWEN_ERR_ABORTED: return "QWEN_ERR_ABORTED";
    case QWEN_ERR_INPUT_TOO_LARGE: return "QWEN_ERR_INPUT_TOO_LARGE";
    case QWEN_ERR_INTERNAL: return "QWEN_ERR_INTERNAL";
    }
    return "QWEN_ERR_UNKNOWN";
}

QWEN_API const char* qwen_last_error(void) { return qwen::last_error(); }

}  // extern "C"
