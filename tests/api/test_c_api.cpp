#include <qwen/qwen.h>

#include <doctest/doctest.h>

#include <cstring>
#include <string>

extern "C" int qwen_header_c99_probe(void);

TEST_CASE("version macros agree with the library") {
    std::string expected = std::to_string(QWEN_VERSION_MAJOR) + "." + std::to_string(QWEN_VERSION_MINOR) +
                           "." + std::to_string(QWEN_VERSION_PATCH);
    CHECK(expected == qwen_version());
    CHECK(qwen_version_number() == QWEN_VERSION_NUMBER);
}

TEST_CASE("status names") {
    CHECK(std::string(qwen_status_name(QWEN_OK)) == "QWEN_OK");
    CHECK(std::string(qwen_status_name(QWEN_ERR_FORMAT)) == "QWEN_ERR_FORMAT");
    CHECK(std::string(qwen_status_name(static_cast<qwen_status>(999))) == "QWEN_ERR_UNKNOWN");
}

TEST_CASE("default params carry the caller's struct size") {
    qwen_model_params mp = qwen_model_default_params();
    CHECK(mp.struct_size == sizeof(qwen_model_params));
    CHECK(mp.use_mmap == 1);
    qwen_context_params cp = qwen_context_default_params();
    CHECK(cp.struct_size == sizeof(qwen_context_params));
    CHECK(cp.n_ctx == 0);
    CHECK(cp.kv_type == QWEN_KV_F16);
    CHECK(qwen_header_c99_probe() > 0);
}

TEST_CASE("an older caller's smaller params struct only gets the fields it has") {
    // Simulate a caller compiled when qwen_context_params ended after n_ctx.
    unsigned char buf[sizeof(qwen_context_params) + 16];
    std::memset(buf, 0xAB, sizeof buf);
    size_t old_size = offsetof(qwen_context_params, n_threads);
    qwen_context_params_init(reinterpret_cast<qwen_context_params*>(buf), old_size);
    for (size_t i = old_size; i < sizeof buf; ++i) REQUIRE(buf[i] == 0xAB);  // nothing written past it
    CHECK(reinterpret_cast<qwen_context_params*>(buf)->struct_size == old_size);
}

TEST_CASE("load errors name the path and set the thread's last error") {
    qwen_model* m = reinterpret_cast<qwen_model*>(0x1);
    qwen_status st = qwen_model_load("/nonexistent/model.gguf", nullptr, &m);
    CHECK(st == QWEN_ERR_IO);
    CHECK(m == reinterpret_cast<qwen_model*>(0x1));  // untouched on failure
    CHECK(std::string(qwen_last_error()).find("/nonexistent/model.gguf") != std::string::npos);
    CHECK(qwen_model_load(nullptr, nullptr, &m) == QWEN_ERR_INVALID_ARGUMENT);
    CHECK(std::string(qwen_last_error()) == "qwen_model_load: path is false");
    qwen_model_free(nullptr);    // no-op
    qwen_context_free(nullptr);  // no-op
}
