// Heap memory aligned for the widest vector loads (64 bytes: one AVX-512 register, one
// cache line). Used for weights converted at load time, the KV cache and scratch.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <new>
#include <utility>

namespace qwen {

template <class T>
class AlignedBuffer {
public:
    static constexpr size_t kAlign = 64;

    AlignedBuffer() = default;
    explicit AlignedBuffer(size_t n) { resize(n); }
    ~AlignedBuffer() { std::free(ptr_); }
    AlignedBuffer(AlignedBuffer&& o) noexcept : ptr_(std::exchange(o.ptr_, nullptr)), n_(std::exchange(o.n_, 0)) {}
    AlignedBuffer& operator=(AlignedBuffer&& o) noexcept {
        std::swap(ptr_, o.ptr_);
        std::swap(n_, o.n_);
        return *this;
    }
    AlignedBuffer(const AlignedBuffer&) = delete;
    AlignedBuffer& operator=(const AlignedBuffer&) = delete;

    // Discards the contents. Throws std::bad_alloc (reported as QWEN_ERR_OUT_OF_MEMORY).
    void resize(size_t n) {
        std::free(ptr_);
        ptr_ = nullptr;
        n_ = 0;
        if (n == 0) return;
        if (n > (SIZE_MAX - kAlign) / sizeof(T)) throw std::bad_alloc();
        size_t bytes = (n * sizeof(T) + kAlign - 1) / kAlign * kAlign;
        ptr_ = static_cast<T*>(std::aligned_alloc(kAlign, bytes));
        if (!ptr_) throw std::bad_alloc();
        n_ = n;
    }

    T* data() { return ptr_; }
    const T* data() const { return ptr_; }
    size_t size() const { return n_; }
    T& operator[](size_t i) { return ptr_[i]; }
    const T& operator[](size_t i) const { return ptr_[i]; }

private:
    T* ptr_ = nullptr;
    size_t n_ = 0;
};

}  // namespace qwen
