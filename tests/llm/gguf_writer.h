// GGUF files built in memory for the llm tests: a little-endian byte
// writer and a whole-file helper (header, metadata, tensor infos, padding,
// data).
#pragma once

#include <cstdint>
#include <cstring>
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

// Key/value writers for metadata.
struct Kv {
  std::function<void(Writer&)> write;
};
inline Kv Str(std::string key, std::string value) {
  return {[=](Writer& w) { w.String(key).Put<uint32_t>(8).String(value); }};
}
inline Kv U32(std::string key, uint32_t value) {
  return {[=](Writer& w) { w.String(key).Put<uint32_t>(4).Put<uint32_t>(value); }};
}
inline Kv I32(std::string key, int32_t value) {
  return {[=](Writer& w) { w.String(key).Put<uint32_t>(5).Put<int32_t>(value); }};
}
inline Kv F32(std::string key, float value) {
  return {[=](Writer& w) { w.String(key).Put<uint32_t>(6).Put<float>(value); }};
}
inline Kv Bool(std::string key, bool value) {
  return {[=](Writer& w) { w.String(key).Put<uint32_t>(7).Put<uint8_t>(value); }};
}
inline Kv Strings(std::string key, std::vector<std::string> values) {
  return {[=](Writer& w) {
    w.String(key).Put<uint32_t>(9).Put<uint32_t>(8).Put<uint64_t>(values.size());
    for (const auto& v : values) w.String(v);
  }};
}
inline Kv Floats(std::string key, std::vector<float> values) {
  return {[=](Writer& w) {
    w.String(key).Put<uint32_t>(9).Put<uint32_t>(6).Put<uint64_t>(values.size());
    for (float v : values) w.Put<float>(v);
  }};
}
inline Kv Ints(std::string key, std::vector<int32_t> values, uint32_t element = 5) {
  return {[=](Writer& w) {
    w.String(key).Put<uint32_t>(9).Put<uint32_t>(element).Put<uint64_t>(values.size());
    for (int32_t v : values) w.Put<int32_t>(v);
  }};
}

// The key a Kv writes.
inline std::string KeyOf(const Kv& kv) {
  Writer probe;
  kv.write(probe);
  uint64_t length = 0;
  std::memcpy(&length, probe.bytes().data(), sizeof(length));
  return probe.bytes().substr(sizeof(length), length);
}

// A whole file from key/value writers, tensor infos and data.
inline std::string Gguf(const std::vector<Kv>& kvs, const std::vector<Tensor>& tensors, std::string data) {
  return Gguf(
      kvs.size(),
      [&](Writer& w) {
        for (const Kv& kv : kvs) kv.write(w);
      },
      tensors, std::move(data));
}

}  // namespace testing
}  // namespace berth::llm
