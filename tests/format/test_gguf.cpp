#include "core/error.hpp"
#include "format/gguf.hpp"
#include "format/gguf_source.hpp"

#include <doctest/doctest.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

using namespace qwen;

namespace {

std::string tmp_path(const std::string& name) { return std::string(QWEN_BINARY_DIR) + "/test_gguf_" + name; }

std::string read_all(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(f), {});
}

void write_all(const std::string& path, const std::string& bytes) {
    std::ofstream f(path, std::ios::binary);
    f.write(bytes.data(), std::streamsize(bytes.size()));
}

// A small valid file with every kind of value and two tensors.
std::string make_sample() {
    GgufWriter w;
    w.set_string("general.architecture", "qwen2");
    w.set_uint32("qwen2.block_count", 1);
    w.set_float32("qwen2.rope.freq_base", 1e6f);
    w.set_bool("flag", true);
    w.set_string_array("tokens", {"a", "", "<|im_end|>"});
    w.set_int32_array("types", {1, -3, 4});
    w.set_float32_array("scores", {0.5f, -1.0f});
    std::vector<float> a(64 * 2);
    for (size_t i = 0; i < a.size(); ++i) a[i] = float(i);
    w.add_tensor("a", TensorType::F32, {64, 2}, a.data(), a.size() * 4);
    std::vector<uint16_t> b(32, 0x3c00);
    w.add_tensor("b", TensorType::F16, {32}, b.data(), b.size() * 2);
    std::string path = tmp_path("sample.gguf");
    w.write(path);
    return path;
}

// Expects a QWEN_ERR_FORMAT whose message contains `needle`.
void expect_format_error(const std::string& bytes, const std::string& needle) {
    std::string path = tmp_path("bad.gguf");
    write_all(path, bytes);
    try {
        GgufFile f(path);
        FAIL("no error for a file that should mention '" << needle << "'");
    } catch (const Error& e) {
        CHECK(e.status() == QWEN_ERR_FORMAT);
        INFO("message: " << e.what());
        CHECK(std::string(e.what()).find(needle) != std::string::npos);
        CHECK(std::string(e.what()).find(path) != std::string::npos);
    }
}

}  // namespace

TEST_CASE("GGUF round trip: every value kind and tensor data") {
    GgufFile f(make_sample());
    CHECK(f.version() == 3);
    CHECK(*f.get_string("general.architecture") == "qwen2");
    CHECK(*f.get_uint("qwen2.block_count") == 1);
    CHECK(*f.get_float("qwen2.rope.freq_base") == 1e6);
    CHECK(*f.get_bool("flag"));
    auto tokens = *f.get_string_array("tokens");
    REQUIRE(tokens.size() == 3);
    CHECK(tokens[0] == "a");
    CHECK(tokens[1].empty());
    CHECK(tokens[2] == "<|im_end|>");
    CHECK(*f.get_int_array("types") == std::vector<int64_t>{1, -3, 4});
    CHECK(*f.get_float_array("scores") == std::vector<float>{0.5f, -1.0f});
    CHECK_FALSE(f.get_string("missing"));
    const GgufTensor* a = f.find_tensor("a");
    REQUIRE(a);
    CHECK(a->dims == std::vector<uint64_t>{64, 2});
    CHECK(a->offset % 32 == 0);
    float v;
    std::memcpy(&v, f.tensor_data(*a) + 4 * 77, 4);
    CHECK(v == 77.0f);
    const GgufTensor* b = f.find_tensor("b");
    REQUIRE(b);
    CHECK(b->bytes == 64);
}

TEST_CASE("GGUF typed getters refuse the wrong type, naming the key") {
    GgufFile f(make_sample());
    CHECK_THROWS_WITH_AS(f.get_string("qwen2.block_count"), doctest::Contains("qwen2.block_count"), Error);
    CHECK_THROWS_AS(f.get_uint("general.architecture"), Error);
    CHECK_THROWS_AS(f.get_string_array("types"), Error);
    CHECK_THROWS_AS(f.get_int_array("scores"), Error);
}

TEST_CASE("GGUF: every truncation of a valid file is refused cleanly") {
    std::string good = read_all(make_sample());
    // Cutting anywhere in the header or the data must give a format error, never a crash.
    for (size_t cut = 0; cut < good.size(); cut += (cut < 600 ? 1 : 97)) {
        std::string path = tmp_path("trunc.gguf");
        write_all(path, good.substr(0, cut));
        try {
            GgufFile f(path);
            FAIL("truncated at " << cut << " of " << good.size() << " was accepted");
        } catch (const Error& e) {
            REQUIRE(e.status() == QWEN_ERR_FORMAT);
        }
    }
}

TEST_CASE("GGUF hostile headers") {
    std::string good = read_all(make_sample());
    auto patched = [&](size_t off, const void* p, size_t n) {
        std::string s = good;
        std::memcpy(&s[off], p, n);
        return s;
    };
    expect_format_error("GGML" + good.substr(4), "bad magic");
    uint32_t v9 = 9;
    expect_format_error(patched(4, &v9, 4), "version 9");
    uint64_t huge = 1ull << 60;
    expect_format_error(patched(8, &huge, 8), "absurd counts");
    expect_format_error(patched(16, &huge, 8), "absurd counts");
    // The first key's name length is at offset 24.
    expect_format_error(patched(24, &huge, 8), "absurd length");
    // The first key's type follows its name ("general.architecture", 20 bytes).
    uint32_t bad_type = 77;
    expect_format_error(patched(24 + 8 + 20, &bad_type, 4), "invalid type");
}

TEST_CASE("GGUF hostile tensor infos") {
    std::string good = read_all(make_sample());
    // Find tensor "a"'s info: name length 1, "a", n_dims 2.
    std::string needle = std::string("\x01\0\0\0\0\0\0\0a\x02\0\0\0", 13);
    size_t at = good.find(needle);
    REQUIRE(at != std::string::npos);
    const size_t dims = at + 13, type = dims + 16, offset = type + 4;
    auto patched = [&](size_t off, const void* p, size_t n) {
        std::string s = good;
        std::memcpy(&s[off], p, n);
        return s;
    };
    uint64_t zero = 0, big = 1ull << 50, odd = 33, past = 1ull << 40, misaligned = 4;
    uint32_t unknown_type = 4, q8 = 8, five = 5;
    expect_format_error(patched(dims, &zero, 8), "absurd dimension");
    expect_format_error(patched(dims, &big, 8), "absurd dimension");
    expect_format_error(patched(type, &unknown_type, 4), "unknown type");
    // 64 floats per row is 2 blocks of q8_0 (fine), but 33 elements is not a whole block.
    std::string s = patched(dims, &odd, 8);
    std::memcpy(&s[type], &q8, 4);
    expect_format_error(s, "whole number");
    expect_format_error(patched(offset, &past, 8), "past the end");
    expect_format_error(patched(offset, &misaligned, 8), "not aligned");
    expect_format_error(patched(at + 9, &five, 4), "5 dimensions");
}

TEST_CASE("GGUF source: architecture and hyper-parameters are validated") {
    GgufWriter w;
    w.set_string("general.architecture", "llama");
    std::vector<float> e(64 * 8);
    w.add_tensor("token_embd.weight", TensorType::F32, {64, 8}, e.data(), e.size() * 4);
    std::string path = tmp_path("llama.gguf");
    w.write(path);
    try {
        open_gguf_source(std::make_shared<const GgufFile>(path));
        FAIL("llama accepted");
    } catch (const Error& e2) {
        CHECK(e2.status() == QWEN_ERR_UNSUPPORTED);
        CHECK(std::string(e2.what()).find("llama") != std::string::npos);
    }
    GgufWriter w2;
    w2.set_string("general.architecture", "qwen2");
    w2.set_uint32("qwen2.block_count", 1);
    w2.write(path);
    CHECK_THROWS_WITH_AS(open_gguf_source(std::make_shared<const GgufFile>(path)),
                         doctest::Contains("qwen2.context_length"), Error);
}
