#include "core/error.hpp"
#include "format/gguf.hpp"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>

namespace qwen {

namespace {

template <class T>
void put(std::string& out, T v) {
    out.append(reinterpret_cast<const char*>(&v), sizeof v);
}

void put_string(std::string& out, std::string_view s) {
    put<uint64_t>(out, s.size());
    out.append(s);
}

}  // namespace

void GgufWriter::put_key(const std::string& key, GgufValueType type) {
    put_string(kv_bytes_, key);
    put<uint32_t>(kv_bytes_, uint32_t(type));
    ++n_kv_;
}

void GgufWriter::set_uint32(const std::string& key, uint32_t v) {
    put_key(key, GgufValueType::U32);
    put(kv_bytes_, v);
}
void GgufWriter::set_int32(const std::string& key, int32_t v) {
    put_key(key, GgufValueType::I32);
    put(kv_bytes_, v);
}
void GgufWriter::set_uint64(const std::string& key, uint64_t v) {
    put_key(key, GgufValueType::U64);
    put(kv_bytes_, v);
}
void GgufWriter::set_float32(const std::string& key, float v) {
    put_key(key, GgufValueType::F32);
    put(kv_bytes_, v);
}
void GgufWriter::set_bool(const std::string& key, bool v) {
    put_key(key, GgufValueType::BOOL);
    put<uint8_t>(kv_bytes_, v ? 1 : 0);
}
void GgufWriter::set_string(const std::string& key, std::string_view v) {
    put_key(key, GgufValueType::STRING);
    put_string(kv_bytes_, v);
}
void GgufWriter::set_string_array(const std::string& key, const std::vector<std::string>& v) {
    put_key(key, GgufValueType::ARRAY);
    put<uint32_t>(kv_bytes_, uint32_t(GgufValueType::STRING));
    put<uint64_t>(kv_bytes_, v.size());
    for (const auto& s : v) put_string(kv_bytes_, s);
}
void GgufWriter::set_int32_array(const std::string& key, const std::vector<int32_t>& v) {
    put_key(key, GgufValueType::ARRAY);
    put<uint32_t>(kv_bytes_, uint32_t(GgufValueType::I32));
    put<uint64_t>(kv_bytes_, v.size());
    kv_bytes_.append(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(int32_t));
}
void GgufWriter::set_float32_array(const std::string& key, const std::vector<float>& v) {
    put_key(key, GgufValueType::ARRAY);
    put<uint32_t>(kv_bytes_, uint32_t(GgufValueType::F32));
    put<uint64_t>(kv_bytes_, v.size());
    kv_bytes_.append(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(float));
}

void GgufWriter::copy_kv(const GgufFile& from, const GgufKv& kv) {
    // Bytes of one element; strings are walked (the reader validated their lengths).
    const uint8_t* base = from.data() + kv.offset;
    auto element_end = [&](GgufValueType t, size_t at) -> size_t {
        switch (t) {
        case GgufValueType::U8: case GgufValueType::I8: case GgufValueType::BOOL: return at + 1;
        case GgufValueType::U16: case GgufValueType::I16: return at + 2;
        case GgufValueType::U32: case GgufValueType::I32: case GgufValueType::F32: return at + 4;
        case GgufValueType::U64: case GgufValueType::I64: case GgufValueType::F64: return at + 8;
        case GgufValueType::STRING: {
            uint64_t len;
            std::memcpy(&len, base + at, sizeof len);
            return at + 8 + size_t(len);
        }
        case GgufValueType::ARRAY: break;
        }
        fail(QWEN_ERR_UNSUPPORTED, from.path(), ": key '", kv.key, "' has a value type that cannot be copied");
    };
    put_key(kv.key, kv.type);
    size_t end = 0;
    if (kv.type == GgufValueType::ARRAY) {
        put<uint32_t>(kv_bytes_, uint32_t(kv.elem_type));
        put<uint64_t>(kv_bytes_, kv.count);
        for (uint64_t i = 0; i < kv.count; ++i) end = element_end(kv.elem_type, end);
    } else {
        end = element_end(kv.type, 0);
    }
    kv_bytes_.append(reinterpret_cast<const char*>(base), end);
}

void GgufWriter::add_tensor(const std::string& name, TensorType type, std::vector<uint64_t> dims,
                            const void* data, size_t bytes) {
    declare_tensor(name, type, std::move(dims));
    if (tensors_.back().bytes != bytes) {
        tensors_.pop_back();
        fail(QWEN_ERR_INVALID_ARGUMENT, "GgufWriter: tensor '", name, "' has ", bytes,
             " bytes, which does not match its type and dimensions");
    }
    tensors_.back().data.assign(static_cast<const char*>(data), bytes);
}

void GgufWriter::declare_tensor(const std::string& name, TensorType type, std::vector<uint64_t> dims) {
    uint64_t n = 1;
    for (uint64_t d : dims) n *= d;
    auto row = tensor_row_bytes(type, dims.empty() ? 0 : dims[0]);
    if (dims.empty() || dims[0] == 0 || !row)
        fail(QWEN_ERR_INVALID_ARGUMENT, "GgufWriter: tensor '", name, "' of type ", tensor_type_name(type),
             " cannot have rows of ", dims.empty() ? 0 : dims[0], " elements");
    const size_t bytes = *row * size_t(n / dims[0]);
    tensors_.push_back({name, type, std::move(dims), bytes, {}});
}

std::string GgufWriter::header() const {
    std::string head;
    head.append("GGUF", 4);
    put<uint32_t>(head, 3);
    put<uint64_t>(head, tensors_.size());
    put<uint64_t>(head, n_kv_);
    head += kv_bytes_;
    uint64_t offset = 0;
    for (const auto& t : tensors_) {
        put_string(head, t.name);
        put<uint32_t>(head, uint32_t(t.dims.size()));
        for (uint64_t d : t.dims) put<uint64_t>(head, d);
        put<uint32_t>(head, uint32_t(t.type));
        put<uint64_t>(head, offset);
        offset += (t.bytes + alignment_ - 1) / alignment_ * alignment_;
    }
    head.resize((head.size() + alignment_ - 1) / alignment_ * alignment_, '\0');
    return head;
}

void GgufWriter::write(const std::string& path) const {
    GgufStream out(*this, path);
    for (const auto& t : tensors_) {
        if (t.data.size() != t.bytes)
            fail(QWEN_ERR_INVALID_ARGUMENT, "GgufWriter: tensor '", t.name, "' was declared but given no data");
        out.append(t.data.data(), t.data.size());
    }
    out.commit();
}

GgufStream::GgufStream(const GgufWriter& writer, const std::string& path)
    : writer_(writer), path_(path), tmp_(path + ".tmp") {
    file_ = std::fopen(tmp_.c_str(), "wb");
    if (!file_) fail(QWEN_ERR_IO, "cannot create '", tmp_, "': ", std::strerror(errno));
    const std::string head = writer_.header();
    put(head.data(), head.size());
}

GgufStream::~GgufStream() {
    if (file_) {
        std::fclose(file_);
        std::remove(tmp_.c_str());
    }
}

void GgufStream::put(const void* data, size_t bytes) {
    if (bytes && std::fwrite(data, 1, bytes, file_) != bytes)
        fail(QWEN_ERR_IO, "cannot write '", tmp_, "': ", std::strerror(errno));
}

void GgufStream::append(const void* data, size_t bytes) {
    const auto& tensors = writer_.tensors_;
    const char* p = static_cast<const char*>(data);
    while (bytes) {
        if (tensor_ == tensors.size())
            fail(QWEN_ERR_INVALID_ARGUMENT, "GgufStream: ", bytes, " bytes given after the last tensor");
        const size_t n = std::min(bytes, tensors[tensor_].bytes - written_);
        put(p, n);
        p += n, bytes -= n, written_ += n;
        if (written_ == tensors[tensor_].bytes) {
            static const char zeros[64] = {};
            const size_t a = writer_.alignment_;
            for (size_t pad = (a - written_ % a) % a; pad;) {
                const size_t k = std::min(pad, sizeof zeros);
                put(zeros, k);
                pad -= k;
            }
            ++tensor_, written_ = 0;
        }
    }
}

void GgufStream::commit() {
    const auto& tensors = writer_.tensors_;
    while (tensor_ < tensors.size() && tensors[tensor_].bytes == 0) ++tensor_;  // nothing to append
    if (tensor_ != tensors.size())
        fail(QWEN_ERR_INVALID_ARGUMENT, "GgufStream: tensor '", tensors[tensor_].name, "' is incomplete");
    std::FILE* f = file_;
    file_ = nullptr;
    if (std::fclose(f) != 0 || std::rename(tmp_.c_str(), path_.c_str()) != 0) {
        const int err = errno;
        std::remove(tmp_.c_str());
        fail(QWEN_ERR_IO, "cannot write '", path_, "': ", std::strerror(err));
    }
}

}  // namespace qwen
