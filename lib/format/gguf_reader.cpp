#include "core/error.hpp"
#include "format/gguf.hpp"

#include <cstring>
#include <limits>

namespace qwen {

namespace {

constexpr uint64_t kMaxDims = 4;
// Generous bounds that no real file comes near but that stop a hostile header from making
// us allocate or loop without end before the size checks catch it.
constexpr uint64_t kMaxStringBytes = 1ull << 30;
constexpr uint64_t kMaxCount = 1ull << 32;

size_t value_size(GgufValueType t) {
    switch (t) {
    case GgufValueType::U8: case GgufValueType::I8: case GgufValueType::BOOL: return 1;
    case GgufValueType::U16: case GgufValueType::I16: return 2;
    case GgufValueType::U32: case GgufValueType::I32: case GgufValueType::F32: return 4;
    case GgufValueType::U64: case GgufValueType::I64: case GgufValueType::F64: return 8;
    default: return 0;  // STRING and ARRAY are variable-sized
    }
}

const char* value_type_name(GgufValueType t) {
    static const char* names[] = {"u8", "i8", "u16", "i16", "u32", "i32", "f32", "bool",
                                  "string", "array", "u64", "i64", "f64"};
    return uint32_t(t) < 13 ? names[uint32_t(t)] : "invalid";
}

// Bounds-checked little-endian cursor over the mapped bytes.
class Cursor {
public:
    Cursor(const uint8_t* data, size_t size, const std::string& path) : d_(data), n_(size), path_(path) {}
    size_t pos() const { return pos_; }
    void seek(size_t p) { pos_ = p; }

    void need(uint64_t bytes, const char* what) const {
        if (bytes > n_ - pos_)
            fail(QWEN_ERR_FORMAT, path_, ": truncated file: ", what, " at offset ", pos_, " needs ", bytes,
                 " bytes, only ", n_ - pos_, " remain");
    }
    template <class T>
    T read(const char* what) {
        need(sizeof(T), what);
        T v;
        std::memcpy(&v, d_ + pos_, sizeof(T));
        pos_ += sizeof(T);
        return v;
    }
    std::string_view read_string(const char* what) {
        size_t at = pos_;
        uint64_t len = read<uint64_t>(what);
        if (len > kMaxStringBytes)
            fail(QWEN_ERR_FORMAT, path_, ": ", what, " at offset ", at, " has absurd length ", len);
        need(len, what);
        std::string_view s(reinterpret_cast<const char*>(d_ + pos_), size_t(len));
        pos_ += size_t(len);
        return s;
    }
    void skip(uint64_t bytes, const char* what) {
        need(bytes, what);
        pos_ += size_t(bytes);
    }

private:
    const uint8_t* d_;
    size_t n_;
    size_t pos_ = 0;
    const std::string& path_;
};

// Skips one value of scalar or string type; arrays of arrays are rejected (GGUF allows
// them, but no model key uses them and they would be a recursion hazard).
void skip_value(Cursor& c, GgufValueType t, const char* what) {
    if (t == GgufValueType::STRING) {
        c.read_string(what);
    } else {
        c.skip(value_size(t), what);
    }
}

}  // namespace

GgufFile::GgufFile(const std::string& path, bool use_mmap) : file_(path, use_mmap) {
    Cursor c(file_.data(), file_.size(), path);
    c.need(4, "magic");
    if (std::memcmp(file_.data(), "GGUF", 4) != 0)
        fail(QWEN_ERR_FORMAT, path, ": not a GGUF file (bad magic at offset 0)");
    c.seek(4);
    version_ = c.read<uint32_t>("version");
    if (version_ != 2 && version_ != 3)
        fail(QWEN_ERR_FORMAT, path, ": unsupported GGUF version ", version_, " at offset 4 (2 and 3 are supported)");
    uint64_t n_tensors = c.read<uint64_t>("tensor count");
    uint64_t n_kv = c.read<uint64_t>("key/value count");
    // Every key/value takes at least 12 bytes and every tensor info at least 24: a count
    // larger than the file can hold is malformed, and checking it now bounds the reserve().
    if (n_kv > file_.size() / 12 || n_tensors > file_.size() / 24)
        fail(QWEN_ERR_FORMAT, path, ": absurd counts in header (", n_tensors, " tensors, ", n_kv,
             " key/values) for a file of ", file_.size(), " bytes");

    kvs_.reserve(size_t(n_kv));
    for (uint64_t i = 0; i < n_kv; ++i) {
        size_t at = c.pos();
        std::string key(c.read_string("key name"));
        auto type = GgufValueType(c.read<uint32_t>("value type"));
        GgufKv kv{key, type, type, 1, 0};
        if (uint32_t(type) > uint32_t(GgufValueType::F64))
            fail(QWEN_ERR_FORMAT, path, ": key '", key, "' at offset ", at, " has invalid type ", uint32_t(type));
        if (type == GgufValueType::ARRAY) {
            kv.elem_type = GgufValueType(c.read<uint32_t>("array element type"));
            kv.count = c.read<uint64_t>("array length");
            if (uint32_t(kv.elem_type) > uint32_t(GgufValueType::F64) || kv.elem_type == GgufValueType::ARRAY)
                fail(QWEN_ERR_FORMAT, path, ": key '", key, "' at offset ", at, " has unsupported array element type ",
                     uint32_t(kv.elem_type));
            if (kv.count > kMaxCount)
                fail(QWEN_ERR_FORMAT, path, ": key '", key, "' at offset ", at, " has absurd array length ", kv.count);
            kv.offset = c.pos();
            if (kv.elem_type == GgufValueType::STRING) {
                for (uint64_t j = 0; j < kv.count; ++j) c.read_string(key.c_str());
            } else {
                uint64_t es = value_size(kv.elem_type);
                if (kv.count > (file_.size() - c.pos()) / es) c.need(kv.count * es, key.c_str());
                c.skip(kv.count * es, key.c_str());
            }
        } else {
            kv.offset = c.pos();
            skip_value(c, type, key.c_str());
        }
        if (kv_index_.count(kv.key))
            fail(QWEN_ERR_FORMAT, path, ": duplicate key '", key, "' at offset ", at);
        kvs_.push_back(std::move(kv));
        kv_index_.emplace(kvs_.back().key, kvs_.size() - 1);
    }
    // kv_index_ holds views into kvs_ strings: rebuild now that kvs_ no longer reallocates.
    kv_index_.clear();
    for (size_t i = 0; i < kvs_.size(); ++i) kv_index_.emplace(kvs_[i].key, i);

    if (auto a = get_uint("general.alignment")) {
        if (*a == 0 || (*a & (*a - 1)) || *a > 1024 * 1024)
            fail(QWEN_ERR_FORMAT, path, ": general.alignment ", *a, " is not a power of two up to 1 MiB");
        alignment_ = size_t(*a);
    }

    tensors_.reserve(size_t(n_tensors));
    for (uint64_t i = 0; i < n_tensors; ++i) {
        size_t at = c.pos();
        GgufTensor t;
        t.info_offset = at;
        t.name = std::string(c.read_string("tensor name"));
        uint32_t n_dims = c.read<uint32_t>("tensor dimension count");
        if (n_dims == 0 || n_dims > kMaxDims)
            fail(QWEN_ERR_FORMAT, path, ": tensor '", t.name, "' at offset ", at, " has ", n_dims, " dimensions");
        t.n_elems = 1;
        for (uint32_t d = 0; d < n_dims; ++d) {
            uint64_t v = c.read<uint64_t>("tensor dimension");
            if (v == 0 || v > (uint64_t(1) << 40) || t.n_elems > (uint64_t(1) << 62) / v)
                fail(QWEN_ERR_FORMAT, path, ": tensor '", t.name, "' at offset ", at, " has absurd dimension ", v);
            t.n_elems *= v;
            t.dims.push_back(v);
        }
        uint32_t type = c.read<uint32_t>("tensor type");
        auto info = tensor_type_info(type);
        if (!info) fail(QWEN_ERR_FORMAT, path, ": tensor '", t.name, "' at offset ", at, " has unknown type ", type);
        t.type = TensorType(type);
        if (t.dims[0] % info->block_elems)
            fail(QWEN_ERR_FORMAT, path, ": tensor '", t.name, "' at offset ", at, ": row of ", t.dims[0],
                 " elements is not a whole number of ", info->name, " blocks of ", info->block_elems);
        t.bytes = size_t(t.n_elems / info->block_elems * info->block_bytes);
        t.offset = c.read<uint64_t>("tensor data offset");  // relative, fixed up below
        if (tensor_index_.count(t.name))
            fail(QWEN_ERR_FORMAT, path, ": duplicate tensor '", t.name, "' at offset ", at);
        tensors_.push_back(std::move(t));
        tensor_index_.emplace(tensors_.back().name, tensors_.size() - 1);
    }
    tensor_index_.clear();
    for (size_t i = 0; i < tensors_.size(); ++i) tensor_index_.emplace(tensors_[i].name, i);

    size_t data_start = (c.pos() + alignment_ - 1) / alignment_ * alignment_;
    if (!tensors_.empty() && data_start > file_.size())
        fail(QWEN_ERR_FORMAT, path, ": data section at offset ", data_start, " starts past the end of the file (",
             file_.size(), " bytes)");
    for (auto& t : tensors_) {
        uint64_t rel = t.offset;
        if (rel % alignment_)
            fail(QWEN_ERR_FORMAT, path, ": tensor '", t.name, "' (info at offset ", t.info_offset, ") data offset ",
                 rel, " is not aligned to ", alignment_);
        if (rel > file_.size() - data_start || t.bytes > file_.size() - data_start - rel)
            fail(QWEN_ERR_FORMAT, path, ": tensor '", t.name, "' (info at offset ", t.info_offset, ") data [",
                 data_start + rel, ", +", t.bytes, ") runs past the end of the file (", file_.size(), " bytes)");
        t.offset = size_t(data_start + rel);
    }
}

const GgufKv* GgufFile::find(std::string_view key) const {
    auto it = kv_index_.find(key);
    return it == kv_index_.end() ? nullptr : &kvs_[it->second];
}

const GgufTensor* GgufFile::find_tensor(std::string_view name) const {
    auto it = tensor_index_.find(name);
    return it == tensor_index_.end() ? nullptr : &tensors_[it->second];
}

namespace {

template <class T>
T load(const uint8_t* p) {
    T v;
    std::memcpy(&v, p, sizeof v);
    return v;
}

// Reads a scalar of any integer type at p as int64 (u64 values above INT64_MAX are refused).
bool read_integer(GgufValueType t, const uint8_t* p, int64_t& out) {
    switch (t) {
    case GgufValueType::U8: out = load<uint8_t>(p); return true;
    case GgufValueType::I8: out = load<int8_t>(p); return true;
    case GgufValueType::U16: out = load<uint16_t>(p); return true;
    case GgufValueType::I16: out = load<int16_t>(p); return true;
    case GgufValueType::U32: out = load<uint32_t>(p); return true;
    case GgufValueType::I32: out = load<int32_t>(p); return true;
    case GgufValueType::I64: out = load<int64_t>(p); return true;
    case GgufValueType::U64: {
        uint64_t v = load<uint64_t>(p);
        if (v > uint64_t(std::numeric_limits<int64_t>::max())) return false;
        out = int64_t(v);
        return true;
    }
    default: return false;
    }
}

}  // namespace

std::optional<std::string_view> GgufFile::get_string(std::string_view key) const {
    const GgufKv* kv = find(key);
    if (!kv) return std::nullopt;
    if (kv->type != GgufValueType::STRING)
        fail(QWEN_ERR_FORMAT, path(), ": key '", key, "' is ", value_type_name(kv->type), ", expected string");
    uint64_t len = load<uint64_t>(file_.data() + kv->offset);
    return std::string_view(reinterpret_cast<const char*>(file_.data() + kv->offset + 8), size_t(len));
}

std::optional<uint64_t> GgufFile::get_uint(std::string_view key) const {
    const GgufKv* kv = find(key);
    if (!kv) return std::nullopt;
    int64_t v;
    if (!read_integer(kv->type, file_.data() + kv->offset, v))
        fail(QWEN_ERR_FORMAT, path(), ": key '", key, "' is ", value_type_name(kv->type), ", expected an integer");
    if (v < 0) fail(QWEN_ERR_FORMAT, path(), ": key '", key, "' is negative (", v, ")");
    return uint64_t(v);
}

std::optional<double> GgufFile::get_float(std::string_view key) const {
    const GgufKv* kv = find(key);
    if (!kv) return std::nullopt;
    const uint8_t* p = file_.data() + kv->offset;
    if (kv->type == GgufValueType::F32) return double(load<float>(p));
    if (kv->type == GgufValueType::F64) return load<double>(p);
    int64_t v;
    if (read_integer(kv->type, p, v)) return double(v);
    fail(QWEN_ERR_FORMAT, path(), ": key '", key, "' is ", value_type_name(kv->type), ", expected a number");
}

std::optional<bool> GgufFile::get_bool(std::string_view key) const {
    const GgufKv* kv = find(key);
    if (!kv) return std::nullopt;
    if (kv->type != GgufValueType::BOOL)
        fail(QWEN_ERR_FORMAT, path(), ": key '", key, "' is ", value_type_name(kv->type), ", expected bool");
    return file_.data()[kv->offset] != 0;
}

std::optional<std::vector<std::string_view>> GgufFile::get_string_array(std::string_view key) const {
    const GgufKv* kv = find(key);
    if (!kv) return std::nullopt;
    if (kv->type != GgufValueType::ARRAY || kv->elem_type != GgufValueType::STRING)
        fail(QWEN_ERR_FORMAT, path(), ": key '", key, "' is not an array of strings");
    std::vector<std::string_view> out;
    out.reserve(size_t(kv->count));
    const uint8_t* p = file_.data() + kv->offset;  // lengths were validated when the header was read
    for (uint64_t i = 0; i < kv->count; ++i) {
        uint64_t len = load<uint64_t>(p);
        out.emplace_back(reinterpret_cast<const char*>(p + 8), size_t(len));
        p += 8 + len;
    }
    return out;
}

std::optional<std::vector<int64_t>> GgufFile::get_int_array(std::string_view key) const {
    const GgufKv* kv = find(key);
    if (!kv) return std::nullopt;
    const bool integer_elems = kv->elem_type != GgufValueType::F32 && kv->elem_type != GgufValueType::F64 &&
                               kv->elem_type != GgufValueType::BOOL && kv->elem_type != GgufValueType::STRING;
    if (kv->type != GgufValueType::ARRAY || !integer_elems)
        fail(QWEN_ERR_FORMAT, path(), ": key '", key, "' is not an array of integers");
    size_t es = value_size(kv->elem_type);
    std::vector<int64_t> out(size_t(kv->count));
    for (uint64_t i = 0; i < kv->count; ++i)
        if (!read_integer(kv->elem_type, file_.data() + kv->offset + i * es, out[i]))
            fail(QWEN_ERR_FORMAT, path(), ": key '", key, "' element ", i, " is out of range");
    return out;
}

std::optional<std::vector<float>> GgufFile::get_float_array(std::string_view key) const {
    const GgufKv* kv = find(key);
    if (!kv) return std::nullopt;
    if (kv->type != GgufValueType::ARRAY ||
        (kv->elem_type != GgufValueType::F32 && kv->elem_type != GgufValueType::F64))
        fail(QWEN_ERR_FORMAT, path(), ": key '", key, "' is not an array of floats");
    std::vector<float> out(size_t(kv->count));
    for (uint64_t i = 0; i < kv->count; ++i) {
        const uint8_t* p = file_.data() + kv->offset + i * value_size(kv->elem_type);
        out[i] = kv->elem_type == GgufValueType::F32 ? load<float>(p) : float(load<double>(p));
    }
    return out;
}

}  // namespace qwen
