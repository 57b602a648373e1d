// Fuzz target: arbitrary bytes as config.pbtxt, parsed, validated and
// completed against a fixed model signature.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "server/model_config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using berth::core::DataType;
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto config = berth::server::ParseModelConfig(text, "fuzz.pbtxt", nullptr);
  if (!config.ok() || !berth::server::ValidateModelConfig(*config, "m").ok()) return 0;
  std::vector<berth::engine::ValueInfo> inputs = {
      {"x", berth::engine::ValueType::TensorFromShape(DataType::kFloat32, {-1, 4}), ""}};
  std::vector<berth::engine::ValueInfo> outputs = {
      {"y", berth::engine::ValueType::TensorFromShape(DataType::kInt64, {-1}), ""}};
  auto signature = berth::server::CompleteModelConfig("m", inputs, outputs, &*config);
  if (signature.ok()) {
    (void)berth::server::SelectVersions(config->version_policy(), std::vector<int64_t>{1, 2, 3});
    (void)berth::server::ModelConfigToJson(*config);
  }
  return 0;
}
