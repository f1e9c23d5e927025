#include "format/safetensors.hpp"

#include "core/error.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <set>

namespace qwen {

namespace {

using json = nlohmann::json;

struct DtypeRow {
    StDtype dtype;
    std::string_view name;
    size_t size;
};

constexpr DtypeRow kDtypes[] = {
    {StDtype::BOOL, "BOOL", 1},  {StDtype::U8, "U8", 1},   {StDtype::I8, "I8", 1},
    {StDtype::F8_E5M2, "F8_E5M2", 1}, {StDtype::F8_E4M3, "F8_E4M3", 1},
    {StDtype::I16, "I16", 2},    {StDtype::U16, "U16", 2}, {StDtype::F16, "F16", 2},
    {StDtype::BF16, "BF16", 2},  {StDtype::I32, "I32", 4}, {StDtype::U32, "U32", 4},
    {StDtype::F32, "F32", 4},    {StDtype::F64, "F64", 8}, {StDtype::I64, "I64", 8},
    {StDtype::U64, "U64", 8},
};

const DtypeRow& row(StDtype d) {
    for (const DtypeRow& r : kDtypes)
        if (r.dtype == d) return r;
    return kDtypes[0];  // unreachable: every enumerator has a row
}

std::string shape_str(const std::vector<uint64_t>& shape) {
    std::string s = "[";
    for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
    return s + "]";
}

// product(shape) * elem_size, or nullopt on overflow of size_t.
std::optional<size_t> byte_size(const std::vector<uint64_t>& shape, size_t elem_size) {
    uint64_t n = elem_size;
    for (uint64_t d : shape) {
        if (d != 0 && n > UINT64_MAX / d) return std::nullopt;
        n *= d;
    }
    if (n > SIZE_MAX) return std::nullopt;
    return size_t(n);
}

// nlohmann's DOM is built without recursion, but a 100 MB header of "[[[[..." is no
// tensor table; refusing deep nesting early keeps memory and time bounded.
constexpr int kMaxDepth = 16;
struct TooDeep {};

}  // namespace

std::string_view st_dtype_name(StDtype d) { return row(d).name; }
size_t st_dtype_size(StDtype d) { return row(d).size; }

std::optional<StDtype> st_dtype_from_name(std::string_view name) {
    for (const DtypeRow& r : kDtypes)
        if (r.name == name) return r.dtype;
    return std::nullopt;
}

std::optional<TensorType> st_dtype_tensor_type(StDtype d) {
    switch (d) {
    case StDtype::F32: return TensorType::F32;
    case StDtype::F16: return TensorType::F16;
    case StDtype::BF16: return TensorType::BF16;
    default: return std::nullopt;
    }
}

std::optional<StDtype> st_dtype_from_tensor_type(TensorType t) {
    switch (t) {
    case TensorType::F32: return StDtype::F32;
    case TensorType::F16: return StDtype::F16;
    case TensorType::BF16: return StDtype::BF16;
    default: return std::nullopt;
    }
}

SafetensorsFile::SafetensorsFile(const std::string& path, bool use_mmap) : file_(path, use_mmap) {
    const size_t size = file_.size();
    const uint8_t* p = file_.data();
    if (size < 8)
        fail(QWEN_ERR_FORMAT, path, ": file is ", size, " bytes, too short for the 8-byte header length");
    uint64_t n = 0;
    for (int i = 7; i >= 0; --i) n = (n << 8) | p[i];
    if (n > kMaxHeaderBytes)
        fail(QWEN_ERR_FORMAT, path, ": header length ", n, " (at offset 0) exceeds the limit of ",
             kMaxHeaderBytes, " bytes");
    if (n > size - 8)
        fail(QWEN_ERR_FORMAT, path, ": header length ", n, " (at offset 0) runs past the end of the file (",
             size, " bytes)");
    data_start_ = 8 + size_t(n);
    const size_t data_size = size - data_start_;

    json root;
    try {
        auto depth_guard = [](int depth, json::parse_event_t, json&) {
            if (depth > kMaxDepth) throw TooDeep{};
            return true;
        };
        root = json::parse(p + 8, p + data_start_, depth_guard);
    } catch (const json::exception& e) {
        fail(QWEN_ERR_FORMAT, path, ": header (bytes 8..", data_start_, ") is not valid JSON: ", e.what());
    } catch (const TooDeep&) {
        fail(QWEN_ERR_FORMAT, path, ": header JSON is nested deeper than ", kMaxDepth, " levels");
    }
    if (!root.is_object()) fail(QWEN_ERR_FORMAT, path, ": header is JSON but not an object");

    for (auto it = root.begin(); it != root.end(); ++it) {
        const std::string& name = it.key();
        const json& v = it.value();
        if (name == "__metadata__") {
            if (v.is_null()) continue;
            if (!v.is_object()) fail(QWEN_ERR_FORMAT, path, ": '__metadata__' is not an object");
            for (auto m = v.begin(); m != v.end(); ++m) {
                if (!m.value().is_string())
                    fail(QWEN_ERR_FORMAT, path, ": '__metadata__' entry '", m.key(), "' is not a string");
                metadata_[m.key()] = m.value().get<std::string>();
            }
            continue;
        }
        auto bad = [&](auto&&... what) {
            fail(QWEN_ERR_FORMAT, path, ": tensor '", name, "': ", what...);
        };
        if (!v.is_object()) bad("entry is not an object");
        auto dt = v.find("dtype"), sh = v.find("shape"), off = v.find("data_offsets");
        if (dt == v.end()) bad("missing field 'dtype'");
        if (sh == v.end()) bad("missing field 'shape'");
        if (off == v.end()) bad("missing field 'data_offsets'");
        if (!dt->is_string()) bad("field 'dtype' is not a string");
        auto dtype = st_dtype_from_name(dt->get_ref<const std::string&>());
        if (!dtype)
            fail(QWEN_ERR_UNSUPPORTED, path, ": tensor '", name, "': dtype '", dt->get_ref<const std::string&>(),
                 "' is not a safetensors dtype this reader knows");

        SafetensorsTensor t{name, *dtype, {}, 0, 0};
        if (!sh->is_array()) bad("field 'shape' is not an array");
        for (size_t i = 0; i < sh->size(); ++i) {
            const json& d = (*sh)[i];
            // Non-negative integers parse as unsigned; negatives, fractions and integers
            // beyond 2^64 (which nlohmann turns into doubles) all fail this test.
            if (!d.is_number_unsigned()) bad("shape[", i, "] = ", d.dump(), " is not a non-negative integer");
            t.shape.push_back(d.get<uint64_t>());
        }
        if (!off->is_array() || off->size() != 2 || !(*off)[0].is_number_unsigned() ||
            !(*off)[1].is_number_unsigned())
            bad("field 'data_offsets' = ", off->dump(), " is not a pair of non-negative integers");
        const uint64_t begin = (*off)[0].get<uint64_t>(), end = (*off)[1].get<uint64_t>();
        auto need = byte_size(t.shape, st_dtype_size(t.dtype));
        if (!need) bad("shape ", shape_str(t.shape), " of ", st_dtype_name(t.dtype), " overflows the address space");
        if (end < begin) bad("data_offsets [", begin, ", ", end, "] end before they begin");
        if (end - begin != *need)
            bad("data_offsets [", begin, ", ", end, "] span ", end - begin, " bytes but shape ", shape_str(t.shape),
                " of ", st_dtype_name(t.dtype), " needs ", *need);
        if (end > data_size)
            bad("data_offsets [", begin, ", ", end, "] run past the end of the file (data section is ", data_size,
                " bytes from offset ", data_start_, ")");
        t.offset = data_start_ + size_t(begin);
        t.bytes = *need;
        tensors_.push_back(std::move(t));
    }

    // The reference requires the tensors to tile the data buffer exactly: sorted by offset,
    // each begins where the previous ended and the last ends at the end of the file. That
    // rules out overlaps (two names aliasing bytes) and unexplained gaps or trailing bytes.
    std::sort(tensors_.begin(), tensors_.end(), [](const SafetensorsTensor& a, const SafetensorsTensor& b) {
        return a.offset != b.offset ? a.offset < b.offset : a.bytes < b.bytes;
    });
    size_t expect = data_start_;
    const SafetensorsTensor* prev = nullptr;
    for (const SafetensorsTensor& t : tensors_) {
        if (t.offset < expect)
            fail(QWEN_ERR_FORMAT, path, ": tensor '", t.name, "' (data at file offset ", t.offset,
                 ") overlaps tensor '", prev->name, "' (file offsets ", prev->offset, "..", expect, ")");
        if (t.offset > expect)
            fail(QWEN_ERR_FORMAT, path, ": gap of ", t.offset - expect, " bytes at file offset ", expect,
                 " before tensor '", t.name, "' (tensors must be contiguous)");
        expect = t.offset + t.bytes;
        prev = &t;
    }
    if (expect != size)
        fail(QWEN_ERR_FORMAT, path, ": ", size - expect, " bytes after the last tensor at file offset ", expect,
             " are not described by the header");

    index_.reserve(tensors_.size());
    for (size_t i = 0; i < tensors_.size(); ++i) index_.emplace(tensors_[i].name, i);
}

const SafetensorsTensor* SafetensorsFile::find(std::string_view name) const {
    auto it = index_.find(name);
    return it == index_.end() ? nullptr : &tensors_[it->second];
}

TensorType SafetensorsFile::tensor_type(const SafetensorsTensor& t) const {
    auto tt = st_dtype_tensor_type(t.dtype);
    if (!tt)
        fail(QWEN_ERR_UNSUPPORTED, path(), ": tensor '", t.name, "' has dtype ", st_dtype_name(t.dtype),
             " (only F32, F16 and BF16 are supported; quantized checkpoints need a GGUF file)");
    return *tt;
}

void SafetensorsWriter::add_tensor(const std::string& name, StDtype dtype, std::vector<uint64_t> shape,
                                   const void* data, size_t bytes) {
    if (name.empty() || name == "__metadata__")
        fail(QWEN_ERR_INVALID_ARGUMENT, "safetensors writer: invalid tensor name '", name, "'");
    for (const Pending& t : tensors_)
        if (t.name == name) fail(QWEN_ERR_INVALID_ARGUMENT, "safetensors writer: duplicate tensor '", name, "'");
    auto need = byte_size(shape, st_dtype_size(dtype));
    if (!need || *need != bytes)
        fail(QWEN_ERR_INVALID_ARGUMENT, "safetensors writer: tensor '", name, "' has ", bytes,
             " bytes but shape ", shape_str(shape), " of ", st_dtype_name(dtype), " needs ",
             need ? std::to_string(*need) : std::string("more than fits in memory"));
    if (bytes && !data) fail(QWEN_ERR_INVALID_ARGUMENT, "safetensors writer: tensor '", name, "' has no data");
    tensors_.push_back(Pending{name, dtype, std::move(shape), data, bytes});
    data_bytes_ += bytes;
}

void SafetensorsWriter::write(const std::string& path) const {
    nlohmann::ordered_json header = nlohmann::ordered_json::object();
    if (!metadata_.empty()) header["__metadata__"] = metadata_;
    size_t off = 0;
    for (const Pending& t : tensors_) {
        header[t.name] = {{"dtype", st_dtype_name(t.dtype)}, {"shape", t.shape},
                          {"data_offsets", {off, off + t.bytes}}};
        off += t.bytes;
    }
    std::string text;
    try {
        text = header.dump();
    } catch (const nlohmann::json::exception& e) {  // a name or metadata value that is not UTF-8
        fail(QWEN_ERR_INVALID_ARGUMENT, "safetensors writer: cannot write the header of '", path, "': ", e.what());
    }
    text.append((8 - text.size() % 8) % 8, ' ');  // so the data starts 8-byte aligned

    const std::string tmp = path + ".tmp";
    FILE* f = std::fopen(tmp.c_str(), "wb");
    if (!f) fail(QWEN_ERR_IO, "cannot create '", tmp, "': ", std::strerror(errno));
    uint8_t len[8];
    for (int i = 0; i < 8; ++i) len[i] = uint8_t(uint64_t(text.size()) >> (8 * i));
    bool ok = std::fwrite(len, 1, 8, f) == 8 && std::fwrite(text.data(), 1, text.size(), f) == text.size();
    for (const Pending& t : tensors_)
        if (ok && t.bytes) ok = std::fwrite(t.data, 1, t.bytes, f) == t.bytes;
    const int saved = errno;
    if (std::fclose(f) != 0) ok = false;
    if (!ok) {
        std::remove(tmp.c_str());
        fail(QWEN_ERR_IO, "cannot write '", tmp, "': ", std::strerror(saved ? saved : errno));
    }
    if (std::rename(tmp.c_str(), path.c_str()) != 0) {
        const int e = errno;
        std::remove(tmp.c_str());
        fail(QWEN_ERR_IO, "cannot rename '", tmp, "' to '", path, "': ", std::strerror(e));
    }
}

}  // namespace qwen
