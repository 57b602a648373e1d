#include "engine/kernels/resize/resize_interpolate.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "core/parallel.h"
#include "engine/kernels/common/kernel_util.h"

namespace berth::engine::resize {
namespace {

using core::Result;
using core::Status;
using core::Tensor;

// For every output position along one axis: `taps` source indices (already
// clamped to the input) and their weights.
struct AxisTable {
  int64_t in_size = 1;
  int64_t out_size = 1;
  int taps = 1;
  std::vector<int64_t> index;    // out_size * taps
  std::vector<double> weight;    // out_size * taps
  std::vector<uint8_t> outside;  // tf_crop_and_resize: position takes extrapolation_value
  bool identity = false;         // output j is input j
};

double OriginalCoordinate(const AxisResize& axis, CoordinateMode mode, int64_t x) {
  const double in = static_cast<double>(axis.in_size);
  // The ONNX reference measures the resized length as scale * input length,
  // which differs from out_size when floor() dropped a fraction.
  const double resized = axis.scale * in;
  const double xd = static_cast<double>(x);
  switch (mode) {
    case CoordinateMode::kHalfPixel:
      return (xd + 0.5) / axis.scale - 0.5;
    case CoordinateMode::kHalfPixelSymmetric: {
      const double adjustment = static_cast<double>(axis.out_size) / resized;
      const double offset = in / 2 * (1 - adjustment);
      return offset + (xd + 0.5) / axis.scale - 0.5;
    }
    case CoordinateMode::kPytorchHalfPixel:
      return resized > 1.0 ? (xd + 0.5) / axis.scale - 0.5 : -0.5;
    case CoordinateMode::kAlignCorners:
      return resized == 1.0 ? 0.0 : xd * (in - 1) / (resized - 1);
    case CoordinateMode::kAsymmetric:
      return xd / axis.scale;
    case CoordinateMode::kTfHalfPixelForNn:
      return (xd + 0.5) / axis.scale;
    case CoordinateMode::kTfCropAndResize: {
      const double start = axis.roi_start * (in - 1);
      if (resized == 1.0) return start + (axis.roi_end - axis.roi_start) * (in - 1) / 2;
      return start + xd * (axis.roi_end - axis.roi_start) * (in - 1) / (resized - 1);
    }
  }
  return xd;
}

int64_t Clamp(int64_t index, int64_t size) { return std::clamp<int64_t>(index, 0, size - 1); }

int64_t NearestIndex(double x, NearestMode mode, double scale) {
  const double base = std::floor(x);
  const double ratio = x - base;
  const int64_t floor_index = static_cast<int64_t>(base);
  if (ratio == 0.0) return floor_index;
  switch (mode) {
    case NearestMode::kRoundPreferFloor:
      return ratio <= 0.5 ? floor_index : floor_index + 1;
    case NearestMode::kRoundPreferCeil:
      return ratio < 0.5 ? floor_index : floor_index + 1;
    case NearestMode::kFloor:
      return floor_index;
    case NearestMode::kCeil:
      return floor_index + 1;
    case NearestMode::kSimple:
      return scale < 1.0 ? floor_index + 1 : floor_index;
  }
  return floor_index;
}

double CubicWeight(double distance, double a) {
  const double x = std::fabs(distance);
  if (x <= 1.0) return ((a + 2) * x - (a + 3)) * x * x + 1;
  if (x < 2.0) return ((a * x - 5 * a) * x + 8 * a) * x - 4 * a;
  return 0.0;
}

AxisTable BuildTable(const AxisResize& axis, const Settings& settings) {
  AxisTable table;
  table.in_size = axis.in_size;
  table.out_size = axis.out_size;
  const bool crop = settings.coordinate_mode == CoordinateMode::kTfCropAndResize;
  if (crop) table.outside.assign(static_cast<size_t>(axis.out_size), 0);

  // Antialiasing widens the kernel by 1/scale when downsampling.
  const double support_scale = settings.antialias ? std::min(axis.scale, 1.0) : 1.0;
  int64_t first_tap = 0;  // offset of tap 0 from floor(x)
  switch (settings.mode) {
    case Mode::kNearest:
      table.taps = 1;
      break;
    case Mode::kLinear:
      first_tap = static_cast<int64_t>(std::floor(-1.0 / support_scale)) + 1;
      table.taps = static_cast<int>(2 - 2 * first_tap);
      break;
    case Mode::kCubic:
      first_tap = static_cast<int64_t>(std::floor(-2.0 / support_scale)) + 1;
      table.taps = static_cast<int>(2 - 2 * first_tap);
      break;
  }
  const size_t taps = static_cast<size_t>(table.taps);
  table.index.resize(static_cast<size_t>(axis.out_size) * taps);
  table.weight.resize(static_cast<size_t>(axis.out_size) * taps);
  std::vector<double> w(taps);
  // Far outside the input every tap clamps to the same edge; bounding x
  // keeps the integer conversions below defined for any roi.
  const double limit = 2.0 * static_cast<double>(axis.in_size) + static_cast<double>(taps) + 8.0;
  for (int64_t j = 0; j < axis.out_size; ++j) {
    const double x = std::clamp(OriginalCoordinate(axis, settings.coordinate_mode, j), -limit, limit);
    int64_t* index = table.index.data() + j * taps;
    double* weight = table.weight.data() + j * taps;
    if (crop && (x < 0 || x > static_cast<double>(axis.in_size - 1))) table.outside[j] = 1;
    if (settings.mode == Mode::kNearest) {
      index[0] = Clamp(NearestIndex(x, settings.nearest_mode, axis.scale), axis.in_size);
      weight[0] = 1.0;
      continue;
    }
    const double base = std::floor(x);
    const double ratio = x - base;
    const int64_t base_index = static_cast<int64_t>(base);
    double sum = 0;
    for (size_t t = 0; t < taps; ++t) {
      const double distance = (static_cast<double>(first_tap) + static_cast<double>(t) - ratio) * support_scale;
      w[t] = settings.mode == Mode::kLinear ? std::max(0.0, 1.0 - std::fabs(distance))
                                            : CubicWeight(distance, settings.cubic_coeff_a);
      sum += w[t];
    }
    if (settings.antialias && sum != 0) {
      for (double& value : w) value /= sum;
    }
    if (settings.exclude_outside) {
      sum = 0;
      for (size_t t = 0; t < taps; ++t) {
        const int64_t source = base_index + first_tap + static_cast<int64_t>(t);
        if (source < 0 || source >= axis.in_size) w[t] = 0;
        sum += w[t];
      }
      if (sum != 0) {
        for (double& value : w) value /= sum;
      }
    }
    for (size_t t = 0; t < taps; ++t) {
      index[t] = Clamp(base_index + first_tap + static_cast<int64_t>(t), axis.in_size);
      weight[t] = w[t];
    }
  }

  // An axis whose every output copies the same input position is skipped.
  if (axis.in_size == axis.out_size && !crop) {
    bool identity = true;
    for (int64_t j = 0; j < axis.out_size && identity; ++j) {
      double own = 0;
      for (size_t t = 0; t < taps; ++t) {
        const double weight = table.weight[j * taps + t];
        if (table.index[j * taps + t] == j) {
          own += weight;
        } else if (weight != 0) {
          identity = false;
        }
      }
      if (own != 1.0) identity = false;
    }
    table.identity = identity;
  }
  return table;
}

// One 1-D pass: src [outer, in, inner] -> dst [outer, out, inner], with the
// tap count fixed at compile time for the common kernels (0: table.taps).
template <int kTaps, typename C, typename In, typename Out>
void InterpolatePassTaps(const In* src, Out* dst, int64_t outer, int64_t inner, const AxisTable& table,
                         const std::vector<C>& weights) {
  const int64_t taps = kTaps > 0 ? kTaps : table.taps;
  const int64_t out_size = table.out_size;
  const int64_t rows = outer * out_size;
  core::ParallelFor(rows, std::max<int64_t>(1, 16384 / std::max<int64_t>(inner * taps, 1)),
                    [&](int64_t begin, int64_t end) {
                      // Rows of `inner` values accumulate in C; a final pass to a
                      // narrower type goes through this buffer.
                      std::vector<C> buffer;
                      if constexpr (!std::is_same_v<Out, C>) {
                        if (inner > 1) buffer.resize(static_cast<size_t>(inner));
                      }
                      int64_t o = begin / out_size;
                      int64_t j = begin % out_size;
                      for (int64_t row = begin; row < end; ++row) {
                        const int64_t* index = table.index.data() + j * taps;
                        const C* weight = weights.data() + j * taps;
                        const In* plane = src + o * table.in_size * inner;
                        Out* out = dst + row * inner;
                        if (inner == 1) {
                          C sum = 0;
                          for (int64_t t = 0; t < taps; ++t) sum += weight[t] * LoadAs<C>(plane[index[t]]);
                          out[0] = StoreResult<Out>(sum);
                        } else {
                          C* acc;
                          if constexpr (std::is_same_v<Out, C>) {
                            acc = out;
                          } else {
                            acc = buffer.data();
                          }
                          const In* first = plane + index[0] * inner;
                          for (int64_t i = 0; i < inner; ++i) acc[i] = weight[0] * LoadAs<C>(first[i]);
                          for (int64_t t = 1; t < taps; ++t) {
                            const C w = weight[t];
                            if (w == 0) continue;
                            const In* line = plane + index[t] * inner;
                            for (int64_t i = 0; i < inner; ++i) acc[i] += w * LoadAs<C>(line[i]);
                          }
                          if constexpr (!std::is_same_v<Out, C>) {
                            for (int64_t i = 0; i < inner; ++i) out[i] = StoreResult<Out>(acc[i]);
                          }
                        }
                        if (++j == out_size) {
                          j = 0;
                          ++o;
                        }
                      }
                    });
}

template <typename C, typename In, typename Out>
void InterpolatePass(const In* src, Out* dst, int64_t outer, int64_t inner, const AxisTable& table) {
  const std::vector<C> weights(table.weight.begin(), table.weight.end());
  switch (table.taps) {
    case 2:
      InterpolatePassTaps<2>(src, dst, outer, inner, table, weights);
      break;
    case 4:
      InterpolatePassTaps<4>(src, dst, outer, inner, table, weights);
      break;
    default:
      InterpolatePassTaps<0>(src, dst, outer, inner, table, weights);
      break;
  }
}

// Linear / cubic on type T, computing in C.
template <typename T, typename C>
Status InterpolateSeparable(const Tensor& x, Tensor& y, const std::vector<AxisTable>& tables,
                            core::Allocator& allocator) {
  const size_t rank = tables.size();
  std::vector<size_t> order;
  for (size_t a = 0; a < rank; ++a) {
    if (!tables[a].identity) order.push_back(a);
  }
  // Shrinking axes first keeps the intermediate tensors small. Among equal
  // ratios, the innermost axis (a gather per output, the slower pass) goes
  // where the data is smallest: first when enlarging, last when shrinking.
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    const int64_t left = tables[a].out_size * tables[b].in_size;
    const int64_t right = tables[b].out_size * tables[a].in_size;
    if (left != right) return left < right;
    return tables[a].out_size > tables[a].in_size ? a > b : a < b;
  });
  if (order.empty()) {
    const T* src = x.data<T>();
    T* dst = y.data<T>();
    for (int64_t i = 0; i < y.element_count(); ++i) dst[i] = src[i];
    return Status::Ok();
  }
  std::vector<int64_t> shape = x.shape();
  const core::DataType buffer_type = std::is_same_v<C, double> ? core::DataType::kFloat64 : core::DataType::kFloat32;
  Tensor buffers[2];
  const C* current = nullptr;  // nullptr: still reading x
  for (size_t step = 0; step < order.size(); ++step) {
    const size_t axis = order[step];
    int64_t outer = 1;
    int64_t inner = 1;
    for (size_t d = 0; d < axis; ++d) outer *= shape[d];
    for (size_t d = axis + 1; d < rank; ++d) inner *= shape[d];
    shape[axis] = tables[axis].out_size;
    const bool last = step + 1 == order.size();
    if (last) {
      if (current) {
        InterpolatePass<C>(current, y.data<T>(), outer, inner, tables[axis]);
      } else {
        InterpolatePass<C>(x.data<T>(), y.data<T>(), outer, inner, tables[axis]);
      }
      break;
    }
    Tensor& buffer = buffers[step % 2];
    ASSIGN_OR_RETURN(buffer, Tensor::Create(buffer_type, shape, allocator));
    if (current) {
      InterpolatePass<C>(current, buffer.data<C>(), outer, inner, tables[axis]);
    } else {
      InterpolatePass<C>(x.data<T>(), buffer.data<C>(), outer, inner, tables[axis]);
    }
    current = buffer.data<C>();
  }
  return Status::Ok();
}

// Nearest: y[j...] = x[index_0[j0], index_1[j1], ...]. Any element type.
template <typename T>
void GatherNearest(const Tensor& x, Tensor& y, const std::vector<AxisTable>& tables) {
  const size_t rank = tables.size();
  const T* src = x.data<T>();
  T* dst = y.data<T>();
  if (rank == 0) {
    dst[0] = src[0];
    return;
  }
  const std::vector<int64_t> in_strides = core::RowMajorStrides(x.shape());
  const AxisTable& last = tables[rank - 1];
  const int64_t width = last.out_size;
  const int64_t rows = y.element_count() / width;
  core::ParallelFor(rows, std::max<int64_t>(1, 16384 / std::max<int64_t>(width, 1)), [&](int64_t begin, int64_t end) {
    std::vector<int64_t> position(rank, 0);
    for (int64_t row = begin; row < end; ++row) {
      int64_t rest = row;
      int64_t offset = 0;
      for (size_t a = rank - 1; a-- > 0;) {
        const int64_t j = rest % tables[a].out_size;
        rest /= tables[a].out_size;
        offset += tables[a].index[j] * in_strides[a];
      }
      T* out = dst + row * width;
      const T* in = src + offset;
      for (int64_t j = 0; j < width; ++j) out[j] = in[last.index[j]];
    }
  });
}

// tf_crop_and_resize: positions outside the crop on any axis take the
// extrapolation value.
template <typename T>
void ApplyExtrapolation(Tensor& y, const std::vector<AxisTable>& tables, float value) {
  const size_t rank = tables.size();
  if (rank == 0) return;
  T fill;
  if constexpr (kIsHalf<T>) {
    fill = T(value);
  } else {
    fill = StoreResult<T>(static_cast<double>(value));
  }
  T* dst = y.data<T>();
  const AxisTable& last = tables[rank - 1];
  const int64_t width = last.out_size;
  const int64_t rows = y.element_count() / width;
  core::ParallelFor(rows, std::max<int64_t>(1, 16384 / std::max<int64_t>(width, 1)), [&](int64_t begin, int64_t end) {
    for (int64_t row = begin; row < end; ++row) {
      int64_t rest = row;
      bool row_outside = false;
      for (size_t a = rank - 1; a-- > 0;) {
        const int64_t j = rest % tables[a].out_size;
        rest /= tables[a].out_size;
        if (tables[a].outside[j]) row_outside = true;
      }
      T* out = dst + row * width;
      for (int64_t j = 0; j < width; ++j) {
        if (row_outside || last.outside[j]) out[j] = fill;
      }
    }
  });
}

}  // namespace

Status ResizeTensor(const Tensor& x, Tensor& y, const std::vector<AxisResize>& axes, const Settings& settings,
                    core::Allocator& allocator) {
  if (static_cast<int64_t>(axes.size()) != x.rank() || y.rank() != x.rank()) {
    return core::Internal("resize: {} axis descriptions for input {} / output {}", axes.size(),
                          core::ShapeToString(x.shape()), core::ShapeToString(y.shape()));
  }
  if (y.element_count() == 0) return Status::Ok();
  for (const AxisResize& axis : axes) {
    if (axis.in_size == 0) return core::InvalidArgument("cannot resize an axis of size 0 to size {}", axis.out_size);
  }
  std::vector<AxisTable> tables;
  tables.reserve(axes.size());
  for (const AxisResize& axis : axes) tables.push_back(BuildTable(axis, settings));
  const bool crop = settings.coordinate_mode == CoordinateMode::kTfCropAndResize;

  if (settings.mode == Mode::kNearest) {
    bool supported = core::VisitAnyType(x.dtype(), [&]<typename T>() -> bool {
      if constexpr (std::is_void_v<T>) {
        return false;
      } else {
        GatherNearest<T>(x, y, tables);
        if constexpr (!std::is_same_v<T, std::string>) {
          if (crop) ApplyExtrapolation<T>(y, tables, settings.extrapolation_value);
        }
        return true;
      }
    });
    if (!supported) return core::Unimplemented("Resize of type {} is not supported", core::DataTypeName(x.dtype()));
    return Status::Ok();
  }

  Status status =
      core::Unimplemented("{} interpolation of type {} is not supported",
                          settings.mode == Mode::kLinear ? "linear" : "cubic", core::DataTypeName(x.dtype()));
  core::VisitNumericType(x.dtype(), [&]<typename T>() {
    if constexpr (!std::is_void_v<T>) {
      using C = std::conditional_t<std::is_same_v<T, double>, double, float>;
      status = InterpolateSeparable<T, C>(x, y, tables, allocator);
      if (status.ok() && crop) ApplyExtrapolation<T>(y, tables, settings.extrapolation_value);
    }
  });
  return status;
}

}  // namespace berth::engine::resize
