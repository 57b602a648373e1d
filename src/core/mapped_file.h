// Read-only memory-mapped file. The mapping lives as long as the object (or
// any shared_ptr to it); pages are loaded lazily by the kernel.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

#include "core/status.h"

namespace berth::core {

class MappedFile {
 public:
  static Result<std::shared_ptr<MappedFile>> Open(const std::string& path);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const char* data() const { return static_cast<const char*>(data_); }
  size_t size() const { return size_; }
  std::string_view view() const { return {data(), size_}; }
  const std::string& path() const { return path_; }

  // Asks the kernel to back [data, data + size) with 2 MiB pages where it can
  // (MADV_HUGEPAGE). A file that is not yet in the page cache is then read in
  // 2 MiB folios, and a mapping of those folios streams without the TLB
  // misses of 4 KiB pages: on a virtual machine, where a TLB miss walks two
  // page tables, that halves the read bandwidth of a large model. Pages that
  // are already cached keep their size. Only advice: false if refused.
  static bool AdviseLargePages(const void* data, size_t size);

 private:
  MappedFile() = default;
  void* data_ = nullptr;
  size_t size_ = 0;
  std::string path_;
};

}  // namespace berth::core
