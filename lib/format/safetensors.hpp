// safetensors: u64 little-endian header length N, N bytes of JSON, then the data buffer.
// The JSON maps tensor names to {"dtype", "shape" (outermost first), "data_offsets":
// [begin, end] relative to the first byte after the header}; an optional "__metadata__"
// maps strings to strings.
//
// SafetensorsFile validates as strictly as the reference implementation (the `safetensors`
// Rust crate that transformers loads through): header at most 100 MB, valid UTF-8 JSON,
// every dtype known, sizes equal to product(shape) * dtype size, and the tensors tiling the
// data buffer exactly -- contiguous from offset 0 to the end of the file, no gaps, no
// overlaps. A file the reference would refuse is refused here with Error(QWEN_ERR_FORMAT)
// naming the file, the tensor and the field or byte offset. Data is not required to be
// aligned: a BF16 tensor may start at any byte, so users of data() must not assume more
// than byte alignment.
#pragma once

#include "core/mapped_file.hpp"
#include "format/tensor_type.hpp"

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace qwen {

// Every dtype the format defines. Only F32, F16 and BF16 map to a TensorType the model
// computes with; the others are still parsed (so sizes are checked and a file holding, say,
// an unused U8 buffer is still readable) and refused when a caller asks for their TensorType.
enum class StDtype : uint8_t {
    BOOL, U8, I8, F8_E5M2, F8_E4M3, I16, U16, F16, BF16, I32, U32, F32, F64, I64, U64,
};

std::string_view st_dtype_name(StDtype d);
size_t st_dtype_size(StDtype d);  // bytes per element
std::optional<StDtype> st_dtype_from_name(std::string_view name);
std::optional<TensorType> st_dtype_tensor_type(StDtype d);  // F32/F16/BF16 only
std::optional<StDtype> st_dtype_from_tensor_type(TensorType t);

struct SafetensorsTensor {
    std::string name;
    StDtype dtype;
    std::vector<uint64_t> shape;  // as stored: shape[0] outermost ([out, in] for a Linear)
    size_t offset;                // absolute file offset of the first byte
    size_t bytes;
};

class SafetensorsFile {
public:
    static constexpr uint64_t kMaxHeaderBytes = 100'000'000;  // the reference's limit

    // Opens and validates. Throws Error(QWEN_ERR_IO / QWEN_ERR_FORMAT).
    explicit SafetensorsFile(const std::string& path, bool use_mmap = true);

    const std::string& path() const { return file_.path(); }
    // Tensors in data order (ascending offset).
    const std::vector<SafetensorsTensor>& tensors() const { return tensors_; }
    const SafetensorsTensor* find(std::string_view name) const;
    const uint8_t* data(const SafetensorsTensor& t) const { return file_.data() + t.offset; }
    const std::map<std::string, std::string>& metadata() const { return metadata_; }
    size_t data_start() const { return data_start_; }
    // See MappedFile.
    const MappedFile& file() const { return file_; }

    // The tensor's type for the model; Error(QWEN_ERR_UNSUPPORTED) naming the file, the
    // tensor and the dtype for anything but F32/F16/BF16.
    TensorType tensor_type(const SafetensorsTensor& t) const;

private:
    MappedFile file_;
    size_t data_start_ = 0;
    std::vector<SafetensorsTensor> tensors_;
    std::unordered_map<std::string_view, size_t> index_;
    std::map<std::string, std::string> metadata_;
};

// Builds a safetensors file the way the Python library writes one: "__metadata__" first
// ({"format": "pt"} unless replaced), the header padded with spaces to a multiple of 8,
// tensors stored in insertion order, back to back.
class SafetensorsWriter {
public:
    void set_metadata(std::map<std::string, std::string> metadata) { metadata_ = std::move(metadata); }

    // `shape` outermost first. `data` is borrowed, not copied: it must stay valid until
    // write() returns (the model-sized callers already hold every tensor, and a copy of a
    // 2 GB F32 model would double the peak memory). Throws Error(QWEN_ERR_INVALID_ARGUMENT)
    // when `bytes` does not match the shape, or for a duplicate or reserved name.
    void add_tensor(const std::string& name, StDtype dtype, std::vector<uint64_t> shape,
                    const void* data, size_t bytes);

    // Writes path + ".tmp", then renames it over `path`. Throws Error(QWEN_ERR_IO).
    void write(const std::string& path) const;

    size_t data_bytes() const { return data_bytes_; }

private:
    struct Pending {
        std::string name;
        StDtype dtype;
        std::vector<uint64_t> shape;
        const void* data;
        size_t bytes;
    };
    std::map<std::string, std::string> metadata_{{"format", "pt"}};
    std::vector<Pending> tensors_;
    size_t data_bytes_ = 0;
};

}  // namespace qwen
