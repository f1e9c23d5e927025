// quant_tool: our side of tests/python/test_quant_parity.py. Same sub-commands and file
// formats as the llama.cpp oracle's (tests/oracle/llama_oracle.cpp), run on lib/quant:
//   quant_tool dequant TYPE IN.bin OUT.f32                raw blocks -> float32
//   quant_tool quantize-rows TYPE N_PER_ROW IN.f32 OUT.bin float32 rows -> raw blocks
// TYPE is a ggml type name (q4_0, q4_K, iq2_xxs, ...), case-insensitive. Test-only: built in
// the build tree, never installed.

#include "core/error.hpp"
#include "format/tensor_type.hpp"
#include "quant/dequantize.hpp"
#include "quant/quantize.hpp"

#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

namespace {

using qwen::TensorType;

std::string lower(std::string s) {
    for (char& c : s) c = char(std::tolower(static_cast<unsigned char>(c)));
    return s;
}

TensorType type_by_name(const std::string& name) {
    for (uint32_t id = 0; id < 64; ++id) {
        const auto info = qwen::tensor_type_info(id);
        if (info && lower(std::string(info->name)) == lower(name)) return TensorType(id);
    }
    qwen::fail(QWEN_ERR_INVALID_ARGUMENT, "unknown tensor type '", name, "'");
}

std::vector<char> read_bytes(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    if (!f) qwen::fail(QWEN_ERR_IO, "cannot open ", path);
    return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
}

void write_bytes(const std::string& path, const void* data, size_t n) {
    std::ofstream f(path, std::ios::binary);
    f.write(static_cast<const char*>(data), std::streamsize(n));
    if (!f) qwen::fail(QWEN_ERR_IO, "cannot write ", path);
}

int dequant(TensorType type, const std::string& in_path, const std::string& out_path) {
    const std::vector<char> in = read_bytes(in_path);
    const auto info = qwen::tensor_type_info(type);
    if (in.size() % info.block_bytes) qwen::fail(QWEN_ERR_FORMAT, in_path, ": not a whole number of blocks");
    std::vector<float> out(in.size() / info.block_bytes * info.block_elems);
    qwen::quant::dequantize_row(type, in.data(), out.data(), out.size());
    write_bytes(out_path, out.data(), out.size() * sizeof(float));
    std::printf("n=%zu\n", out.size());
    return 0;
}

int quantize_rows(TensorType type, const std::string& n_arg, const std::string& in_path, const std::string& out_path) {
    const size_t n_per_row = std::strtoull(n_arg.c_str(), nullptr, 10);
    const std::vector<char> in = read_bytes(in_path);
    const auto row_bytes = qwen::tensor_row_bytes(type, n_per_row);
    if (n_per_row == 0 || !row_bytes) qwen::fail(QWEN_ERR_INVALID_ARGUMENT, "bad N_PER_ROW ", n_arg);
    if (in.size() % (4 * n_per_row)) qwen::fail(QWEN_ERR_FORMAT, in_path, ": not a whole number of rows");
    const size_t n_rows = in.size() / (4 * n_per_row);
    std::vector<float> src(in.size() / 4);
    std::memcpy(src.data(), in.data(), in.size());
    std::vector<unsigned char> out(n_rows * *row_bytes);
    for (size_t r = 0; r < n_rows; ++r)
        qwen::quant::quantize_row(type, src.data() + r * n_per_row, out.data() + r * *row_bytes, n_per_row);
    write_bytes(out_path, out.data(), out.size());
    std::printf("rows=%zu\nrow_bytes=%zu\n", n_rows, *row_bytes);
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    const std::vector<std::string> a(argv + 1, argv + argc);
    try {
        if (a.size() == 4 && a[0] == "dequant") return dequant(type_by_name(a[1]), a[2], a[3]);
        if (a.size() == 5 && a[0] == "quantize-rows") return quantize_rows(type_by_name(a[1]), a[2], a[3], a[4]);
        std::fputs("usage: quant_tool dequant TYPE IN.bin OUT.f32\n"
                   "       quant_tool quantize-rows TYPE N_PER_ROW IN.f32 OUT.bin\n",
                   stderr);
        return 2;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "quant_tool: error: %s\n", e.what());
        return 1;
    }
}
