// A Hugging Face model folder from fuzzed bytes: config.json, generation_config.json and
// model.safetensors (the three parts of the input, split at kSeparator; an empty
// generation_config part leaves that file out). Every tensor the reader accepts is read at
// both ends: the bytes are read into memory (not mapped), so ASan sees any view past them.
#include "fuzz_util.hpp"

#include "core/error.hpp"
#include "format/hf_source.hpp"

using namespace qwen::fuzz;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    static const std::string dir = scratch_dir() + "/hf";
    static const bool made = std::filesystem::create_directories(dir);
    (void)made;
    const auto parts = split({reinterpret_cast<const char*>(data), size}, 3);
    write_file(dir + "/config.json", parts[0]);
    if (parts[1].empty()) std::filesystem::remove(dir + "/generation_config.json");
    else write_file(dir + "/generation_config.json", parts[1]);
    write_file(dir + "/model.safetensors", parts[2]);

    try {
        auto source = qwen::open_hf_folder(dir, /*use_mmap=*/false);
        unsigned sum = 0;
        for (const qwen::TensorView& t : source->tensors()) {
            require(t.bytes > 0 && !t.dims.empty(), "a tensor has bytes and dimensions", t.where);
            sum += t.data[0] + t.data[t.bytes - 1];
        }
        if (source->generation_defaults()) sum += 1;
        return int(sum & 0);
    } catch (const qwen::Error&) {
        return 0;  // a clear status; any other exception escapes and is reported by libFuzzer
    }
}
