// Resize (opsets 10, 11, 13, 18, 19) and Upsample (7, 9): turning the op's
// inputs and attributes into per-axis sizes and scales. The interpolation
// itself is in resize_interpolate.cc.
#include <cmath>
#include <optional>

#include "engine/kernels/builtin_kernels.h"
#include "engine/kernels/common/kernel_util.h"
#include "engine/kernels/resize/resize_interpolate.h"
#include "engine/ops/op_registry.h"

namespace berth::engine {

namespace {

using core::DataType;
using core::Result;
using core::Status;
using core::Tensor;
using core::TensorShape;

enum class AspectPolicy { kStretch, kNotLarger, kNotSmaller };

// Where the op's inputs are, by version.
struct ResizeSignature {
  int roi_input = -1;     // -1: none
  int scales_input = -1;  // -1: scales come from the attribute (Upsample-7)
  int sizes_input = -1;
};

struct ResizeConfig {
  resize::Settings settings;
  ResizeSignature signature;
  std::vector<float> attribute_scales;  // Upsample-7
  std::vector<int64_t> axes;            // opset 18; empty = all axes
  AspectPolicy policy = AspectPolicy::kStretch;
};

Result<resize::Mode> ParseMode(const std::string& mode) {
  if (mode == "nearest") return resize::Mode::kNearest;
  if (mode == "linear" || mode == "bilinear") return resize::Mode::kLinear;
  if (mode == "cubic") return resize::Mode::kCubic;
  return core::InvalidArgument("mode '{}' is not one of nearest, linear, cubic", mode);
}

Result<resize::CoordinateMode> ParseCoordinateMode(const std::string& mode, int opset) {
  using resize::CoordinateMode;
  if (mode == "half_pixel") return CoordinateMode::kHalfPixel;
  if (mode == "pytorch_half_pixel") return CoordinateMode::kPytorchHalfPixel;
  if (mode == "align_corners") return CoordinateMode::kAlignCorners;
  if (mode == "asymmetric") return CoordinateMode::kAsymmetric;
  if (mode == "tf_crop_and_resize") return CoordinateMode::kTfCropAndResize;
  if (mode == "tf_half_pixel_for_nn" && opset < 13) return CoordinateMode::kTfHalfPixelForNn;
  if (mode == "half_pixel_symmetric" && opset >= 19) return CoordinateMode::kHalfPixelSymmetric;
  return core::InvalidArgument("coordinate_transformation_mode '{}' is not valid at opset {}", mode, opset);
}

Result<resize::NearestMode> ParseNearestMode(const std::string& mode) {
  using resize::NearestMode;
  if (mode == "round_prefer_floor") return NearestMode::kRoundPreferFloor;
  if (mode == "round_prefer_ceil") return NearestMode::kRoundPreferCeil;
  if (mode == "floor") return NearestMode::kFloor;
  if (mode == "ceil") return NearestMode::kCeil;
  return core::InvalidArgument("nearest_mode '{}' is not one of round_prefer_floor, round_prefer_ceil, floor, ceil",
                               mode);
}

Result<ResizeConfig> ParseResize(const Node& node) {
  ResizeConfig config;
  resize::Settings& settings = config.settings;
  ASSIGN_OR_RETURN(settings.mode, ParseMode(node.GetString("mode", "nearest")));
  if (node.opset < 11) {
    // Resize-10 maps coordinates like Upsample.
    config.signature = {-1, 1, -1};
    settings.coordinate_mode = resize::CoordinateMode::kAsymmetric;
    settings.nearest_mode = resize::NearestMode::kSimple;
    if (settings.mode == resize::Mode::kCubic) return core::InvalidArgument("mode 'cubic' needs opset 11");
    return config;
  }
  config.signature = {1, 2, 3};
  ASSIGN_OR_RETURN(settings.coordinate_mode,
                   ParseCoordinateMode(node.GetString("coordinate_transformation_mode", "half_pixel"), node.opset));
  ASSIGN_OR_RETURN(settings.nearest_mode, ParseNearestMode(node.GetString("nearest_mode", "round_prefer_floor")));
  settings.cubic_coeff_a = node.GetFloat("cubic_coeff_a", -0.75f);
  settings.exclude_outside = node.GetInt("exclude_outside", 0) != 0;
  settings.extrapolation_value = node.GetFloat("extrapolation_value", 0.0f);
  if (node.opset >= 18) {
    settings.antialias = node.GetInt("antialias", 0) != 0;
    config.axes = node.GetInts("axes");
    const std::string policy = node.GetString("keep_aspect_ratio_policy", "stretch");
    if (policy == "stretch") {
      config.policy = AspectPolicy::kStretch;
    } else if (policy == "not_larger") {
      config.policy = AspectPolicy::kNotLarger;
    } else if (policy == "not_smaller") {
      config.policy = AspectPolicy::kNotSmaller;
    } else {
      return core::InvalidArgument("keep_aspect_ratio_policy '{}' is not one of stretch, not_larger, not_smaller",
                                   policy);
    }
  }
  return config;
}

Result<ResizeConfig> ParseUpsample(const Node& node) {
  ResizeConfig config;
  ASSIGN_OR_RETURN(config.settings.mode, ParseMode(node.GetString("mode", "nearest")));
  if (config.settings.mode == resize::Mode::kCubic) return core::InvalidArgument("Upsample has no cubic mode");
  config.settings.coordinate_mode = resize::CoordinateMode::kAsymmetric;
  config.settings.nearest_mode = resize::NearestMode::kSimple;
  if (node.opset < 9) {
    config.signature = {-1, -1, -1};
    config.attribute_scales = node.GetFloats("scales");
  } else {
    config.signature = {-1, 1, -1};
  }
  return config;
}

// The input at `index` when present and non-empty (Resize-11 marks an
// unused scales input with an empty tensor).
const Tensor* NonEmpty(const Tensor* tensor) { return tensor && tensor->element_count() > 0 ? tensor : nullptr; }

// The axes that scales / sizes / roi describe, normalised.
Result<std::vector<int64_t>> ResolvedAxes(const ResizeConfig& config, int64_t rank) {
  std::vector<int64_t> axes;
  if (config.axes.empty()) {
    for (int64_t a = 0; a < rank; ++a) axes.push_back(a);
    return axes;
  }
  std::vector<bool> seen(static_cast<size_t>(rank), false);
  for (int64_t axis : config.axes) {
    ASSIGN_OR_RETURN(int64_t normalized, core::NormalizeAxis(axis, rank));
    if (seen[normalized]) return core::InvalidArgument("axis {} is listed twice in axes", axis);
    seen[normalized] = true;
    axes.push_back(normalized);
  }
  return axes;
}

// Output length for `in` scaled by `scale`: floor, with the scale checked.
Result<int64_t> ScaledLength(int64_t in, double scale, int64_t axis) {
  if (!(scale > 0) || !std::isfinite(scale)) {
    return core::InvalidArgument("scale {} for axis {} must be positive and finite", scale, axis);
  }
  const double length = std::floor(static_cast<double>(in) * scale);
  if (length > static_cast<double>(core::kMaxTensorBytes)) {
    return core::InvalidArgument("scale {} makes axis {} of size {} too large", scale, axis, in);
  }
  return static_cast<int64_t>(length);
}

// Per-axis output size and scale from scales or sizes (and roi), for an
// input of `shape`. Shared by the kernel and by inference when the inputs
// are constant.
Result<std::vector<resize::AxisResize>> PlanAxes(const ResizeConfig& config, const TensorShape& shape,
                                                 const Tensor* roi, const Tensor* scales, const Tensor* sizes) {
  const int64_t rank = static_cast<int64_t>(shape.size());
  ASSIGN_OR_RETURN(std::vector<int64_t> axes, ResolvedAxes(config, rank));
  const size_t count = axes.size();
  std::vector<resize::AxisResize> plan(static_cast<size_t>(rank));
  for (int64_t a = 0; a < rank; ++a) {
    plan[a].in_size = shape[a];
    plan[a].out_size = shape[a];
  }

  if (!config.attribute_scales.empty()) {
    if (config.attribute_scales.size() != count) {
      return core::InvalidArgument("scales has {} values for an input of rank {}", config.attribute_scales.size(),
                                   rank);
    }
    for (size_t i = 0; i < count; ++i) {
      plan[axes[i]].scale = config.attribute_scales[i];
      ASSIGN_OR_RETURN(plan[axes[i]].out_size, ScaledLength(shape[axes[i]], config.attribute_scales[i], axes[i]));
    }
  } else if (scales && sizes) {
    return core::InvalidArgument("only one of scales and sizes may be given");
  } else if (scales) {
    if (!core::IsFloatingPoint(scales->dtype())) {
      return core::InvalidArgument("scales must be float, got {}", core::DataTypeName(scales->dtype()));
    }
    if (static_cast<size_t>(scales->element_count()) != count) {
      return core::InvalidArgument("scales has {} values for {} axes", scales->element_count(), count);
    }
    for (size_t i = 0; i < count; ++i) {
      // The reference multiplies the float32 scale in double.
      const double scale = scales->NumberAt(static_cast<int64_t>(i));
      plan[axes[i]].scale = scale;
      ASSIGN_OR_RETURN(plan[axes[i]].out_size, ScaledLength(shape[axes[i]], scale, axes[i]));
    }
  } else if (sizes) {
    if (!core::IsInteger(sizes->dtype())) {
      return core::InvalidArgument("sizes must be int64, got {}", core::DataTypeName(sizes->dtype()));
    }
    if (static_cast<size_t>(sizes->element_count()) != count) {
      return core::InvalidArgument("sizes has {} values for {} axes", sizes->element_count(), count);
    }
    std::vector<int64_t> requested = sizes->ToInt64Vector();
    for (size_t i = 0; i < count; ++i) {
      if (requested[i] < 0) return core::InvalidArgument("sizes[{}] = {} is negative", i, requested[i]);
      if (shape[axes[i]] == 0 && requested[i] != 0) {
        return core::InvalidArgument("cannot resize axis {} of size 0 to size {}", axes[i], requested[i]);
      }
    }
    if (config.policy == AspectPolicy::kStretch) {
      for (size_t i = 0; i < count; ++i) {
        const int64_t in = shape[axes[i]];
        plan[axes[i]].out_size = requested[i];
        plan[axes[i]].scale = in == 0 ? 1.0 : static_cast<double>(requested[i]) / static_cast<double>(in);
      }
    } else {
      // One scale for all listed axes, the largest (smallest) that fits.
      std::optional<double> scale;
      for (size_t i = 0; i < count; ++i) {
        const int64_t in = shape[axes[i]];
        if (in == 0) continue;
        const double ratio = static_cast<double>(requested[i]) / static_cast<double>(in);
        if (!scale || (config.policy == AspectPolicy::kNotLarger ? ratio < *scale : ratio > *scale)) scale = ratio;
      }
      for (size_t i = 0; i < count && scale; ++i) {
        const int64_t in = shape[axes[i]];
        plan[axes[i]].scale = *scale;
        // The reference rounds half up.
        plan[axes[i]].out_size = static_cast<int64_t>(std::floor(*scale * static_cast<double>(in) + 0.5));
      }
    }
  } else {
    return core::InvalidArgument("one of scales and sizes must be given");
  }

  if (roi && config.settings.coordinate_mode == resize::CoordinateMode::kTfCropAndResize) {
    if (!core::IsFloatingPoint(roi->dtype())) {
      return core::InvalidArgument("roi must be float, got {}", core::DataTypeName(roi->dtype()));
    }
    if (static_cast<size_t>(roi->element_count()) != 2 * count) {
      return core::InvalidArgument("roi has {} values, expected {} (starts and ends for {} axes)", roi->element_count(),
                                   2 * count, count);
    }
    for (size_t i = 0; i < count; ++i) {
      plan[axes[i]].roi_start = roi->NumberAt(static_cast<int64_t>(i));
      plan[axes[i]].roi_end = roi->NumberAt(static_cast<int64_t>(count + i));
      if (!std::isfinite(plan[axes[i]].roi_start) || !std::isfinite(plan[axes[i]].roi_end)) {
        return core::InvalidArgument("roi for axis {} is not finite", axes[i]);
      }
    }
  }
  return plan;
}

Status InferResize(InferenceContext& context, const ResizeConfig& config) {
  const DataType dtype = InputDtype(context, 0);
  const std::optional<TensorShape> input_shape = InputShapeOrUnknownOutput(context, dtype);
  if (!input_shape) return Status::Ok();
  const TensorShape& shape = *input_shape;
  const int64_t rank = static_cast<int64_t>(shape.size());
  auto constant = [&](int index) -> std::optional<const Tensor*> {
    if (index < 0 || !context.has_input(index)) return nullptr;
    const Tensor* value = context.input_value(index);
    if (!value) return std::nullopt;  // present but not known statically
    return NonEmpty(value);
  };
  // roi only matters for tf_crop_and_resize.
  const bool crop = config.settings.coordinate_mode == resize::CoordinateMode::kTfCropAndResize;
  std::optional<const Tensor*> roi =
      crop ? constant(config.signature.roi_input) : std::optional<const Tensor*>(nullptr);
  std::optional<const Tensor*> scales = constant(config.signature.scales_input);
  std::optional<const Tensor*> sizes = constant(config.signature.sizes_input);
  // An unknown input may be the empty placeholder for the other one.
  const bool known = roi && scales && sizes &&
                     (config.signature.scales_input < 0 || *scales || *sizes || !config.attribute_scales.empty());
  if (known) {
    // Plan with unknown dims (e.g. a dynamic batch) standing in as 1, then
    // keep only what does not depend on them: sizes given for an axis (with
    // the stretch policy) fix it whatever the input.
    ASSIGN_OR_RETURN(std::vector<int64_t> axes, ResolvedAxes(config, rank));
    std::vector<bool> listed(shape.size(), false);
    for (int64_t axis : axes) listed[axis] = true;
    TensorShape planned_shape = shape;
    bool listed_unknown = false;  // keep_aspect_ratio_policy then depends on it
    for (int64_t d = 0; d < rank; ++d) {
      if (planned_shape[d] < 0) {
        planned_shape[d] = 1;
        listed_unknown = listed_unknown || listed[d];
      }
    }
    ASSIGN_OR_RETURN(std::vector<resize::AxisResize> plan, PlanAxes(config, planned_shape, *roi, *scales, *sizes));
    const bool sizes_fix_axes = *sizes && config.policy == AspectPolicy::kStretch;
    TensorShape out;
    for (int64_t d = 0; d < rank; ++d) {
      bool fixed = shape[d] >= 0 || (listed[d] && sizes_fix_axes);
      if (listed[d] && *sizes && !sizes_fix_axes && listed_unknown) fixed = false;
      out.push_back(fixed ? plan[d].out_size : -1);
    }
    context.set_output_type(0, ValueType::TensorFromShape(dtype, out));
    return Status::Ok();
  }
  // Same rank; axes outside an explicit `axes` list keep their size.
  TensorShape out(shape.size(), -1);
  if (!config.axes.empty()) {
    ASSIGN_OR_RETURN(std::vector<int64_t> axes, ResolvedAxes(config, rank));
    out = shape;
    for (int64_t axis : axes) out[axis] = -1;
  }
  context.set_output_type(0, ValueType::TensorFromShape(dtype, out));
  return Status::Ok();
}

class ResizeKernel : public Kernel {
 public:
  explicit ResizeKernel(ResizeConfig config) : config_(std::move(config)) {}

  Status Compute(KernelContext& context) const override {
    ASSIGN_OR_RETURN(const Tensor* x, RequireTensor(context, 0, "X"));
    auto optional_input = [&](int index) -> const Tensor* {
      return index >= 0 && index < context.input_count() ? NonEmpty(context.input_tensor(index)) : nullptr;
    };
    const Tensor* roi = optional_input(config_.signature.roi_input);
    const Tensor* scales = optional_input(config_.signature.scales_input);
    const Tensor* sizes = optional_input(config_.signature.sizes_input);
    ASSIGN_OR_RETURN(std::vector<resize::AxisResize> plan, PlanAxes(config_, x->shape(), roi, scales, sizes));
    TensorShape out_shape;
    for (const auto& axis : plan) out_shape.push_back(axis.out_size);
    RETURN_IF_ERROR(core::CheckedElementCount(out_shape, std::max<size_t>(x->element_size(), 1)).status());
    ASSIGN_OR_RETURN(Tensor * y, context.AllocateOutput(0, x->dtype(), out_shape));
    return resize::ResizeTensor(*x, *y, plan, config_.settings, context.allocator());
  }

 private:
  ResizeConfig config_;
};

template <Result<ResizeConfig> (*Parse)(const Node&)>
void RegisterResizeOp(OpRegistry& registry, std::string_view name, std::initializer_list<int> versions) {
  registry.Register(
      "", name, versions,
      [](InferenceContext& context) -> Status {
        ASSIGN_OR_RETURN(ResizeConfig config, Parse(context.node()));
        return InferResize(context, config);
      },
      [](KernelBuildContext& build) -> Result<std::unique_ptr<Kernel>> {
        ASSIGN_OR_RETURN(ResizeConfig config, Parse(build.node()));
        return std::unique_ptr<Kernel>(std::make_unique<ResizeKernel>(std::move(config)));
      });
}

}  // namespace

void RegisterResizeKernels(OpRegistry& registry) {
  // 11: roi/sizes and the coordinate modes; 13: optional roi/scales;
  // 18: antialias, axes, keep_aspect_ratio_policy; 19: half_pixel_symmetric.
  RegisterResizeOp<ParseResize>(registry, "Resize", {10, 11, 13, 18, 19});
  // 7: scales attribute; 9: scales input.
  RegisterResizeOp<ParseUpsample>(registry, "Upsample", {7, 9});
}

}  // namespace berth::engine
