// GGUF files built in memory for the llm tests: a little-endian byte
// writer and a whole-file helper (header, metadata, tensor infos, padding,
// data).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace berth::llm {
namespace testing {

class Writer {
 public:
  template <typename T>
  Writer& Put(T value) {
    bytes_.append(reinterpret_cast<const char*>(&value), sizeof(T));
    return *this;
  }
  Writer& String(std::string_view s) {
    Put<uint64_t>(s.size());
    bytes_.append(s);
    return *this;
  }
  Writer& Raw(std::string_view s) {
    bytes_.append(s);
    return *this;
  }
  Writer& PadTo(size_t alignment) {
    while (bytes_.size() % alignment) bytes_.push_back('\0');
    return *this;
  }
  const std::string& bytes() const { return bytes_; }

 private:
  std::string bytes_;
};

struct Tensor {
  std::string name;
  std::vector<uint64_t> dims;
  uint32_t type = 0;
  uint64_t offset = 0;
};

// A GGUF v3 file: `kvs` writes the metadata (and says how many), then the
// tensor infos, padding and `data`.
inline std::string Gguf(uint64_t kv_count, const std::function<void(Writer&)>& kvs, const std::vector<Tensor>& tensors,
                        std::string data, uint32_t version = 3, size_t alignment = 32) {
  Writer w;
  w.Raw("GGUF").Put<uint32_t>(version).Put<uint64_t>(tensors.size()).Put<uint64_t>(kv_count);
  kvs(w);
  for (const auto& t : tensors) {
    w.String(t.name).Put<uint32_t>(static_cast<uint32_t>(t.dims.size()));
    for (uint64_t d : t.dims) w.Put<uint64_t>(d);
    w.Put<uint32_t>(t.type).Put<uint64_t>(t.offset);
  }
  w.PadTo(alignment).Raw(data);
  return w.bytes();
}

}  // namespace testing
}  // namespace berth::llm
