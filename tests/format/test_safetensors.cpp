// safetensors reader/writer: round trip, and hostile headers that must give a status and a
// message naming the file, the tensor and the field -- never a crash.
#include "core/error.hpp"
#include "format/safetensors.hpp"
#include "hf_test_util.hpp"

#include <doctest/doctest.h>

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

using namespace qwen;
using hftest::expect_error;

namespace {

std::string tmp_path(const std::string& name) {
    const std::string dir = std::string(QWEN_BINARY_DIR) + "/test_safetensors";
    std::filesystem::create_directories(dir);
    return dir + "/" + name;
}

// A file with an explicit header text and data; `len` overrides the length prefix.
std::string raw_file(const std::string& name, std::string header, size_t data_bytes,
                     std::optional<uint64_t> len = std::nullopt) {
    const std::string path = tmp_path(name);
    FILE* f = std::fopen(path.c_str(), "wb");
    REQUIRE(f);
    const uint64_t n = len.value_or(header.size());
    uint8_t b[8];
    for (int i = 0; i < 8; ++i) b[i] = uint8_t(n >> (8 * i));
    std::fwrite(b, 1, 8, f);
    std::fwrite(header.data(), 1, header.size(), f);
    std::vector<uint8_t> data(data_bytes, 0x5a);
    if (data_bytes) std::fwrite(data.data(), 1, data.size(), f);
    std::fclose(f);
    return path;
}

void expect_open_error(const std::string& path, qwen_status status, std::vector<std::string> parts) {
    parts.push_back(std::filesystem::path(path).filename().string());
    expect_error([&] { SafetensorsFile f(path); }, status, parts);
}

}  // namespace

TEST_CASE("safetensors round trip keeps names, dtypes, shapes, bytes and metadata") {
    std::vector<float> a = {1.f, -2.f, 3.5f, 0.f, 1e-3f, 7.f};
    std::vector<uint16_t> b = {0x3f80, 0xbf80, 0x0001};
    const uint8_t u = 7;  // one byte: the next tensor starts at an odd offset
    std::vector<uint16_t> c = {0x3c00, 0x4000, 0x4200, 0x4400};
    SafetensorsWriter w;
    w.set_metadata({{"format", "pt"}, {"note", "test"}});
    w.add_tensor("a", StDtype::F32, {2, 3}, a.data(), a.size() * 4);
    w.add_tensor("b", StDtype::BF16, {3}, b.data(), b.size() * 2);
    w.add_tensor("empty", StDtype::F32, {0, 5}, nullptr, 0);
    w.add_tensor("u", StDtype::U8, {1}, &u, 1);
    w.add_tensor("c", StDtype::F16, {2, 2}, c.data(), c.size() * 2);
    const std::string path = tmp_path("roundtrip.safetensors");
    w.write(path);
    CHECK_FALSE(std::filesystem::exists(path + ".tmp"));

    for (bool mmap : {true, false}) {
        SafetensorsFile f(path, mmap);
        CHECK(f.data_start() % 8 == 0);  // header padded as the Python library does
        CHECK(f.metadata().at("note") == "test");
        REQUIRE(f.tensors().size() == 5);
        const SafetensorsTensor* ta = f.find("a");
        const SafetensorsTensor* tb = f.find("b");
        const SafetensorsTensor* tc = f.find("c");
        REQUIRE((ta && tb && tc && f.find("empty")));
        CHECK(ta->shape == std::vector<uint64_t>{2, 3});
        CHECK(f.tensor_type(*ta) == TensorType::F32);
        CHECK(f.tensor_type(*tb) == TensorType::BF16);
        CHECK(f.tensor_type(*tc) == TensorType::F16);
        CHECK(std::memcmp(f.data(*ta), a.data(), 24) == 0);
        CHECK(std::memcmp(f.data(*tb), b.data(), 6) == 0);
        CHECK(std::memcmp(f.data(*tc), c.data(), 8) == 0);
        CHECK(tc->offset % 2 == 1);  // unaligned data is accepted and reported as is
        CHECK(f.find("missing") == nullptr);
    }
}

TEST_CASE("safetensors writer refuses inconsistent tensors") {
    SafetensorsWriter w;
    float x[4] = {};
    expect_error([&] { w.add_tensor("x", StDtype::F32, {3}, x, 16); }, QWEN_ERR_INVALID_ARGUMENT, {"'x'", "16"});
    expect_error([&] { w.add_tensor("__metadata__", StDtype::F32, {4}, x, 16); }, QWEN_ERR_INVALID_ARGUMENT, {});
    w.add_tensor("x", StDtype::F32, {4}, x, 16);
    expect_error([&] { w.add_tensor("x", StDtype::F32, {4}, x, 16); }, QWEN_ERR_INVALID_ARGUMENT, {"duplicate"});
    expect_error([&] { w.add_tensor("y", StDtype::F32, {1ull << 62, 8}, x, 16); }, QWEN_ERR_INVALID_ARGUMENT, {"'y'"});
    SafetensorsWriter bad_name;
    bad_name.add_tensor("\xff", StDtype::F32, {4}, x, 16);
    expect_error([&] { bad_name.write(tmp_path("badname.st")); }, QWEN_ERR_INVALID_ARGUMENT, {"badname.st"});
    expect_error([&] { w.write("/nonexistent-dir/x.safetensors"); }, QWEN_ERR_IO, {"/nonexistent-dir/x.safetensors"});
}

TEST_CASE("safetensors: hostile length prefix and header") {
    expect_open_error(raw_file("zerohdr.st", "", 0), QWEN_ERR_FORMAT, {"header", "not valid JSON"});
    {
        const std::string p = tmp_path("tiny.st");
        FILE* f = std::fopen(p.c_str(), "wb");
        std::fwrite("abc", 1, 3, f);
        std::fclose(f);
        expect_open_error(p, QWEN_ERR_FORMAT, {"3 bytes", "too short"});
    }
    expect_open_error(raw_file("pastEOF.st", "{}", 0, 1000), QWEN_ERR_FORMAT, {"header length 1000", "past the end"});
    expect_open_error(raw_file("huge.st", "{}", 0, ~0ull), QWEN_ERR_FORMAT, {"header length", "exceeds"});
    expect_open_error(raw_file("notjson.st", "hello world", 0), QWEN_ERR_FORMAT, {"not valid JSON"});
    expect_open_error(raw_file("array.st", "[1,2]", 0), QWEN_ERR_FORMAT, {"not an object"});
    expect_open_error(raw_file("deep.st", std::string(5000, '[') + std::string(5000, ']'), 0), QWEN_ERR_FORMAT,
                      {"nested"});
    expect_open_error(raw_file("badutf8.st", "{\"\xff\xfe\":1}", 0), QWEN_ERR_FORMAT, {"not valid JSON"});
    expect_open_error(raw_file("meta.st", R"({"__metadata__":{"k":1}})", 0), QWEN_ERR_FORMAT, {"'k'", "not a string"});
    // An empty table with no data is a valid (if useless) file.
    CHECK(SafetensorsFile(raw_file("empty.st", "{}      ", 0)).tensors().empty());
}

TEST_CASE("safetensors: hostile tensor entries name the tensor and the field") {
    auto one = [](const std::string& entry, size_t data) {
        return raw_file("t.st", "{\"w\":" + entry + "}", data);
    };
    expect_open_error(one(R"({"dtype":"Q4","shape":[2],"data_offsets":[0,2]})", 2), QWEN_ERR_UNSUPPORTED,
                      {"'w'", "dtype 'Q4'"});
    expect_open_error(one(R"({"dtype":3,"shape":[2],"data_offsets":[0,8]})", 8), QWEN_ERR_FORMAT, {"'w'", "dtype"});
    expect_open_error(one(R"({"shape":[2],"data_offsets":[0,8]})", 8), QWEN_ERR_FORMAT,
                      {"'w'", "missing field 'dtype'"});
    expect_open_error(one(R"({"dtype":"F32","data_offsets":[0,8]})", 8), QWEN_ERR_FORMAT, {"'w'", "'shape'"});
    expect_open_error(one(R"({"dtype":"F32","shape":[2]})", 8), QWEN_ERR_FORMAT, {"'w'", "'data_offsets'"});
    expect_open_error(one(R"({"dtype":"F32","shape":[3],"data_offsets":[0,8]})", 8), QWEN_ERR_FORMAT,
                      {"'w'", "data_offsets [0, 8]", "needs 12"});
    expect_open_error(one(R"({"dtype":"F32","shape":[-2],"data_offsets":[0,8]})", 8), QWEN_ERR_FORMAT,
                      {"'w'", "shape[0] = -2"});
    expect_open_error(one(R"({"dtype":"F32","shape":[2.5],"data_offsets":[0,8]})", 8), QWEN_ERR_FORMAT,
                      {"'w'", "shape[0]"});
    expect_open_error(one(R"({"dtype":"F32","shape":[99999999999999999999],"data_offsets":[0,8]})", 8),
                      QWEN_ERR_FORMAT, {"'w'", "shape[0]"});
    expect_open_error(one(R"({"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,8]})", 8),
                      QWEN_ERR_FORMAT, {"'w'", "overflows"});
    expect_open_error(one(R"({"dtype":"F32","shape":[2],"data_offsets":[8,0]})", 8), QWEN_ERR_FORMAT,
                      {"'w'", "end before"});
    expect_open_error(one(R"({"dtype":"F32","shape":[2],"data_offsets":[0]})", 8), QWEN_ERR_FORMAT,
                      {"'w'", "not a pair"});
    expect_open_error(one(R"({"dtype":"F32","shape":[2],"data_offsets":[-8,0]})", 8), QWEN_ERR_FORMAT,
                      {"'w'", "not a pair"});
    expect_open_error(one(R"({"dtype":"F32","shape":[2],"data_offsets":[0,8]})", 4), QWEN_ERR_FORMAT,
                      {"'w'", "past the end"});
    expect_open_error(one(R"({"dtype":"F32","shape":[2],"data_offsets":[18446744073709551608,0]})", 8),
                      QWEN_ERR_FORMAT, {"'w'"});
    expect_open_error(one(R"({"dtype":"F32","shape":[2],"data_offsets":[0,8]})", 12), QWEN_ERR_FORMAT,
                      {"4 bytes after the last tensor"});
    expect_open_error(one(R"([1])", 0), QWEN_ERR_FORMAT, {"'w'", "not an object"});

    // Unsupported-but-valid dtypes parse (sizes checked) and are refused when used.
    SafetensorsFile f(one(R"({"dtype":"I8","shape":[4],"data_offsets":[0,4]})", 4));
    expect_error([&] { (void)f.tensor_type(f.tensors()[0]); }, QWEN_ERR_UNSUPPORTED, {"t.st", "'w'", "I8"});
}

TEST_CASE("safetensors: tensors must tile the data without overlaps or gaps") {
    expect_open_error(raw_file("overlap.st",
                               R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                               R"("b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})",
                               12),
                      QWEN_ERR_FORMAT, {"'b'", "overlaps", "'a'"});
    expect_open_error(raw_file("alias.st",
                               R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                               R"("b":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})",
                               8),
                      QWEN_ERR_FORMAT, {"overlaps"});
    expect_open_error(raw_file("gap.st",
                               R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},)"
                               R"("b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}})",
                               12),
                      QWEN_ERR_FORMAT, {"gap of 4 bytes", "'b'"});
    expect_open_error(raw_file("late.st", R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})", 8),
                      QWEN_ERR_FORMAT, {"gap", "'a'"});
    // Listed out of order in the JSON is fine.
    SafetensorsFile ok(raw_file("order.st",
                                R"({"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]},)"
                                R"("a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})",
                                8));
    REQUIRE(ok.tensors().size() == 2);
    CHECK(ok.tensors()[0].name == "a");
}

TEST_CASE("safetensors: a missing file is QWEN_ERR_IO") {
    expect_error([] { SafetensorsFile f("/nonexistent/model.safetensors"); }, QWEN_ERR_IO,
                 {"/nonexistent/model.safetensors"});
}
