// Fuzz target: arbitrary bytes as config.pbtxt, parsed, validated and
// completed against a fixed model signature.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "server/kserve/kserve_codec.h"
#include "server/model_config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using berth::core::DataType;
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto config = berth::server::ParseModelConfig(text, "fuzz.pbtxt", nullptr);
  if (!config.ok() || !berth::server::ValidateModelConfig(*config, "m").ok()) return 0;
  berth::server::DeclaredSignature declared;
  declared.inputs.push_back({"x", true, "float32[?,4]", DataType::kFloat32, true, {-1, 4}});
  declared.outputs.push_back({"y", true, "int64[?]", DataType::kInt64, true, {-1}});
  berth::server::BackendFactory backend;
  backend.backend = "berth";
  backend.platform = "onnxruntime_onnx";
  backend.default_model_filename = "model.onnx";
  auto signature = berth::server::CompleteModelConfig("m", declared, backend, &*config);
  if (signature.ok()) {
    (void)berth::server::SelectVersions(config->version_policy(), std::vector<int64_t>{1, 2, 3});
    (void)berth::server::ModelConfigToJson(*config);
  }
  return 0;
}
