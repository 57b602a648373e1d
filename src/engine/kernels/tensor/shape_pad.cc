// Pad: constant, edge, reflect and wrap modes, with negative pads cropping.
// Pads are attributes before opset 11 ('paddings' in opset 1), inputs from
// 11, and may name a subset of axes from 18.
//
// Each output axis gets a map from output index to source index (or "pad
// value"); rows of the output are then filled from runs of that map, so the
// interior is copied in blocks whatever the mode.
#include "engine/kernels/builtin_kernels.h"
#include "engine/kernels/tensor/shape_util.h"
#include "engine/ops/op_registry.h"

namespace berth::engine {
namespace {

using core::DataType;
using core::Result;
using core::Status;
using core::Tensor;
using core::TensorShape;

enum class PadMode { kConstant, kReflect, kEdge, kWrap };

Result<PadMode> ParsePadMode(const Node& node) {
  const std::string mode = node.GetString("mode", "constant");
  if (mode == "constant") return PadMode::kConstant;
  if (mode == "reflect") return PadMode::kReflect;
  if (mode == "edge") return PadMode::kEdge;
  if (mode == "wrap") return PadMode::kWrap;
  return core::InvalidArgument("mode '{}' is not constant, reflect, edge or wrap", mode);
}

const char* PadModeName(PadMode mode) {
  switch (mode) {
    case PadMode::kConstant:
      return "constant";
    case PadMode::kReflect:
      return "reflect";
    case PadMode::kEdge:
      return "edge";
    case PadMode::kWrap:
      return "wrap";
  }
  return "?";
}

// Pads in the attribute forms (opset < 11): 'paddings' (1) or 'pads' (2..10).
std::optional<std::vector<int64_t>> AttributePads(const Node& node, int opset) {
  if (opset >= 11) return std::nullopt;
  const char* name = opset < 2 ? "paddings" : "pads";
  if (!node.HasAttribute(name)) return std::nullopt;
  return node.GetInts(name);
}

// Full [begin..., end...] pads for a rank-`rank` input from pads given for
// `axes` (all axes when absent).
Result<std::vector<int64_t>> ExpandPads(std::span<const int64_t> pads, const std::optional<std::vector<int64_t>>& axes,
                                        int64_t rank) {
  if (!axes) {
    if (static_cast<int64_t>(pads.size()) != 2 * rank) {
      return core::InvalidArgument("pads has {} values; an input of rank {} needs {}", pads.size(), rank, 2 * rank);
    }
    return std::vector<int64_t>(pads.begin(), pads.end());
  }
  ASSIGN_OR_RETURN(std::vector<int64_t> normalized, NormalizeAxisList(*axes, rank, "axes"));
  const size_t n = normalized.size();
  if (pads.size() != 2 * n) {
    return core::InvalidArgument("pads has {} values for {} axes; needs {}", pads.size(), n, 2 * n);
  }
  std::vector<int64_t> full(static_cast<size_t>(2 * rank), 0);
  for (size_t i = 0; i < n; ++i) {
    full[normalized[i]] = pads[i];
    full[normalized[i] + rank] = pads[i + n];
  }
  return full;
}

// Output extent of an axis of extent `dim` padded by (begin, end); -1 when
// `dim` is unknown.
Result<int64_t> PaddedDim(int64_t dim, int64_t begin, int64_t end) {
  if (dim < 0) return int64_t{-1};
  if (dim > core::kMaxTensorBytes) return core::InvalidArgument("dimension {} is too large", dim);
  // Bounding each pad first keeps every sum below (and the crop math) exact.
  if (begin > core::kMaxTensorBytes || end > core::kMaxTensorBytes) {
    return core::InvalidArgument("pads ({}, {}) are too large", begin, end);
  }
  const int64_t out = dim + std::max<int64_t>(begin, -dim - 1) + std::max<int64_t>(end, -dim - 1);
  if (begin < -dim || end < -dim || out < 0) {
    return core::InvalidArgument("pads ({}, {}) remove more than dimension {}", begin, end, dim);
  }
  return out;
}

Status InferPad(InferenceContext& context) {
  const DataType dtype = InputDtype(context, 0);
  auto input = InputDims(context, 0);
  if (!input) {
    SetUnknownShape(context, 0, dtype);
    return Status::Ok();
  }
  const int64_t rank = static_cast<int64_t>(input->size());
  std::optional<std::vector<int64_t>> pads = AttributePads(context.node(), context.opset());
  std::optional<std::vector<int64_t>> axes;
  if (context.opset() >= 11) {
    pads = ConstantInt64s(context, 1);
    if (context.opset() >= 18 && context.has_input(3)) {
      axes = ConstantInt64s(context, 3);
      if (!axes) pads.reset();
    }
  }
  if (!pads) {
    context.set_output_type(0, ValueType::TensorOfRank(dtype, rank));
    return Status::Ok();
  }
  ASSIGN_OR_RETURN(std::vector<int64_t> full, ExpandPads(*pads, axes, rank));
  std::vector<Dimension> dims = *input;
  for (int64_t a = 0; a < rank; ++a) {
    if (full[a] == 0 && full[a + rank] == 0) continue;  // keeps its symbol
    ASSIGN_OR_RETURN(int64_t dim, PaddedDim(dims[a].known() ? dims[a].value : -1, full[a], full[a + rank]));
    dims[a] = KnownDim(dim);
  }
  context.set_output_type(0, ValueType::Tensor(dtype, std::move(dims)));
  return Status::Ok();
}

// Source index in [0, dim) for output index `i` of an axis padded by
// `begin`, or -1 for the pad value. Negative pads crop first; edge, reflect
// and wrap then read from the cropped range [low, low + kept).
int64_t SourceIndex(int64_t i, int64_t begin, int64_t low, int64_t kept, PadMode mode) {
  int64_t j = i - std::max<int64_t>(begin, 0);
  if (j >= 0 && j < kept) return low + j;
  switch (mode) {
    case PadMode::kConstant:
      return -1;
    case PadMode::kEdge:
      j = std::clamp<int64_t>(j, 0, kept - 1);
      break;
    case PadMode::kReflect:
      if (kept == 1) {
        j = 0;
      } else {
        // Reflection without repeating the edge has period 2 * (kept - 1).
        const int64_t period = 2 * (kept - 1);
        j = ((j % period) + period) % period;
        if (j >= kept) j = period - j;
      }
      break;
    case PadMode::kWrap:
      j = ((j % kept) + kept) % kept;
      break;
  }
  return low + j;
}

// Copies runs of one output row: `map` is the innermost axis's source map.
struct RowRun {
  int64_t out_begin;
  int64_t length;
  int64_t source;  // first source index, or -1 for the pad value
};

std::vector<RowRun> RowRuns(const std::vector<int64_t>& map) {
  std::vector<RowRun> runs;
  for (int64_t i = 0; i < static_cast<int64_t>(map.size()); ++i) {
    if (!runs.empty()) {
      RowRun& last = runs.back();
      const bool extends = last.source < 0 ? map[i] < 0 : map[i] == last.source + last.length;
      if (extends) {
        ++last.length;
        continue;
      }
    }
    runs.push_back({i, 1, map[i]});
  }
  return runs;
}

template <typename T>
void PadRows(const T* src, T* dst, const TensorShape& in_shape, const TensorShape& out_shape,
             const std::vector<std::vector<int64_t>>& maps, const T& value) {
  const size_t rank = out_shape.size();
  const std::vector<int64_t> strides = core::RowMajorStrides(in_shape);
  const int64_t inner = out_shape[rank - 1];
  const int64_t rows = core::ElementCount(out_shape) / inner;
  const std::vector<RowRun> runs = RowRuns(maps[rank - 1]);
  core::ParallelFor(rows, std::max<int64_t>(1, 16384 / inner), [&](int64_t begin, int64_t end) {
    std::vector<int64_t> index(rank, 0);
    int64_t rest = begin;
    for (size_t a = rank - 1; a-- > 0;) {
      index[a] = rest % out_shape[a];
      rest /= out_shape[a];
    }
    for (int64_t row = begin; row < end; ++row) {
      T* out = dst + row * inner;
      int64_t offset = 0;
      bool padding = false;
      for (size_t a = 0; a + 1 < rank; ++a) {
        const int64_t source = maps[a][index[a]];
        if (source < 0) {
          padding = true;
          break;
        }
        offset += source * strides[a];
      }
      if (padding) {
        std::fill_n(out, inner, value);
      } else {
        for (const RowRun& run : runs) {
          if (run.source < 0) {
            std::fill_n(out + run.out_begin, run.length, value);
          } else {
            std::copy_n(src + offset + run.source, run.length, out + run.out_begin);
          }
        }
      }
      for (size_t a = rank - 1; a-- > 0;) {
        if (++index[a] < out_shape[a]) break;
        index[a] = 0;
      }
    }
  });
}

struct PadParams {
  PadMode mode = PadMode::kConstant;
  std::optional<std::vector<int64_t>> pads;  // attribute form (< 11)
  float value = 0.0f;                        // attribute form (< 11)
};

// The pad value as a scalar of the data's type.
Result<Tensor> PadValue(const PadParams& params, const Tensor& data, const Tensor* constant_value) {
  if (constant_value) {
    if (constant_value->dtype() != data.dtype()) {
      return core::InvalidArgument("constant_value is {} but data is {}", core::DataTypeName(constant_value->dtype()),
                                   core::DataTypeName(data.dtype()));
    }
    if (constant_value->element_count() != 1) {
      return core::InvalidArgument("constant_value must hold one value, got shape {}",
                                   core::ShapeToString(constant_value->shape()));
    }
    return *constant_value;
  }
  ASSIGN_OR_RETURN(Tensor value, Tensor::CreateZeroed(data.dtype(), {}));
  if (params.value != 0.0f) {
    core::VisitNumericOrBoolType(data.dtype(), [&]<typename T>() {
      if constexpr (!std::is_void_v<T>) value.data<T>()[0] = ConvertElement<T>(params.value);
    });
  }
  return value;
}

Result<std::unique_ptr<Kernel>> CreatePad(KernelBuildContext& build) {
  PadParams params;
  ASSIGN_OR_RETURN(params.mode, ParsePadMode(build.node()));
  const int opset = build.opset();
  if (opset < 11) {
    params.pads = AttributePads(build.node(), opset);
    if (!params.pads) return core::InvalidArgument("Pad needs a '{}' attribute", opset < 2 ? "paddings" : "pads");
    params.value = build.node().GetFloat("value", 0.0f);
  }
  return MakeFunctionKernel([params, opset](KernelContext& context) -> Status {
    ASSIGN_OR_RETURN(const Tensor* data, RequireTensor(context, 0, "data"));
    std::vector<int64_t> pads;
    std::optional<std::vector<int64_t>> axes;
    const Tensor* constant_value = nullptr;
    if (params.pads) {
      pads = *params.pads;
    } else {
      ASSIGN_OR_RETURN(const Tensor* pads_input, RequireTensor(context, 1, "pads"));
      ASSIGN_OR_RETURN(pads, ReadShapeInput(*pads_input, "pads"));
      constant_value = context.input_tensor(2);
      if (opset >= 18) {
        if (const Tensor* axes_input = context.input_tensor(3)) {
          ASSIGN_OR_RETURN(axes, ReadShapeInput(*axes_input, "axes"));
        }
      }
    }
    const int64_t rank = data->rank();
    ASSIGN_OR_RETURN(std::vector<int64_t> full, ExpandPads(pads, axes, rank));
    TensorShape shape(static_cast<size_t>(rank));
    std::vector<std::vector<int64_t>> maps(static_cast<size_t>(rank));
    for (int64_t a = 0; a < rank; ++a) {
      const int64_t dim = data->dim(a);
      const int64_t begin = full[a];
      const int64_t end = full[a + rank];
      ASSIGN_OR_RETURN(shape[a], PaddedDim(dim, begin, end));
      const int64_t low = std::max<int64_t>(-begin, 0);
      const int64_t kept = std::max<int64_t>(dim - low - std::max<int64_t>(-end, 0), 0);
      if (kept == 0 && params.mode != PadMode::kConstant && shape[a] > 0) {
        return core::InvalidArgument("{} padding needs a non-empty axis {} (size {} after cropping)",
                                     PadModeName(params.mode), a, kept);
      }
    }
    RETURN_IF_ERROR(core::CheckedElementCount(shape, std::max<size_t>(data->element_size(), 1)).status());
    for (int64_t a = 0; a < rank; ++a) {
      const int64_t begin = full[a];
      const int64_t low = std::max<int64_t>(-begin, 0);
      const int64_t kept = std::max<int64_t>(data->dim(a) - low - std::max<int64_t>(-full[a + rank], 0), 0);
      maps[a].resize(static_cast<size_t>(shape[a]));
      for (int64_t i = 0; i < shape[a]; ++i) maps[a][i] = SourceIndex(i, begin, low, kept, params.mode);
    }
    ASSIGN_OR_RETURN(Tensor value, PadValue(params, *data, constant_value));
    ASSIGN_OR_RETURN(Tensor * out, context.AllocateOutput(0, data->dtype(), shape));
    if (out->element_count() == 0) return Status::Ok();
    if (rank == 0) return CopyStridedView(data->dtype(), data->raw_data(), out->raw_data(), {});
    return ForStorageType(data->dtype(), [&]<typename T>() {
      const T fill = LoadElement<T>(value.raw_data());
      PadRows(data->data<T>(), out->data<T>(), data->shape(), shape, maps, fill);
    });
  });
}

}  // namespace

void RegisterShapePadKernels(OpRegistry& registry) {
  registry.Register("", "Pad", {1, 2, 11, 13, 18, 19, 21}, InferPad, CreatePad);
}

}  // namespace berth::engine
