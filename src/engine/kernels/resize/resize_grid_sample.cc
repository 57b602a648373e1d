// GridSample: samples X at the normalised positions of a grid (opset 16:
// 2-D with bilinear / nearest / bicubic; opset 20: any number of spatial
// axes, modes renamed linear / cubic).
//
// For every output position the taps (input offsets and weights, padding
// applied) are worked out once and then reused for all channels.
#include <cmath>

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

enum class SampleMode { kNearest, kLinear, kCubic };
enum class Padding { kZeros, kBorder, kReflection };

struct GridSampleConfig {
  SampleMode mode = SampleMode::kLinear;
  Padding padding = Padding::kZeros;
  bool align_corners = false;
  bool any_rank = false;  // opset 20
};

Result<GridSampleConfig> ParseGridSample(const Node& node) {
  GridSampleConfig config;
  config.any_rank = node.opset >= 20;
  const std::string mode = node.GetString("mode", config.any_rank ? "linear" : "bilinear");
  if (mode == "nearest") {
    config.mode = SampleMode::kNearest;
  } else if (mode == (config.any_rank ? "linear" : "bilinear")) {
    config.mode = SampleMode::kLinear;
  } else if (mode == (config.any_rank ? "cubic" : "bicubic")) {
    config.mode = SampleMode::kCubic;
  } else {
    return core::InvalidArgument("mode '{}' is not valid for GridSample at opset {}", mode, node.opset);
  }
  const std::string padding = node.GetString("padding_mode", "zeros");
  if (padding == "zeros") {
    config.padding = Padding::kZeros;
  } else if (padding == "border") {
    config.padding = Padding::kBorder;
  } else if (padding == "reflection") {
    config.padding = Padding::kReflection;
  } else {
    return core::InvalidArgument("padding_mode '{}' is not one of zeros, border, reflection", padding);
  }
  config.align_corners = node.GetInt("align_corners", 0) != 0;
  return config;
}

// Reflects x into [low, high] (repeatedly, by the nearer border).
double Reflect(double x, double low, double high) {
  const double range = high - low;
  if (range <= 0) return low;
  if (x < low) {
    const double distance = low - x;
    const double wraps = std::floor(distance / range);
    const double rest = distance - wraps * range;
    return std::fmod(wraps, 2.0) == 0 ? low + rest : high - rest;
  }
  if (x > high) {
    const double distance = x - high;
    const double wraps = std::floor(distance / range);
    const double rest = distance - wraps * range;
    return std::fmod(wraps, 2.0) == 0 ? high - rest : low + rest;
  }
  return x;
}

double CubicWeight(double distance) {
  constexpr double a = -0.75;
  const double x = std::fabs(distance);
  if (x <= 1.0) return ((a + 2) * x - (a + 3)) * x * x + 1;
  if (x < 2.0) return ((a * x - 5 * a) * x + 8 * a) * x - 4 * a;
  return 0.0;
}

// One spatial axis: the taps for a coordinate.
struct AxisTaps {
  int count = 0;
  int64_t index[4];  // -1: outside with zero padding
  double weight[4];
};

class AxisSampler {
 public:
  AxisSampler(int64_t size, const GridSampleConfig& config, int spatial_rank)
      : size_(size), config_(config), spatial_rank_(spatial_rank) {
    low_ = config.align_corners ? 0.0 : -0.5;
    high_ = config.align_corners ? static_cast<double>(size) - 1 : static_cast<double>(size) - 0.5;
  }

  AxisTaps Taps(double normalized) const {
    const double n = static_cast<double>(size_);
    double x = config_.align_corners ? (normalized + 1) / 2 * (n - 1) : ((normalized + 1) * n - 1) / 2;
    if (config_.mode == SampleMode::kNearest) {
      // PyTorch rounds half to even in 2-D and away from zero in 3-D.
      x = spatial_rank_ == 3 ? std::round(x) : std::nearbyint(x);
    }
    if (!(x >= low_ && x <= high_)) {
      if (config_.padding == Padding::kBorder) {
        x = std::clamp(x, 0.0, n - 1);
      } else if (config_.padding == Padding::kReflection) {
        x = Reflect(x, low_, high_);
      }
    }
    AxisTaps taps;
    if (!std::isfinite(x)) {  // NaN grid entries sample nothing
      taps.count = 1;
      taps.index[0] = Pixel(0, true);
      taps.weight[0] = 0;
      return taps;
    }
    // Beyond this every (cubic) tap is outside anyway; keeps the integer
    // conversions defined for huge grid values.
    x = std::clamp(x, -4.0, n + 3.0);
    const double base = std::floor(x);
    const double t = x - base;
    const int64_t i0 = static_cast<int64_t>(base);
    switch (config_.mode) {
      case SampleMode::kNearest:
        taps.count = 1;
        taps.index[0] = Pixel(static_cast<int64_t>(x), false);
        taps.weight[0] = 1;
        break;
      case SampleMode::kLinear:
        taps.count = 2;
        taps.index[0] = Pixel(i0, false);
        taps.index[1] = Pixel(i0 + 1, false);
        taps.weight[0] = 1 - t;
        taps.weight[1] = t;
        break;
      case SampleMode::kCubic:
        taps.count = 4;
        for (int k = 0; k < 4; ++k) {
          taps.index[k] = Pixel(i0 - 1 + k, false);
          taps.weight[k] = CubicWeight(t + 1 - k);
        }
        break;
    }
    return taps;
  }

 private:
  // Applies the padding rule to an integer tap position.
  int64_t Pixel(int64_t i, bool force_outside) const {
    if (force_outside || i < 0 || i >= size_) {
      switch (config_.padding) {
        case Padding::kZeros:
          return -1;
        case Padding::kBorder:
          return std::clamp<int64_t>(i, 0, size_ - 1);
        case Padding::kReflection:
          return std::clamp<int64_t>(static_cast<int64_t>(Reflect(static_cast<double>(i), low_, high_)), 0, size_ - 1);
      }
    }
    return i;
  }

  int64_t size_;
  const GridSampleConfig& config_;
  int spatial_rank_;
  double low_ = 0;
  double high_ = 0;
};

template <typename T>
void Sample(const Tensor& x, const double* grid, Tensor& y, const GridSampleConfig& config) {
  using C = std::conditional_t<std::is_same_v<T, double>, double, float>;
  const int spatial_rank = static_cast<int>(x.rank() - 2);
  const int64_t batch = x.dim(0);
  const int64_t channels = x.dim(1);
  const int64_t in_spatial = core::ElementCount(std::span<const int64_t>(x.shape()).subspan(2));
  const int64_t out_spatial = core::ElementCount(std::span<const int64_t>(y.shape()).subspan(2));
  const std::vector<int64_t> in_strides = core::RowMajorStrides(std::span<const int64_t>(x.shape()).subspan(2));
  std::vector<AxisSampler> samplers;
  for (int d = 0; d < spatial_rank; ++d) samplers.emplace_back(x.dim(2 + d), config, spatial_rank);
  const T* src = x.data<T>();
  T* dst = y.data<T>();
  const int64_t points = batch * out_spatial;
  const int64_t taps_per_axis = config.mode == SampleMode::kCubic ? 4 : config.mode == SampleMode::kLinear ? 2 : 1;
  int64_t max_taps = 1;
  for (int d = 0; d < spatial_rank; ++d) max_taps *= taps_per_axis;
  core::ParallelFor(points, std::max<int64_t>(1, 4096 / std::max<int64_t>(channels * max_taps, 1)),
                    [&](int64_t begin, int64_t end) {
                      std::vector<int64_t> offsets(static_cast<size_t>(max_taps));
                      std::vector<C> weights(static_cast<size_t>(max_taps));
                      std::vector<AxisTaps> axis_taps(static_cast<size_t>(spatial_rank));
                      std::vector<int> position(static_cast<size_t>(spatial_rank));
                      for (int64_t point = begin; point < end; ++point) {
                        const int64_t n = point / out_spatial;
                        const int64_t p = point % out_spatial;
                        // The grid's last axis lists coordinates innermost axis first.
                        const double* coordinates = grid + point * spatial_rank;
                        for (int d = 0; d < spatial_rank; ++d) {
                          axis_taps[d] = samplers[d].Taps(coordinates[spatial_rank - 1 - d]);
                        }
                        // Tensor product of the per-axis taps, dropping zero-padded ones.
                        int64_t count = 0;
                        std::fill(position.begin(), position.end(), 0);
                        while (true) {
                          int64_t offset = 0;
                          double weight = 1;
                          bool inside = true;
                          for (int d = 0; d < spatial_rank; ++d) {
                            const int64_t index = axis_taps[d].index[position[d]];
                            if (index < 0) inside = false;
                            offset += index * in_strides[d];
                            weight *= axis_taps[d].weight[position[d]];
                          }
                          if (inside && weight != 0) {
                            offsets[count] = offset;
                            weights[count] = static_cast<C>(weight);
                            ++count;
                          }
                          int d = spatial_rank - 1;
                          for (; d >= 0; --d) {
                            if (++position[d] < axis_taps[d].count) break;
                            position[d] = 0;
                          }
                          if (d < 0) break;
                        }
                        const T* image = src + n * channels * in_spatial;
                        T* out = dst + n * channels * out_spatial + p;
                        for (int64_t c = 0; c < channels; ++c) {
                          const T* plane = image + c * in_spatial;
                          C sum = 0;
                          for (int64_t k = 0; k < count; ++k) sum += weights[k] * LoadAs<C>(plane[offsets[k]]);
                          out[c * out_spatial] = resize::StoreResult<T>(sum);
                        }
                      }
                    });
}

Status InferGridSample(InferenceContext& context) {
  const DataType dtype = InputDtype(context, 0);
  const ValueType& x = context.input_type(0);
  const ValueType& grid = context.input_type(1);
  if (!x.is_tensor() || !x.has_shape || !grid.is_tensor() || !grid.has_shape || x.dims.size() < 3 ||
      grid.dims.size() != x.dims.size()) {
    SetUnknownShape(context, 0, dtype);
    return Status::Ok();
  }
  TensorShape out;
  out.push_back(x.dims[0].known() ? x.dims[0].value : grid.dims[0].value);
  out.push_back(x.dims[1].value);
  for (size_t d = 1; d + 1 < grid.dims.size(); ++d) out.push_back(grid.dims[d].value);
  context.set_output_type(0, ValueType::TensorFromShape(dtype, out));
  return Status::Ok();
}

class GridSampleKernel : public Kernel {
 public:
  explicit GridSampleKernel(GridSampleConfig config) : config_(config) {}

  Status Compute(KernelContext& context) const override {
    ASSIGN_OR_RETURN(const Tensor* x, RequireTensor(context, 0, "X"));
    ASSIGN_OR_RETURN(const Tensor* grid, RequireTensor(context, 1, "grid"));
    const int64_t rank = x->rank();
    if (rank < 3 || (!config_.any_rank && rank != 4)) {
      return core::InvalidArgument("X must be {}, got shape {}", config_.any_rank ? "[N, C, spatial...]" : "4-D",
                                   core::ShapeToString(x->shape()));
    }
    if (grid->rank() != rank || grid->dim(0) != x->dim(0) || grid->dim(rank - 1) != rank - 2) {
      return core::InvalidArgument("grid of shape {} does not match X of shape {} (expected [{}, ..., {}])",
                                   core::ShapeToString(grid->shape()), core::ShapeToString(x->shape()), x->dim(0),
                                   rank - 2);
    }
    if (!core::IsFloatingPoint(grid->dtype())) {
      return core::InvalidArgument("grid must be float, got {}", core::DataTypeName(grid->dtype()));
    }
    TensorShape out_shape = {x->dim(0), x->dim(1)};
    for (int64_t d = 1; d + 1 < rank; ++d) out_shape.push_back(grid->dim(d));
    ASSIGN_OR_RETURN(Tensor * y, context.AllocateOutput(0, x->dtype(), out_shape));
    if (y->element_count() == 0) return Status::Ok();
    for (int64_t d = 2; d < rank; ++d) {
      if (x->dim(d) == 0)
        return core::InvalidArgument("cannot sample from X of shape {}", core::ShapeToString(x->shape()));
    }
    // The grid is read once per position: convert it up front.
    ASSIGN_OR_RETURN(Tensor grid_values, Tensor::Create(DataType::kFloat64, grid->shape(), context.allocator()));
    double* coordinates = grid_values.data<double>();
    core::VisitFloatType(grid->dtype(), [&]<typename G>() {
      if constexpr (!std::is_void_v<G>) {
        const G* values = grid->data<G>();
        for (int64_t i = 0; i < grid->element_count(); ++i) coordinates[i] = LoadAs<double>(values[i]);
      }
    });
    bool supported = core::VisitNumericType(x->dtype(), [&]<typename T>() -> bool {
      if constexpr (std::is_void_v<T>) {
        return false;
      } else {
        Sample<T>(*x, coordinates, *y, config_);
        return true;
      }
    });
    if (!supported) return core::Unimplemented("type {} is not supported", core::DataTypeName(x->dtype()));
    return Status::Ok();
  }

 private:
  GridSampleConfig config_;
};

}  // namespace

void RegisterGridSampleKernels(OpRegistry& registry) {
  registry.Register("", "GridSample", {16, 20}, InferGridSample,
                    [](KernelBuildContext& build) -> Result<std::unique_ptr<Kernel>> {
                      ASSIGN_OR_RETURN(GridSampleConfig config, ParseGridSample(build.node()));
                      return std::unique_ptr<Kernel>(std::make_unique<GridSampleKernel>(config));
                    });
}

}  // namespace berth::engine
