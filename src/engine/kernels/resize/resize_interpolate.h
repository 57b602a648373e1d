// Separable N-D interpolation shared by Resize and Upsample.
//
// The caller turns the op's inputs into one AxisResize per axis (sizes,
// scale, roi); ResizeTensor maps every output coordinate back to the input
// following the ONNX coordinate_transformation_mode and interpolates.
// Nearest is a direct gather (any element type); linear and cubic run one
// 1-D pass per resized axis over float (double for double inputs).
#pragma once

#include <cmath>
#include <cstdint>
#include <limits>
#include <type_traits>
#include <vector>

#include "core/status.h"
#include "core/tensor.h"
#include "engine/kernels/common/kernel_util.h"

namespace berth::engine::resize {

// Element conversions around the float compute type (also GridSample's):
// loads go through LoadAs (kernel_util.h); integers store rounded to nearest
// and saturated, as image libraries do.
template <typename T, typename C>
T StoreResult(C value) {
  if constexpr (kIsHalf<T>) {
    return T(static_cast<float>(value));
  } else if constexpr (std::is_integral_v<T>) {
    if (!(value == value)) return T(0);
    const C rounded = std::nearbyint(value);
    if (rounded <= static_cast<C>(std::numeric_limits<T>::lowest())) return std::numeric_limits<T>::lowest();
    if (rounded >= static_cast<C>(std::numeric_limits<T>::max())) return std::numeric_limits<T>::max();
    return static_cast<T>(rounded);
  } else {
    return static_cast<T>(value);
  }
}

enum class Mode { kNearest, kLinear, kCubic };

enum class CoordinateMode {
  kHalfPixel,
  kHalfPixelSymmetric,
  kPytorchHalfPixel,
  kAlignCorners,
  kAsymmetric,
  kTfHalfPixelForNn,
  kTfCropAndResize,
};

enum class NearestMode {
  kRoundPreferFloor,
  kRoundPreferCeil,
  kFloor,
  kCeil,
  // Resize-10 / Upsample: floor when upsampling, ceil when downsampling.
  kSimple,
};

struct Settings {
  Mode mode = Mode::kNearest;
  CoordinateMode coordinate_mode = CoordinateMode::kHalfPixel;
  NearestMode nearest_mode = NearestMode::kRoundPreferFloor;
  double cubic_coeff_a = -0.75;
  bool exclude_outside = false;
  bool antialias = false;
  float extrapolation_value = 0.0f;
};

struct AxisResize {
  int64_t in_size = 1;
  int64_t out_size = 1;
  double scale = 1.0;      // out / in as the op defines it (not always out_size / in_size)
  double roi_start = 0.0;  // tf_crop_and_resize only, normalised coordinates
  double roi_end = 1.0;
};

// Fills `y` (already allocated with the output shape and x's dtype).
// Unimplemented for element types the mode cannot interpolate.
core::Status ResizeTensor(const core::Tensor& x, core::Tensor& y, const std::vector<AxisResize>& axes,
                          const Settings& settings, core::Allocator& allocator);

}  // namespace berth::engine::resize
