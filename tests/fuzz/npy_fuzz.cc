// Fuzz target: arbitrary bytes as a .npy file.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "core/npy_file.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto tensor = berth::core::ParseNpy(std::string_view(reinterpret_cast<const char*>(data), size));
  (void)tensor;
  return 0;
}
