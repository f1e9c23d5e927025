#include "core/error.hpp"
#include "core/mapped_file.hpp"

#include <doctest/doctest.h>

#include <cstdio>
#include <string>

using namespace qwen;

TEST_CASE("MappedFile maps and reads the same bytes") {
    std::string path = std::string(QWEN_BINARY_DIR) + "/mapped_file_test.bin";
    FILE* f = std::fopen(path.c_str(), "wb");
    REQUIRE(f);
    std::fputs("hello, qwen", f);
    std::fclose(f);
    for (bool mmap : {true, false}) {
        MappedFile m(path, mmap);
        REQUIRE(m.size() == 11);
        CHECK(std::string(reinterpret_cast<const char*>(m.data()), m.size()) == "hello, qwen");
    }
    std::remove(path.c_str());
}

TEST_CASE("MappedFile reports a missing file as QWEN_ERR_IO naming the path") {
    try {
        MappedFile m("/nonexistent/qwen.gguf");
        FAIL("no exception");
    } catch (const Error& e) {
        CHECK(e.status() == QWEN_ERR_IO);
        CHECK(std::string(e.what()).find("/nonexistent/qwen.gguf") != std::string::npos);
    }
}

TEST_CASE("MappedFile refuses a directory") {
    CHECK_THROWS_AS(MappedFile("/tmp"), Error);
}
