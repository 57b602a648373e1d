// Fuzz target: arbitrary bytes as an ONNX model file, through the loader,
// session compilation and one run on zero-filled inputs (when every input
// has a small static shape). Must never crash, hang or leak; errors are fine.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "engine/onnx/model_loader.h"
#include "engine/session.h"

namespace {
constexpr int64_t kMaxInputElements = 1 << 16;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace berth;
  auto model = engine::LoadModelFromBytes(std::string_view(reinterpret_cast<const char*>(data), size), {});
  if (!model.ok()) return 0;
  engine::SessionOptions options;
  options.intra_op_threads = 1;
  auto session = engine::Session::Create(*model, options);
  if (!session.ok()) return 0;
  std::vector<engine::NamedValue> feeds;
  for (const auto& input : (*session)->inputs()) {
    if (!input.type.FullyKnown()) return 0;
    auto count = core::CheckedElementCount(input.type.Shape());
    if (!count.ok() || *count > kMaxInputElements) return 0;
    auto tensor = core::Tensor::CreateZeroed(input.type.dtype, input.type.Shape());
    if (!tensor.ok()) return 0;
    feeds.emplace_back(input.name, std::move(tensor).value());
  }
  auto outputs = (*session)->Run(feeds);
  (void)outputs;
  return 0;
}
