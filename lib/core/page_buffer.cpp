#include "core/page_buffer.hpp"

#include <new>
#include <sys/mman.h>
#include <unistd.h>

namespace qwen {

PageBuffer::PageBuffer(size_t bytes) {
    if (bytes == 0) return;
    void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) throw std::bad_alloc();
#ifdef MADV_HUGEPAGE
    madvise(p, bytes, MADV_HUGEPAGE);  // advice only: without THP the pages stay 4 KiB
#endif
    ptr_ = static_cast<uint8_t*>(p);
    n_ = bytes;
}

void release_pages(const void* p, size_t n) {
    const uintptr_t page = uintptr_t(sysconf(_SC_PAGESIZE));
    const uintptr_t begin = (uintptr_t(p) + page - 1) & ~(page - 1), end = (uintptr_t(p) + n) & ~(page - 1);
    if (end > begin) madvise(reinterpret_cast<void*>(begin), end - begin, MADV_DONTNEED);
}

PageBuffer::~PageBuffer() {
    if (ptr_) munmap(ptr_, n_);
}

}  // namespace qwen
