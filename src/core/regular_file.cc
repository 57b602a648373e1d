#include "core/regular_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace berth::core {

FileDescriptor& FileDescriptor::operator=(FileDescriptor&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = other.fd_;
    other.fd_ = -1;
  }
  return *this;
}

FileDescriptor::~FileDescriptor() {
  if (fd_ >= 0) ::close(fd_);
}

namespace {

std::string_view Kind(mode_t mode) {
  if (S_ISFIFO(mode)) return "a FIFO";
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  if (S_ISSOCK(mode)) return "a socket";
  if (S_ISLNK(mode)) return "a symbolic link";
  return "not a regular file";
}

}  // namespace

Result<FileDescriptor> OpenRegularFile(const std::filesystem::path& path, std::string_view what,
                                       const RegularFileOptions& options) {
  // O_NONBLOCK: opening a FIFO for reading blocks until a writer comes;
  // this way the open returns and fstat says what it is.
  int flags = O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY;
  if (options.refuse_links) flags |= O_NOFOLLOW;
  FileDescriptor fd(::open(path.c_str(), flags));
  if (fd.get() < 0) {
    const int err = errno;
    if (err == ENOENT) return NotFound("{} '{}' does not exist", what, path.string());
    if (err == ELOOP && options.refuse_links) {
      return InvalidArgument("{} '{}' is a symbolic link; it must be a regular file", what, path.string());
    }
    return InvalidArgument("cannot open {} '{}': {}", what, path.string(), std::strerror(err));
  }
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) {
    return InvalidArgument("cannot stat {} '{}': {}", what, path.string(), std::strerror(errno));
  }
  if (!S_ISREG(st.st_mode)) {
    return InvalidArgument("{} '{}' is {}; it must be a regular file", what, path.string(), Kind(st.st_mode));
  }
  if (options.refuse_hard_links && st.st_nlink > 1) {
    return InvalidArgument("{} '{}' has {} hard links; it must be a file of its own", what, path.string(),
                           static_cast<uint64_t>(st.st_nlink));
  }
  // Regular files ignore O_NONBLOCK; clear it anyway so reads behave plainly.
  ::fcntl(fd.get(), F_SETFL, ::fcntl(fd.get(), F_GETFL) & ~O_NONBLOCK);
  return fd;
}

Result<std::string> ReadRegularFile(const std::filesystem::path& path, std::string_view what, size_t max_bytes,
                                    const RegularFileOptions& options) {
  ASSIGN_OR_RETURN(FileDescriptor fd, OpenRegularFile(path, what, options));
  struct stat st {};
  ::fstat(fd.get(), &st);
  if (static_cast<uint64_t>(st.st_size) > max_bytes) {
    return InvalidArgument("{} '{}' is larger than {} bytes", what, path.string(), max_bytes);
  }
  std::string text;
  char buffer[65536];
  while (true) {
    ssize_t n = ::read(fd.get(), buffer, sizeof(buffer));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return InvalidArgument("reading {} '{}' failed: {}", what, path.string(), std::strerror(errno));
    if (n == 0) break;
    text.append(buffer, static_cast<size_t>(n));
    if (text.size() > max_bytes)
      return InvalidArgument("{} '{}' is larger than {} bytes", what, path.string(), max_bytes);
  }
  return text;
}

}  // namespace berth::core
