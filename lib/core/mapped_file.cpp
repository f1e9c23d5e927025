#include "core/mapped_file.hpp"

#include "core/error.hpp"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

namespace qwen {

namespace {
struct Fd {
    int fd;
    ~Fd() {
        if (fd >= 0) ::close(fd);
    }
};
}  // namespace

MappedFile::MappedFile(const std::string& path, bool use_mmap) : path_(path) {
    Fd f{::open(path.c_str(), O_RDONLY | O_CLOEXEC)};
    if (f.fd < 0) fail(QWEN_ERR_IO, "cannot open '", path, "': ", std::strerror(errno));
    struct stat st {};
    if (::fstat(f.fd, &st) != 0) fail(QWEN_ERR_IO, "cannot stat '", path, "': ", std::strerror(errno));
    if (!S_ISREG(st.st_mode)) fail(QWEN_ERR_IO, "'", path, "' is not a regular file");
    size_ = static_cast<size_t>(st.st_size);
    if (size_ == 0) return;  // data_ stays null, with nothing to read behind it
    if (use_mmap) {
        void* p = ::mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, f.fd, 0);
        if (p != MAP_FAILED) {
            data_ = static_cast<const uint8_t*>(p);
            mapped_ = true;
            return;
        }
        // Fall through to reading: some file systems cannot be mapped.
    }
    owned_ = PageBuffer(size_);
    size_t done = 0;
    while (done < size_) {
        ssize_t n = ::pread(f.fd, owned_.data() + done, size_ - done, static_cast<off_t>(done));
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) fail(QWEN_ERR_IO, "cannot read '", path, "' at offset ", done, ": ",
                         n < 0 ? std::strerror(errno) : "unexpected end of file");
        done += static_cast<size_t>(n);
    }
    data_ = owned_.data();
}

void MappedFile::release(const uint8_t* p, size_t n) const {
    if (mapped_) release_pages(p, n);
}

MappedFile::~MappedFile() {
    if (mapped_) ::munmap(const_cast<uint8_t*>(data_), size_);
}

}  // namespace qwen
