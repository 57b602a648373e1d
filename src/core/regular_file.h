// Opening files that came from outside (a model repository, a mounted
// volume, a path in a request or on the command line): the open never blocks
// (a FIFO or a device would stall the loader thread forever), and anything
// but a regular file is refused with a message that says what it is.
#pragma once

#include <cstddef>
#include <filesystem>
#include <string>
#include <string_view>

#include "core/status.h"

namespace berth::core {

// An open file descriptor, closed on destruction.
class FileDescriptor {
 public:
  FileDescriptor() = default;
  explicit FileDescriptor(int fd) : fd_(fd) {}
  FileDescriptor(FileDescriptor&& other) noexcept : fd_(other.fd_) { other.fd_ = -1; }
  FileDescriptor& operator=(FileDescriptor&& other) noexcept;
  FileDescriptor(const FileDescriptor&) = delete;
  FileDescriptor& operator=(const FileDescriptor&) = delete;
  ~FileDescriptor();
  int get() const { return fd_; }

 private:
  int fd_ = -1;
};

struct RegularFileOptions {
  // A symbolic link as the last component is refused (model files and
  // configs may be links, as Kubernetes mounts them; external data, which
  // must stay inside the model's folder, may not).
  bool refuse_links = false;
  // A file with more than one hard link is refused: its other name may lie
  // outside the folder it must stay in.
  bool refuse_hard_links = false;
};

// Opens `path` read-only without blocking and checks it is a regular file
// (and what `options` asks). `what` names it in messages ("model file",
// "external data"). NotFound when it does not exist, InvalidArgument else.
Result<FileDescriptor> OpenRegularFile(const std::filesystem::path& path, std::string_view what,
                                       const RegularFileOptions& options = {});

// The whole file, through OpenRegularFile; InvalidArgument when it is larger
// than `max_bytes`.
Result<std::string> ReadRegularFile(const std::filesystem::path& path, std::string_view what, size_t max_bytes,
                                    const RegularFileOptions& options = {});

}  // namespace berth::core
