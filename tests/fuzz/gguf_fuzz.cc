// Fuzz target: arbitrary bytes as a GGUF file. Whatever the reader accepts is
// then read in full (every array element, every tensor's first and last
// byte), so an out-of-bounds view shows up under ASan.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "llm/gguf/gguf_file.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto bytes = std::make_shared<std::string>(reinterpret_cast<const char*>(data), size);
  auto file = berth::llm::GgufFile::Parse(*bytes, "fuzz.gguf", bytes);
  if (!file.ok()) return 0;
  volatile double sink = 0;
  for (const auto& [key, value] : (*file)->metadata()) {
    if (value.type != berth::llm::GgufValueType::kArray) continue;
    if (value.element_type == berth::llm::GgufValueType::kString) {
      for (auto s : value.strings) sink = sink + (s.empty() ? 0 : s.back());
    } else {
      for (uint64_t i = 0; i < value.count; ++i) sink = sink + value.FloatAt(i);
    }
  }
  for (const auto& tensor : (*file)->tensors()) {
    if (tensor.bytes > 0) sink = sink + tensor.data[0] + tensor.data[tensor.bytes - 1];
  }
  (void)sink;
  return 0;
}
