#include "core/error.hpp"
#include "format/gguf.hpp"

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

void GgufWriter::add_tensor(const std::string& name, TensorType type, std::vector<uint64_t> dims,
                            const void* data, size_t bytes) {
    uint64_t n = 1;
    for (uint64_t d : dims) n *= d;
    auto row = tensor_row_bytes(type, dims.empty() ? 0 : dims[0]);
    if (dims.empty() || !row || *row * (n / dims[0]) != bytes)
        fail(QWEN_ERR_INVALID_ARGUMENT, "GgufWriter: tensor '", name, "' has ", bytes,
             " bytes, which does not match its type and dimensions");
    tensors_.push_back({name, type, std::move(dims), std::string(static_cast<const char*>(data), bytes)});
}

void GgufWriter::write(const std::string& path) const {
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
        offset += (t.data.size() + alignment_ - 1) / alignment_ * alignment_;
    }
    head.resize((head.size() + alignment_ - 1) / alignment_ * alignment_, '\0');

    std::string tmp = path + ".tmp";
    FILE* f = std::fopen(tmp.c_str(), "wb");
    if (!f) fail(QWEN_ERR_IO, "cannot create '", tmp, "': ", std::strerror(errno));
    bool ok = std::fwrite(head.data(), 1, head.size(), f) == head.size();
    static const char zeros[1024] = {};
    for (const auto& t : tensors_) {
        if (!ok) break;
        ok = std::fwrite(t.data.data(), 1, t.data.size(), f) == t.data.size();
        size_t pad = (alignment_ - t.data.size() % alignment_) % alignment_;
        while (ok && pad) {
            size_t k = pad < sizeof zeros ? pad : sizeof zeros;
            ok = std::fwrite(zeros, 1, k, f) == k;
            pad -= k;
        }
    }
    ok = (std::fclose(f) == 0) && ok;
    if (!ok || std::rename(tmp.c_str(), path.c_str()) != 0) {
        std::remove(tmp.c_str());
        fail(QWEN_ERR_IO, "cannot write '", path, "': ", std::strerror(errno));
    }
}

}  // namespace qwen
