// A read-only view of a whole file: memory-mapped (default), or read into an owned buffer
// (huge pages where the kernel offers them) when mapping is off or impossible. Either way
// data()/size() describe the bytes.
#pragma once

#include "core/page_buffer.hpp"

#include <cstddef>
#include <cstdint>
#include <string>

namespace qwen {

class MappedFile {
public:
    // Throws Error(QWEN_ERR_IO) naming the path and the OS reason.
    explicit MappedFile(const std::string& path, bool use_mmap = true);
    ~MappedFile();
    MappedFile(const MappedFile&) = delete;
    MappedFile& operator=(const MappedFile&) = delete;

    const uint8_t* data() const { return data_; }
    size_t size() const { return size_; }
    const std::string& path() const { return path_; }
    // True if data() is the file mapping (its pages are the page cache's, 4 KiB each).
    bool mapped() const { return mapped_; }
    // True if p points into data().
    bool holds(const uint8_t* p) const { return p >= data_ && p < data_ + size_; }
    // Drops the pages of [p, p + n) (inside data()) from memory if the file is mapped; they are
    // read again if touched. Does nothing to a file read into memory.
    void release(const uint8_t* p, size_t n) const;

private:
    std::string path_;
    const uint8_t* data_ = nullptr;
    size_t size_ = 0;
    bool mapped_ = false;
    PageBuffer owned_;
};

}  // namespace qwen
