// Sliding-window geometry shared by the convolution and pooling families:
// the auto_pad / pads / strides / dilations / kernel_shape / ceil_mode
// attributes, how they resolve against a concrete (or partly known) input
// shape, and a small per-shape cache for oneDNN primitives.
//
// Conventions: "spatial" vectors have one entry per spatial axis; pads are
// kept split into begin/end. An unknown extent is -1 (static inference);
// resolution then leaves the dependent output extent unknown.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <span>
#include <string>
#include <vector>

#include "core/status.h"
#include "core/tensor_shape.h"
#include "engine/onnx/graph.h"

namespace berth::engine::conv {

enum class AutoPad { kNotSet, kValid, kSameUpper, kSameLower };

// Window attributes as written on the node, checked for sign and length
// consistency at load. Empty vectors mean "default" (stride 1, dilation 1,
// no padding, kernel taken from the weights).
struct WindowAttributes {
  AutoPad auto_pad = AutoPad::kNotSet;
  std::vector<int64_t> kernel_shape;
  std::vector<int64_t> strides;
  std::vector<int64_t> dilations;
  std::vector<int64_t> pads;  // [begin_0, begin_1, ..., end_0, end_1, ...]
  bool ceil_mode = false;
};

// Reads and checks the window attributes of `node` (every attribute is
// optional here; callers that require kernel_shape check it themselves).
core::Result<WindowAttributes> ParseWindowAttributes(const Node& node);

// A window resolved against one input shape; all vectors have `rank` entries.
struct Window {
  size_t rank = 0;
  std::vector<int64_t> input;  // spatial input extents (-1 unknown)
  std::vector<int64_t> kernel;
  std::vector<int64_t> strides;
  std::vector<int64_t> dilations;
  std::vector<int64_t> pad_begin;  // meaningful only where input and output are known
  std::vector<int64_t> pad_end;
  std::vector<int64_t> output;  // spatial output extents (-1 unknown)

  int64_t KernelExtent(size_t axis) const { return (kernel[axis] - 1) * dilations[axis] + 1; }
};

// Resolves a forward window (Conv, pooling): output extent
//   floor_or_ceil((in + pad_begin + pad_end - kernel_extent) / stride) + 1
// with SAME auto_pad giving ceil(in / stride). In ceil mode a last window that
// would start beyond the input and the begin padding is dropped (PyTorch's rule,
// adopted by later ONNX versions), so every window covers a real element.
// `kernel` is the spatial kernel shape (from kernel_shape or W).
core::Result<Window> ResolveWindow(const WindowAttributes& attributes, std::span<const int64_t> input_spatial,
                                   std::span<const int64_t> kernel);

// ConvTranspose attributes beyond the common window ones.
struct TransposeAttributes {
  WindowAttributes window;
  std::vector<int64_t> output_padding;  // empty: zeros
  std::vector<int64_t> output_shape;    // empty: computed from pads
};
core::Result<TransposeAttributes> ParseTransposeAttributes(const Node& node);

// Resolves a transposed-convolution window: output extent
//   (in - 1) * stride + kernel_extent - pad_begin - pad_end
// where pad_end already has output_padding subtracted. With output_shape or
// SAME auto_pad the pads are derived from the wanted output extent and may be
// negative (output positions no input reaches; they hold only the bias).
core::Result<Window> ResolveTransposeWindow(const TransposeAttributes& attributes,
                                            std::span<const int64_t> input_spatial, std::span<const int64_t> kernel);

// The spatial kernel for a convolution: kernel_shape when given (it must match
// W), else W's dims after the first two. Dims may be -1 in inference.
core::Result<std::vector<int64_t>> ConvKernelShape(const WindowAttributes& attributes,
                                                   std::span<const int64_t> weight_shape);

// Row-major element count of a spatial shape known to be valid.
inline int64_t SpatialSize(std::span<const int64_t> dims) {
  int64_t size = 1;
  for (int64_t d : dims) size *= d;
  return size;
}

// Primitives (and what goes with them, e.g. prepacked weights) per input
// shape. Lookups take a shared lock; a miss builds under the exclusive lock so
// a shape is built once. The map is bounded: models with many shapes start
// over rather than grow without limit (entries in use stay alive through
// their shared_ptr).
template <typename Entry>
class ShapeCache {
 public:
  template <typename Build>  // Build: () -> core::Result<std::shared_ptr<const Entry>>
  core::Result<std::shared_ptr<const Entry>> Get(const std::vector<int64_t>& key, Build&& build) const {
    {
      std::shared_lock lock(mutex_);
      auto it = entries_.find(key);
      if (it != entries_.end()) return it->second;
    }
    std::unique_lock lock(mutex_);
    auto it = entries_.find(key);
    if (it != entries_.end()) return it->second;
    core::Result<std::shared_ptr<const Entry>> built = build();
    if (!built.ok()) return built.status();
    if (entries_.size() >= kMaxEntries) entries_.clear();
    entries_.emplace(key, *built);
    return built;
  }

 private:
  static constexpr size_t kMaxEntries = 64;
  mutable std::shared_mutex mutex_;
  mutable std::map<std::vector<int64_t>, std::shared_ptr<const Entry>> entries_;
};

}  // namespace berth::engine::conv
