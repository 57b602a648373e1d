#include "engine/kernels/convolution/conv_geometry.h"

#include <limits>

namespace berth::engine::conv {

using core::Result;
using core::Status;

namespace {

// Extents beyond this are rejected before any arithmetic that could overflow
// (products of a few of them stay far inside int64).
constexpr int64_t kMaxExtent = int64_t{1} << 31;

Status CheckPositive(const std::vector<int64_t>& values, const char* name) {
  for (int64_t v : values) {
    if (v <= 0 || v > kMaxExtent)
      return core::InvalidArgument("{} {} must be in [1, 2^31]", name, core::ShapeToString(values));
  }
  return Status::Ok();
}

Result<AutoPad> ParseAutoPad(const Node& node) {
  std::string value = node.GetString("auto_pad", "NOTSET");
  if (value == "NOTSET" || value.empty()) return AutoPad::kNotSet;
  if (value == "VALID") return AutoPad::kValid;
  if (value == "SAME_UPPER") return AutoPad::kSameUpper;
  if (value == "SAME_LOWER") return AutoPad::kSameLower;
  return core::InvalidArgument("auto_pad '{}' is not one of NOTSET, VALID, SAME_UPPER, SAME_LOWER", value);
}

// Floor division for possibly negative numerators (Python's //).
int64_t FloorDiv(int64_t a, int64_t b) {
  int64_t q = a / b;
  if ((a % b != 0) && ((a < 0) != (b < 0))) --q;
  return q;
}

// Fills a per-axis vector from an attribute (or a default) and checks its length.
Result<std::vector<int64_t>> PerAxis(const std::vector<int64_t>& values, size_t rank, int64_t fallback,
                                     const char* name) {
  if (values.empty()) return std::vector<int64_t>(rank, fallback);
  if (values.size() != rank) {
    return core::InvalidArgument("{} has {} values for {} spatial axes", name, values.size(), rank);
  }
  return values;
}

// The part of a window a forward and a transposed one resolve alike: rank,
// input and kernel extents, strides and dilations. Pads and output extents
// are left to the caller.
Result<Window> StartWindow(const WindowAttributes& attributes, std::span<const int64_t> input_spatial,
                           std::span<const int64_t> kernel) {
  Window window;
  window.rank = input_spatial.size();
  const size_t rank = window.rank;
  if (kernel.size() != rank) {
    return core::InvalidArgument("kernel has {} spatial axes but the input has {}", kernel.size(), rank);
  }
  window.input.assign(input_spatial.begin(), input_spatial.end());
  window.kernel.assign(kernel.begin(), kernel.end());
  ASSIGN_OR_RETURN(window.strides, PerAxis(attributes.strides, rank, 1, "strides"));
  ASSIGN_OR_RETURN(window.dilations, PerAxis(attributes.dilations, rank, 1, "dilations"));
  return window;
}

// Each kernel and input extent is -1 (unknown in inference) or in range:
// kernels in [1, 2^31], inputs in [0, 2^31].
Status CheckExtents(const Window& window) {
  for (size_t a = 0; a < window.rank; ++a) {
    if (window.kernel[a] == 0 || window.kernel[a] < -1 || window.kernel[a] > kMaxExtent) {
      return core::InvalidArgument("kernel extent {} on spatial axis {} must be in [1, 2^31]", window.kernel[a], a);
    }
    if (window.input[a] > kMaxExtent || window.input[a] < -1) {
      return core::InvalidArgument("input extent {} on spatial axis {} is out of range", window.input[a], a);
    }
  }
  return Status::Ok();
}

}  // namespace

Result<WindowAttributes> ParseWindowAttributes(const Node& node) {
  WindowAttributes attributes;
  ASSIGN_OR_RETURN(attributes.auto_pad, ParseAutoPad(node));
  attributes.kernel_shape = node.GetInts("kernel_shape");
  attributes.strides = node.GetInts("strides");
  attributes.dilations = node.GetInts("dilations");
  attributes.pads = node.GetInts("pads");
  attributes.ceil_mode = node.GetInt("ceil_mode", 0) != 0;
  RETURN_IF_ERROR(CheckPositive(attributes.kernel_shape, "kernel_shape"));
  RETURN_IF_ERROR(CheckPositive(attributes.strides, "strides"));
  RETURN_IF_ERROR(CheckPositive(attributes.dilations, "dilations"));
  if (attributes.pads.size() % 2 != 0) {
    return core::InvalidArgument("pads {} must have an even number of values (begins, then ends)",
                                 core::ShapeToString(attributes.pads));
  }
  for (int64_t p : attributes.pads) {
    if (p < 0 || p > kMaxExtent) {
      return core::InvalidArgument("pads {} must be in [0, 2^31]", core::ShapeToString(attributes.pads));
    }
  }
  // Lengths must agree with each other; agreement with the input rank is
  // checked when the window is resolved.
  size_t rank = 0;
  for (size_t n : {attributes.kernel_shape.size(), attributes.strides.size(), attributes.dilations.size(),
                   attributes.pads.size() / 2}) {
    if (n == 0) continue;
    if (rank != 0 && n != rank) {
      return core::InvalidArgument(
          "kernel_shape {}, strides {}, dilations {} and pads {} disagree on the number of spatial axes",
          core::ShapeToString(attributes.kernel_shape), core::ShapeToString(attributes.strides),
          core::ShapeToString(attributes.dilations), core::ShapeToString(attributes.pads));
    }
    rank = n;
  }
  return attributes;
}

Result<Window> ResolveWindow(const WindowAttributes& attributes, std::span<const int64_t> input_spatial,
                             std::span<const int64_t> kernel) {
  ASSIGN_OR_RETURN(Window window, StartWindow(attributes, input_spatial, kernel));
  const size_t rank = window.rank;
  std::vector<int64_t> pads;
  ASSIGN_OR_RETURN(pads, PerAxis(attributes.pads, 2 * rank, 0, "pads"));
  window.pad_begin.assign(pads.begin(), pads.begin() + rank);
  window.pad_end.assign(pads.begin() + rank, pads.end());
  window.output.assign(rank, -1);
  RETURN_IF_ERROR(CheckExtents(window));
  for (size_t a = 0; a < rank; ++a) {
    const int64_t in = window.input[a];
    const int64_t stride = window.strides[a];
    if (attributes.auto_pad == AutoPad::kValid) {
      window.pad_begin[a] = window.pad_end[a] = 0;
    }
    if (window.kernel[a] < 0) continue;  // unknown kernel: nothing more to know
    const int64_t extent = window.KernelExtent(a);
    if (attributes.auto_pad == AutoPad::kSameUpper || attributes.auto_pad == AutoPad::kSameLower) {
      if (in < 0) continue;
      const int64_t out = (in + stride - 1) / stride;
      const int64_t total = std::max<int64_t>(0, (out - 1) * stride + extent - in);
      const int64_t small = total / 2;
      window.pad_begin[a] = attributes.auto_pad == AutoPad::kSameUpper ? small : total - small;
      window.pad_end[a] = total - window.pad_begin[a];
    }
    if (in < 0) continue;
    const int64_t span = in + window.pad_begin[a] + window.pad_end[a] - extent;
    if (span < 0) {
      return core::InvalidArgument(
          "kernel extent {} on spatial axis {} exceeds the padded input extent {} (input {}, pads {}+{})", extent, a,
          in + window.pad_begin[a] + window.pad_end[a], in, window.pad_begin[a], window.pad_end[a]);
    }
    int64_t out = span / stride + 1;
    if (attributes.ceil_mode) {
      out = (span + stride - 1) / stride + 1;
      if ((out - 1) * stride >= in + window.pad_begin[a]) --out;
    }
    window.output[a] = out;
  }
  return window;
}

Result<TransposeAttributes> ParseTransposeAttributes(const Node& node) {
  TransposeAttributes attributes;
  ASSIGN_OR_RETURN(attributes.window, ParseWindowAttributes(node));
  if (attributes.window.ceil_mode) return core::InvalidArgument("ConvTranspose has no ceil_mode");
  attributes.output_padding = node.GetInts("output_padding");
  attributes.output_shape = node.GetInts("output_shape");
  for (int64_t p : attributes.output_padding) {
    if (p < 0 || p > kMaxExtent) {
      return core::InvalidArgument("output_padding {} must be in [0, 2^31]",
                                   core::ShapeToString(attributes.output_padding));
    }
  }
  for (int64_t d : attributes.output_shape) {
    if (d < 0 || d > kMaxExtent) {
      return core::InvalidArgument("output_shape {} must be in [0, 2^31]",
                                   core::ShapeToString(attributes.output_shape));
    }
  }
  return attributes;
}

Result<Window> ResolveTransposeWindow(const TransposeAttributes& attributes, std::span<const int64_t> input_spatial,
                                      std::span<const int64_t> kernel) {
  const WindowAttributes& common = attributes.window;
  ASSIGN_OR_RETURN(Window window, StartWindow(common, input_spatial, kernel));
  const size_t rank = window.rank;
  std::vector<int64_t> pads, output_padding;
  ASSIGN_OR_RETURN(pads, PerAxis(common.pads, 2 * rank, 0, "pads"));
  ASSIGN_OR_RETURN(output_padding, PerAxis(attributes.output_padding, rank, 0, "output_padding"));
  // output_shape may also be given with the batch and channel dims in front.
  std::vector<int64_t> wanted = attributes.output_shape;
  if (wanted.size() == rank + 2) wanted.erase(wanted.begin(), wanted.begin() + 2);
  if (!wanted.empty() && wanted.size() != rank) {
    return core::InvalidArgument("output_shape {} does not match {} spatial axes", core::ShapeToString(wanted), rank);
  }
  const bool same = common.auto_pad == AutoPad::kSameUpper || common.auto_pad == AutoPad::kSameLower;
  window.pad_begin.assign(rank, 0);
  window.pad_end.assign(rank, 0);
  window.output.assign(rank, -1);
  RETURN_IF_ERROR(CheckExtents(window));
  for (size_t a = 0; a < rank; ++a) {
    const int64_t in = window.input[a];
    const int64_t stride = window.strides[a];
    if (!wanted.empty() || same) {
      // Pads follow from the wanted output extent (the spec's equations,
      // with floor division so negative totals split like the reference).
      int64_t out = !wanted.empty() ? wanted[a] : (in < 0 ? -1 : in * stride);
      window.output[a] = out;
      if (in < 0 || window.kernel[a] < 0 || out < 0) continue;
      const int64_t total = stride * (in - 1) + output_padding[a] + window.KernelExtent(a) - out;
      const int64_t half = FloorDiv(total, 2);
      if (common.auto_pad == AutoPad::kSameUpper) {
        window.pad_begin[a] = half;
        window.pad_end[a] = total - half;
      } else {
        window.pad_begin[a] = total - half;
        window.pad_end[a] = half;
      }
      // Stored pad_end absorbs output_padding: out = (in-1)*s + extent - begin - end.
      window.pad_end[a] -= output_padding[a];
      continue;
    }
    if (common.auto_pad != AutoPad::kValid) {
      window.pad_begin[a] = pads[a];
      window.pad_end[a] = pads[a + rank];
    }
    window.pad_end[a] -= output_padding[a];
    if (in < 0 || window.kernel[a] < 0) continue;
    const int64_t out = stride * (in - 1) + window.KernelExtent(a) - window.pad_begin[a] - window.pad_end[a];
    if (out < 0) {
      return core::InvalidArgument("pads {} leave a negative output extent {} on spatial axis {}",
                                   core::ShapeToString(pads), out, a);
    }
    window.output[a] = out;
  }
  return window;
}

Result<std::vector<int64_t>> ConvKernelShape(const WindowAttributes& attributes,
                                             std::span<const int64_t> weight_shape) {
  if (weight_shape.size() < 2) {
    return core::InvalidArgument("weights have rank {}; expected at least 3 (M, C/group, kernel...)",
                                 weight_shape.size());
  }
  std::vector<int64_t> from_weights(weight_shape.begin() + 2, weight_shape.end());
  if (attributes.kernel_shape.empty()) return from_weights;
  if (attributes.kernel_shape.size() != from_weights.size()) {
    return core::InvalidArgument("kernel_shape {} does not match the weights' spatial dims {}",
                                 core::ShapeToString(attributes.kernel_shape), core::ShapeToString(from_weights));
  }
  for (size_t a = 0; a < from_weights.size(); ++a) {
    if (from_weights[a] >= 0 && from_weights[a] != attributes.kernel_shape[a]) {
      return core::InvalidArgument("kernel_shape {} does not match the weights' spatial dims {}",
                                   core::ShapeToString(attributes.kernel_shape), core::ShapeToString(from_weights));
    }
  }
  return attributes.kernel_shape;
}

}  // namespace berth::engine::conv
