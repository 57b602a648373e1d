// Object-detection ops: NonMaxSuppression (opsets 10, 11) and RoiAlign
// (10, 16).
#include <algorithm>
#include <cmath>

#include "engine/kernels/builtin_kernels.h"
#include "engine/kernels/common/kernel_util.h"
#include "engine/ops/op_registry.h"

namespace berth::engine {
namespace {

using core::DataType;
using core::Result;
using core::Status;
using core::Tensor;
using core::TensorShape;

// ---------------------------------------------------------------------------
// NonMaxSuppression

struct Box {
  float y1, x1, y2, x2;  // y1 <= y2, x1 <= x2
  float area() const { return (y2 - y1) * (x2 - x1); }
};

Box MakeBox(const float* v, bool center_point) {
  if (center_point) {  // [x_center, y_center, width, height]
    const float half_w = v[2] / 2;
    const float half_h = v[3] / 2;
    return {v[1] - half_h, v[0] - half_w, v[1] + half_h, v[0] + half_w};
  }
  // [y1, x1, y2, x2], corners in either order.
  return {std::min(v[0], v[2]), std::min(v[1], v[3]), std::max(v[0], v[2]), std::max(v[1], v[3])};
}

float IntersectionOverUnion(const Box& a, const Box& b) {
  const float area_a = a.area();
  const float area_b = b.area();
  if (!(area_a > 0) || !(area_b > 0)) return 0.0f;
  const float height = std::min(a.y2, b.y2) - std::max(a.y1, b.y1);
  const float width = std::min(a.x2, b.x2) - std::max(a.x1, b.x1);
  if (height <= 0 || width <= 0) return 0.0f;
  const float intersection = height * width;
  return intersection / (area_a + area_b - intersection);
}

// Reads an optional scalar input; `fallback` when absent or empty.
template <typename R>
Result<R> OptionalScalar(const Tensor* tensor, std::string_view what, R fallback) {
  if (!tensor || tensor->element_count() == 0) return fallback;
  if (tensor->element_count() != 1) {
    return core::InvalidArgument("'{}' must hold one value, got shape {}", what, core::ShapeToString(tensor->shape()));
  }
  if constexpr (std::is_integral_v<R>) {
    if (!core::IsInteger(tensor->dtype())) {
      return core::InvalidArgument("'{}' must be an integer, got {}", what, core::DataTypeName(tensor->dtype()));
    }
    return static_cast<R>(tensor->IntegerAt(0));
  } else {
    if (!core::IsFloatingPoint(tensor->dtype())) {
      return core::InvalidArgument("'{}' must be float, got {}", what, core::DataTypeName(tensor->dtype()));
    }
    return static_cast<R>(tensor->NumberAt(0));
  }
}

// Tensor contents as float, converted once.
template <typename T>
std::vector<float> ToFloats(const Tensor& tensor) {
  std::vector<float> out(static_cast<size_t>(tensor.element_count()));
  const T* data = tensor.data<T>();
  for (size_t i = 0; i < out.size(); ++i) out[i] = LoadAs<float>(data[i]);
  return out;
}

Status ComputeNonMaxSuppression(KernelContext& context, bool center_point) {
  ASSIGN_OR_RETURN(const Tensor* boxes, RequireTensor(context, 0, "boxes"));
  ASSIGN_OR_RETURN(const Tensor* scores, RequireTensor(context, 1, "scores"));
  ASSIGN_OR_RETURN(int64_t max_per_class,
                   OptionalScalar<int64_t>(context.input_tensor(2), "max_output_boxes_per_class", 0));
  ASSIGN_OR_RETURN(float iou_threshold, OptionalScalar<float>(context.input_tensor(3), "iou_threshold", 0.0f));
  const Tensor* score_threshold_tensor = context.input_tensor(4);
  const bool filter_scores = score_threshold_tensor && score_threshold_tensor->element_count() > 0;
  ASSIGN_OR_RETURN(float score_threshold, OptionalScalar<float>(score_threshold_tensor, "score_threshold", 0.0f));
  if (boxes->rank() != 3 || boxes->dim(2) != 4) {
    return core::InvalidArgument("boxes must be [batch, boxes, 4], got shape {}", core::ShapeToString(boxes->shape()));
  }
  if (scores->rank() != 3 || scores->dim(0) != boxes->dim(0) || scores->dim(2) != boxes->dim(1)) {
    return core::InvalidArgument("scores of shape {} do not match boxes of shape {} (expected [{}, classes, {}])",
                                 core::ShapeToString(scores->shape()), core::ShapeToString(boxes->shape()),
                                 boxes->dim(0), boxes->dim(1));
  }
  if (!core::IsFloatingPoint(boxes->dtype()) || scores->dtype() != boxes->dtype()) {
    return core::InvalidArgument("boxes and scores must be float of one type, got {} and {}",
                                 core::DataTypeName(boxes->dtype()), core::DataTypeName(scores->dtype()));
  }
  if (iou_threshold < 0 || iou_threshold > 1) {
    return core::InvalidArgument("iou_threshold {} must be in [0, 1]", iou_threshold);
  }
  const int64_t batches = boxes->dim(0);
  const int64_t count = boxes->dim(1);
  const int64_t classes = scores->dim(1);
  std::vector<float> box_values;
  std::vector<float> score_values;
  core::VisitFloatType(boxes->dtype(), [&]<typename T>() {
    if constexpr (!std::is_void_v<T>) {
      box_values = ToFloats<T>(*boxes);
      score_values = ToFloats<T>(*scores);
    }
  });

  // One independent problem per (batch, class); selections are concatenated
  // in that order.
  const int64_t problems = batches * classes;
  std::vector<std::vector<int64_t>> selected(static_cast<size_t>(problems));
  if (max_per_class > 0) {
    core::ParallelFor(problems, 1, [&](int64_t begin, int64_t end) {
      std::vector<int64_t> candidates;
      std::vector<Box> kept_boxes;
      for (int64_t problem = begin; problem < end; ++problem) {
        const int64_t b = problem / classes;
        const float* class_scores = score_values.data() + problem * count;
        const float* batch_boxes = box_values.data() + b * count * 4;
        candidates.clear();
        for (int64_t i = 0; i < count; ++i) {
          if (!filter_scores || class_scores[i] > score_threshold) candidates.push_back(i);
        }
        // Highest score first; equal scores keep the lower box index first.
        std::stable_sort(candidates.begin(), candidates.end(),
                         [&](int64_t a, int64_t c) { return class_scores[a] > class_scores[c]; });
        kept_boxes.clear();
        std::vector<int64_t>& chosen = selected[problem];
        for (int64_t candidate : candidates) {
          if (static_cast<int64_t>(chosen.size()) >= max_per_class) break;
          const Box box = MakeBox(batch_boxes + candidate * 4, center_point);
          bool suppressed = false;
          for (const Box& kept : kept_boxes) {
            if (IntersectionOverUnion(box, kept) > iou_threshold) {
              suppressed = true;
              break;
            }
          }
          if (suppressed) continue;
          kept_boxes.push_back(box);
          chosen.push_back(candidate);
        }
      }
    });
  }
  int64_t total = 0;
  for (const auto& chosen : selected) total += static_cast<int64_t>(chosen.size());
  ASSIGN_OR_RETURN(Tensor * out, context.AllocateOutput(0, DataType::kInt64, {total, 3}));
  int64_t* rows = out->data<int64_t>();
  for (int64_t problem = 0; problem < problems; ++problem) {
    for (int64_t index : selected[problem]) {
      *rows++ = problem / classes;
      *rows++ = problem % classes;
      *rows++ = index;
    }
  }
  return Status::Ok();
}

// ---------------------------------------------------------------------------
// RoiAlign

struct RoiAlignConfig {
  bool max_mode = false;
  int64_t output_height = 1;
  int64_t output_width = 1;
  int64_t sampling_ratio = 0;
  float spatial_scale = 1.0f;
  bool half_pixel = false;  // opset 16 default; opset 10 behaves as output_half_pixel
};

Result<RoiAlignConfig> ParseRoiAlign(const Node& node) {
  RoiAlignConfig config;
  const std::string mode = node.GetString("mode", "avg");
  if (mode != "avg" && mode != "max") return core::InvalidArgument("mode '{}' is not one of avg, max", mode);
  config.max_mode = mode == "max";
  config.output_height = node.GetInt("output_height", 1);
  config.output_width = node.GetInt("output_width", 1);
  config.sampling_ratio = node.GetInt("sampling_ratio", 0);
  config.spatial_scale = node.GetFloat("spatial_scale", 1.0f);
  if (node.opset >= 16) {
    const std::string transform = node.GetString("coordinate_transformation_mode", "half_pixel");
    if (transform != "half_pixel" && transform != "output_half_pixel") {
      return core::InvalidArgument("coordinate_transformation_mode '{}' is not one of half_pixel, output_half_pixel",
                                   transform);
    }
    config.half_pixel = transform == "half_pixel";
  }
  if (config.output_height <= 0 || config.output_width <= 0) {
    return core::InvalidArgument("output size {}x{} must be positive", config.output_height, config.output_width);
  }
  if (config.sampling_ratio < 0) return core::InvalidArgument("sampling_ratio {} is negative", config.sampling_ratio);
  if (!std::isfinite(config.spatial_scale)) return core::InvalidArgument("spatial_scale must be finite");
  return config;
}

// One bilinear sample: four input offsets and weights (all zero when the
// sample falls outside the feature map).
struct SamplePoint {
  int64_t offset[4];
  float weight[4];
};

SamplePoint BilinearPoint(double y, double x, int64_t height, int64_t width) {
  SamplePoint point{{0, 0, 0, 0}, {0, 0, 0, 0}};
  if (y < -1.0 || y > static_cast<double>(height) || x < -1.0 || x > static_cast<double>(width)) return point;
  y = std::max(y, 0.0);
  x = std::max(x, 0.0);
  int64_t y_low = static_cast<int64_t>(y);
  int64_t x_low = static_cast<int64_t>(x);
  int64_t y_high = y_low + 1;
  int64_t x_high = x_low + 1;
  if (y_low >= height - 1) {
    y_low = y_high = height - 1;
    y = static_cast<double>(y_low);
  }
  if (x_low >= width - 1) {
    x_low = x_high = width - 1;
    x = static_cast<double>(x_low);
  }
  const double ly = y - static_cast<double>(y_low);
  const double lx = x - static_cast<double>(x_low);
  const double hy = 1 - ly;
  const double hx = 1 - lx;
  point.offset[0] = y_low * width + x_low;
  point.offset[1] = y_low * width + x_high;
  point.offset[2] = y_high * width + x_low;
  point.offset[3] = y_high * width + x_high;
  point.weight[0] = static_cast<float>(hy * hx);
  point.weight[1] = static_cast<float>(hy * lx);
  point.weight[2] = static_cast<float>(ly * hx);
  point.weight[3] = static_cast<float>(ly * lx);
  return point;
}

// Where one roi samples: the top-left corner, bin size and samples per bin.
struct RoiGeometry {
  double start_h = 0, start_w = 0;
  double bin_h = 0, bin_w = 0;
  int64_t grid_h = 0, grid_w = 0;
};

// Samples one roi may take (output cells x grid); its plan holds one
// SamplePoint (48 bytes) each.
constexpr int64_t kMaxSamplesPerRoi = int64_t{1} << 24;

Result<RoiGeometry> MeasureRoi(const float* roi, const RoiAlignConfig& config) {
  const double offset = config.half_pixel ? 0.5 : 0.0;
  const double scale = config.spatial_scale;
  RoiGeometry geometry;
  geometry.start_w = roi[0] * scale - offset;
  geometry.start_h = roi[1] * scale - offset;
  double roi_w = roi[2] * scale - offset - geometry.start_w;
  double roi_h = roi[3] * scale - offset - geometry.start_h;
  if (!std::isfinite(roi_w) || !std::isfinite(roi_h) || !std::isfinite(geometry.start_w) ||
      !std::isfinite(geometry.start_h)) {
    return core::InvalidArgument("roi [{}, {}, {}, {}] is not finite", roi[0], roi[1], roi[2], roi[3]);
  }
  if (!config.half_pixel) {  // legacy behaviour: rois are at least 1x1
    roi_w = std::max(roi_w, 1.0);
    roi_h = std::max(roi_h, 1.0);
  }
  geometry.bin_h = roi_h / static_cast<double>(config.output_height);
  geometry.bin_w = roi_w / static_cast<double>(config.output_width);
  // Adaptive sampling takes about one sample per input pixel of a bin.
  const double grid_h =
      config.sampling_ratio > 0 ? static_cast<double>(config.sampling_ratio) : std::max(0.0, std::ceil(geometry.bin_h));
  const double grid_w =
      config.sampling_ratio > 0 ? static_cast<double>(config.sampling_ratio) : std::max(0.0, std::ceil(geometry.bin_w));
  const double samples =
      grid_h * grid_w * static_cast<double>(config.output_height) * static_cast<double>(config.output_width);
  if (samples > static_cast<double>(kMaxSamplesPerRoi)) {
    return core::InvalidArgument("roi [{}, {}, {}, {}] needs {} samples, more than the {} allowed", roi[0], roi[1],
                                 roi[2], roi[3], samples, kMaxSamplesPerRoi);
  }
  geometry.grid_h = static_cast<int64_t>(grid_h);
  geometry.grid_w = static_cast<int64_t>(grid_w);
  return geometry;
}

// The bilinear samples of one roi, cell by cell (grid_h * grid_w each).
void PlanRoi(const RoiGeometry& g, const RoiAlignConfig& config, int64_t height, int64_t width,
             std::vector<SamplePoint>* points) {
  points->clear();
  for (int64_t ph = 0; ph < config.output_height; ++ph) {
    for (int64_t pw = 0; pw < config.output_width; ++pw) {
      for (int64_t iy = 0; iy < g.grid_h; ++iy) {
        const double y = g.start_h + static_cast<double>(ph) * g.bin_h +
                         (static_cast<double>(iy) + 0.5) * g.bin_h / static_cast<double>(g.grid_h);
        for (int64_t ix = 0; ix < g.grid_w; ++ix) {
          const double x = g.start_w + static_cast<double>(pw) * g.bin_w +
                           (static_cast<double>(ix) + 0.5) * g.bin_w / static_cast<double>(g.grid_w);
          points->push_back(BilinearPoint(y, x, height, width));
        }
      }
    }
  }
}

template <typename T>
void RunRoiAlign(const Tensor& x, const std::vector<RoiGeometry>& rois, const std::vector<int64_t>& batch_indices,
                 Tensor& y, const RoiAlignConfig& config) {
  using C = std::conditional_t<std::is_same_v<T, double>, double, float>;
  const int64_t channels = x.dim(1);
  const int64_t height = x.dim(2);
  const int64_t width = x.dim(3);
  const int64_t roi_count = static_cast<int64_t>(rois.size());
  const int64_t cells = config.output_height * config.output_width;
  const T* src = x.data<T>();
  T* dst = y.data<T>();
  // Items are (roi, channel) pairs in order, so a thread rebuilds its sample
  // plan only when its range moves on to the next roi.
  core::ParallelFor(roi_count * channels, 1, [&](int64_t begin, int64_t end) {
    std::vector<SamplePoint> points;
    int64_t planned = -1;
    for (int64_t item = begin; item < end; ++item) {
      const int64_t r = item / channels;
      const int64_t c = item % channels;
      const RoiGeometry& geometry = rois[r];
      if (r != planned) {
        PlanRoi(geometry, config, height, width, &points);
        planned = r;
      }
      const int64_t samples_per_cell = geometry.grid_h * geometry.grid_w;
      const T* plane = src + (batch_indices[r] * channels + c) * height * width;
      T* out = dst + item * cells;
      const SamplePoint* point = points.data();
      const C count = static_cast<C>(std::max<int64_t>(samples_per_cell, 1));
      for (int64_t cell = 0; cell < cells; ++cell) {
        C result = 0;
        bool first = true;
        for (int64_t s = 0; s < samples_per_cell; ++s, ++point) {
          if (config.max_mode) {
            // As ONNX Runtime and the ONNX reference: the largest weighted corner.
            for (int k = 0; k < 4; ++k) {
              const C value = point->weight[k] * LoadAs<C>(plane[point->offset[k]]);
              if (first || value > result) result = value;
              first = false;
            }
          } else {
            for (int k = 0; k < 4; ++k) result += point->weight[k] * LoadAs<C>(plane[point->offset[k]]);
          }
        }
        if (!config.max_mode) result /= count;
        if constexpr (std::is_same_v<T, float> || std::is_same_v<T, double>) {
          out[cell] = static_cast<T>(result);
        } else {
          out[cell] = T(static_cast<float>(result));
        }
      }
    }
  });
}

Status InferRoiAlign(InferenceContext& context) {
  const DataType dtype = InputDtype(context, 0);
  const Node& node = context.node();
  TensorShape out = {-1, -1, node.GetInt("output_height", 1), node.GetInt("output_width", 1)};
  const ValueType& x = context.input_type(0);
  const ValueType& rois = context.input_type(1);
  const ValueType& indices = context.input_type(2);
  if (x.is_tensor() && x.has_shape && x.dims.size() == 4) out[1] = x.dims[1].value;
  if (rois.is_tensor() && rois.has_shape && rois.dims.size() == 2) out[0] = rois.dims[0].value;
  if (out[0] < 0 && indices.is_tensor() && indices.has_shape && indices.dims.size() == 1)
    out[0] = indices.dims[0].value;
  context.set_output_type(0, ValueType::TensorFromShape(dtype, out));
  return Status::Ok();
}

class RoiAlignKernel : public Kernel {
 public:
  explicit RoiAlignKernel(RoiAlignConfig config) : config_(config) {}

  Status Compute(KernelContext& context) const override {
    ASSIGN_OR_RETURN(const Tensor* x, RequireTensor(context, 0, "X"));
    ASSIGN_OR_RETURN(const Tensor* rois, RequireTensor(context, 1, "rois"));
    ASSIGN_OR_RETURN(const Tensor* batch_indices, RequireTensor(context, 2, "batch_indices"));
    if (x->rank() != 4)
      return core::InvalidArgument("X must be [N, C, H, W], got shape {}", core::ShapeToString(x->shape()));
    if (rois->rank() != 2 || rois->dim(1) != 4) {
      return core::InvalidArgument("rois must be [num_rois, 4], got shape {}", core::ShapeToString(rois->shape()));
    }
    if (batch_indices->rank() != 1 || batch_indices->dim(0) != rois->dim(0) ||
        !core::IsInteger(batch_indices->dtype())) {
      return core::InvalidArgument("batch_indices must be int64 [{}], got {}", rois->dim(0),
                                   batch_indices->DebugString());
    }
    if (!core::IsFloatingPoint(rois->dtype())) {
      return core::InvalidArgument("rois must be float, got {}", core::DataTypeName(rois->dtype()));
    }
    std::vector<int64_t> indices = batch_indices->ToInt64Vector();
    for (size_t r = 0; r < indices.size(); ++r) {
      if (indices[r] < 0 || indices[r] >= x->dim(0)) {
        return core::InvalidArgument("batch_indices[{}] = {} is out of range for batch size {}", r, indices[r],
                                     x->dim(0));
      }
    }
    std::vector<float> roi_values;
    core::VisitFloatType(rois->dtype(), [&]<typename R>() {
      if constexpr (!std::is_void_v<R>) roi_values = ToFloats<R>(*rois);
    });
    std::vector<RoiGeometry> geometries;
    for (size_t r = 0; r < indices.size(); ++r) {
      ASSIGN_OR_RETURN(RoiGeometry geometry, MeasureRoi(roi_values.data() + 4 * r, config_));
      geometries.push_back(geometry);
    }
    ASSIGN_OR_RETURN(
        Tensor * y,
        context.AllocateOutput(0, x->dtype(), {rois->dim(0), x->dim(1), config_.output_height, config_.output_width}));
    if (y->element_count() == 0) return Status::Ok();
    if (x->dim(2) == 0 || x->dim(3) == 0) {
      return core::InvalidArgument("cannot pool from an empty feature map {}", core::ShapeToString(x->shape()));
    }
    bool supported = core::VisitFloatType(x->dtype(), [&]<typename T>() -> bool {
      if constexpr (std::is_void_v<T>) {
        return false;
      } else {
        RunRoiAlign<T>(*x, geometries, indices, *y, config_);
        return true;
      }
    });
    if (!supported) return core::Unimplemented("type {} is not supported", core::DataTypeName(x->dtype()));
    return Status::Ok();
  }

 private:
  RoiAlignConfig config_;
};

}  // namespace

void RegisterDetectionKernels(OpRegistry& registry) {
  // NonMaxSuppression 11 only clarifies the spec; the kernel is the same.
  registry.Register(
      "", "NonMaxSuppression", {10, 11},
      [](InferenceContext& context) {
        context.set_output_type(0, ValueType::TensorFromShape(DataType::kInt64, {-1, 3}));
        return Status::Ok();
      },
      [](KernelBuildContext& build) -> Result<std::unique_ptr<Kernel>> {
        const int64_t center_point_box = build.node().GetInt("center_point_box", 0);
        if (center_point_box != 0 && center_point_box != 1) {
          return core::InvalidArgument("center_point_box must be 0 or 1, got {}", center_point_box);
        }
        return MakeFunctionKernel([center = center_point_box == 1](KernelContext& context) {
          return ComputeNonMaxSuppression(context, center);
        });
      });
  // 16 adds coordinate_transformation_mode (default half_pixel).
  registry.Register("", "RoiAlign", {10, 16}, InferRoiAlign,
                    [](KernelBuildContext& build) -> Result<std::unique_ptr<Kernel>> {
                      ASSIGN_OR_RETURN(RoiAlignConfig config, ParseRoiAlign(build.node()));
                      return std::unique_ptr<Kernel>(std::make_unique<RoiAlignKernel>(config));
                    });
}

}  // namespace berth::engine
