// GGUF (v2 and v3) reading and writing.
//
// Layout (little-endian): magic "GGUF", u32 version, u64 tensor count, u64 key/value count,
// the key/values, the tensor infos (name, u32 n_dims, u64 dims[n_dims] fastest-varying
// first, u32 type, u64 offset relative to the data section), padding to `general.alignment`
// (default 32), then the data section. Strings are u64 length + bytes (no NUL).
//
// GgufFile validates everything before anything is used: a malformed file raises
// Error(QWEN_ERR_FORMAT) naming the key or tensor and the byte offset. Values are read from
// the mapped bytes on demand, so a 151,936-entry vocabulary costs no copies until asked for.
#pragma once

#include "core/mapped_file.hpp"
#include "format/tensor_type.hpp"

#include <cstdint>
#include <cstdio>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace qwen {

enum class GgufValueType : uint32_t {
    U8 = 0, I8 = 1, U16 = 2, I16 = 3, U32 = 4, I32 = 5, F32 = 6, BOOL = 7, STRING = 8,
    ARRAY = 9, U64 = 10, I64 = 11, F64 = 12,
};

struct GgufKv {
    std::string key;
    GgufValueType type;
    GgufValueType elem_type;  // for ARRAY
    uint64_t count;           // elements, for ARRAY; 1 otherwise
    size_t offset;            // file offset of the value (of the first element for ARRAY)
};

struct GgufTensor {
    std::string name;
    TensorType type;
    std::vector<uint64_t> dims;  // dims[0] varies fastest (a row has dims[0] elements)
    uint64_t n_elems;
    size_t offset;  // absolute file offset of the data
    size_t bytes;
    size_t info_offset;  // file offset of the tensor info, for messages
};

class GgufFile {
public:
    // Opens and validates. Throws Error(QWEN_ERR_IO / QWEN_ERR_FORMAT).
    explicit GgufFile(const std::string& path, bool use_mmap = true);

    const std::string& path() const { return file_.path(); }
    uint32_t version() const { return version_; }
    size_t alignment() const { return alignment_; }

    const std::vector<GgufKv>& kvs() const { return kvs_; }
    const GgufKv* find(std::string_view key) const;

    // Typed getters: nullopt when the key is absent; Error(QWEN_ERR_FORMAT) naming the key
    // when it is present with an incompatible type or value.
    std::optional<std::string_view> get_string(std::string_view key) const;
    std::optional<uint64_t> get_uint(std::string_view key) const;  // any non-negative integer
    std::optional<double> get_float(std::string_view key) const;   // f32, f64 or an integer
    std::optional<bool> get_bool(std::string_view key) const;
    std::optional<std::vector<std::string_view>> get_string_array(std::string_view key) const;
    std::optional<std::vector<int64_t>> get_int_array(std::string_view key) const;
    std::optional<std::vector<float>> get_float_array(std::string_view key) const;

    const std::vector<GgufTensor>& tensors() const { return tensors_; }
    const GgufTensor* find_tensor(std::string_view name) const;
    const uint8_t* tensor_data(const GgufTensor& t) const { return file_.data() + t.offset; }
    // The file's bytes (GgufWriter::copy_kv copies values from them verbatim).
    const uint8_t* data() const { return file_.data(); }
    // See MappedFile::mapped, MappedFile::holds and MappedFile::release.
    bool mapped() const { return file_.mapped(); }
    bool holds(const uint8_t* p) const { return file_.holds(p); }
    void release(const uint8_t* p, size_t n) const { file_.release(p, n); }

private:
    MappedFile file_;
    uint32_t version_ = 0;
    size_t alignment_ = 32;
    std::vector<GgufKv> kvs_;
    std::vector<GgufTensor> tensors_;
    std::unordered_map<std::string_view, size_t> kv_index_, tensor_index_;
};

// Builds a GGUF v3 file in memory and writes it. Used by the synthetic-model tool, the
// quantizer and tests. Keys and tensors are written in insertion order. Tensors declared
// without data (declare_tensor) are streamed afterwards through a GgufStream, so a file
// larger than memory can be written one piece at a time.
class GgufWriter {
public:
    explicit GgufWriter(size_t alignment = 32) : alignment_(alignment) {
        if (alignment != 32) set_uint32("general.alignment", uint32_t(alignment));
    }

    void set_uint32(const std::string& key, uint32_t v);
    void set_int32(const std::string& key, int32_t v);
    void set_uint64(const std::string& key, uint64_t v);
    void set_float32(const std::string& key, float v);
    void set_bool(const std::string& key, bool v);
    void set_string(const std::string& key, std::string_view v);
    void set_string_array(const std::string& key, const std::vector<std::string>& v);
    void set_int32_array(const std::string& key, const std::vector<int32_t>& v);
    void set_float32_array(const std::string& key, const std::vector<float>& v);
    // Copies a key of another file with its type and value as they are.
    void copy_kv(const GgufFile& from, const GgufKv& kv);

    // `data` must hold exactly the bytes of a tensor of `type` and `dims` (dims[0] fastest).
    void add_tensor(const std::string& name, TensorType type, std::vector<uint64_t> dims,
                    const void* data, size_t bytes);

    // A tensor whose bytes (tensor_row_bytes(type, dims[0]) per row) come later, through a
    // GgufStream. Throws Error(QWEN_ERR_INVALID_ARGUMENT) when dims[0] is not a whole number
    // of blocks.
    void declare_tensor(const std::string& name, TensorType type, std::vector<uint64_t> dims);

    // Writes the file (to path + ".tmp", then renamed). Throws Error(QWEN_ERR_IO).
    void write(const std::string& path) const;

private:
    friend class GgufStream;
    void put_key(const std::string& key, GgufValueType type);
    std::string header() const;  // keys, tensor infos and the padding before the data
    size_t alignment_;
    std::string kv_bytes_;
    uint64_t n_kv_ = 0;
    struct Pending {
        std::string name;
        TensorType type;
        std::vector<uint64_t> dims;
        size_t bytes;
        std::string data;  // empty for a declared tensor
    };
    std::vector<Pending> tensors_;
};

// Writes the file of a GgufWriter whose tensors were declared, piece by piece: the header at
// construction, then the tensors' bytes in declaration order through append() (any split;
// the padding between tensors is added when one is complete). The file is path + ".tmp"
// until commit() renames it, and a stream destroyed before commit() removes it, so a failed
// or cancelled write never leaves a partial file. Throws Error(QWEN_ERR_IO).
class GgufStream {
public:
    GgufStream(const GgufWriter& writer, const std::string& path);
    ~GgufStream();
    GgufStream(const GgufStream&) = delete;
    GgufStream& operator=(const GgufStream&) = delete;

    // The next `bytes` of tensor data. Error(QWEN_ERR_INVALID_ARGUMENT) when they run past
    // the current tensor.
    void append(const void* data, size_t bytes);
    // Checks that every tensor is complete, closes and renames the file.
    void commit();

private:
    void put(const void* data, size_t bytes);
    const GgufWriter& writer_;
    std::string path_, tmp_;
    std::FILE* file_ = nullptr;
    size_t tensor_ = 0, written_ = 0;  // the current tensor and its bytes so far
};

}  // namespace qwen
