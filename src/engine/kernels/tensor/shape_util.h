// Helpers shared by the shape and data-movement kernels (tensor_kernels.cc,
// shape_*.cc, gather_*.cc):
//   - dispatch on element *storage* (width, or std::string), so that ops that
//     only move elements are compiled once per width, not once per dtype;
//   - validated reading of shape-like and index inputs;
//   - a strided copy that the layout ops (Transpose, Slice, Expand, Tile,
//     DepthToSpace, ...) reduce to.
#pragma once

#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "engine/kernels/common/kernel_util.h"
#include "engine/ops/op_registry.h"

namespace berth::engine {

// A trivially copyable stand-in for 16-byte elements (complex128).
struct Bytes16 {
  uint64_t low;
  uint64_t high;
};

// Calls fn.template operator()<T>() where T is std::string for string tensors
// and an unsigned type of the element's width for every other dtype (moving
// bytes does not need to know what they mean); T is void when the dtype has
// no storage.
template <typename Fn>
auto VisitStorageType(core::DataType dtype, Fn&& fn) {
  if (dtype == core::DataType::kString) return fn.template operator()<std::string>();
  switch (core::DataTypeSize(dtype)) {
    case 1:
      return fn.template operator()<uint8_t>();
    case 2:
      return fn.template operator()<uint16_t>();
    case 4:
      return fn.template operator()<uint32_t>();
    case 8:
      return fn.template operator()<uint64_t>();
    case 16:
      return fn.template operator()<Bytes16>();
    default:
      return fn.template operator()<void>();
  }
}

// As VisitStorageType for a `fn` returning void; Unimplemented for dtypes
// without storage.
template <typename Fn>
core::Status ForStorageType(core::DataType dtype, Fn&& fn) {
  bool supported = VisitStorageType(dtype, [&]<typename T>() -> bool {
    if constexpr (std::is_void_v<T>) {
      return false;
    } else {
      fn.template operator()<T>();
      return true;
    }
  });
  if (!supported) return core::Unimplemented("element type {} is not supported", core::DataTypeName(dtype));
  return core::Status::Ok();
}

// Calls fn.template operator()<I>() with I = int32_t or int64_t for index
// tensors; InvalidArgument naming `what` for other dtypes.
template <typename Fn>
core::Status ForIndexType(core::DataType dtype, std::string_view what, Fn&& fn) {
  if (dtype == core::DataType::kInt64) {
    fn.template operator()<int64_t>();
  } else if (dtype == core::DataType::kInt32) {
    fn.template operator()<int32_t>();
  } else {
    return core::InvalidArgument("{} must be int32 or int64, got {}", what, core::DataTypeName(dtype));
  }
  return core::Status::Ok();
}

// The elements of a shape-like input (int32/int64 only: a float "shape" is a
// model error, not something to truncate).
core::Result<std::vector<int64_t>> ReadShapeInput(const core::Tensor& tensor, std::string_view what);
// A single integer from a scalar or one-element tensor.
core::Result<int64_t> ReadScalarInput(const core::Tensor& tensor, std::string_view what);

// Normalises possibly negative axes into [0, rank); rejects out-of-range and
// repeated axes. `what` names the attribute or input in messages.
core::Result<std::vector<int64_t>> NormalizeAxisList(std::span<const int64_t> axes, int64_t rank,
                                                     std::string_view what);

// Checks that every element of the int32/int64 tensor `indices` lies in
// [-dim, dim); the error names the first offending index.
core::Status CheckIndexRange(const core::Tensor& indices, int64_t dim, std::string_view what);

// Normalises one index already known to be in [-dim, dim).
inline int64_t WrapIndex(int64_t index, int64_t dim) { return index < 0 ? index + dim : index; }

// Static inference: the value of input `index` as int64s when it is a known
// integer constant.
std::optional<std::vector<int64_t>> ConstantInt64s(const InferenceContext& context, int index);
// Static inference: dims of input `index` when its rank is known.
std::optional<std::vector<Dimension>> InputDims(const InferenceContext& context, int index);

// Conversions between concrete shapes and static dims (-1 = unknown).
std::vector<Dimension> ShapeToDims(const core::TensorShape& shape);
core::TensorShape DimsToShape(const std::vector<Dimension>& dims);
inline Dimension KnownDim(int64_t value) { return Dimension{value < 0 ? -1 : value, {}}; }

// One axis of a strided view: `size` elements, `stride` elements apart in the
// source (zero repeats an element, negative walks backwards).
struct StridedAxis {
  int64_t size;
  int64_t stride;
};

// Copies the view of `src` described by `axes` (outermost first) into the
// contiguous `dst`, in parallel. Contiguous runs are block copies; a view
// whose innermost axis moved (a transpose) is copied in cache-sized tiles.
// The caller guarantees every element the view addresses is inside `src`.
core::Status CopyStridedView(core::DataType dtype, const void* src, void* dst, const std::vector<StridedAxis>& axes);

// Address of element `index` of `tensor`, for any storage type.
inline const void* ElementAddress(const core::Tensor& tensor, int64_t index) {
  if (tensor.dtype() == core::DataType::kString) return tensor.data<std::string>() + index;
  return static_cast<const char*>(tensor.raw_data()) + index * static_cast<int64_t>(tensor.element_size());
}

// Reads one element of storage type T (see VisitStorageType) from `address`.
template <typename T>
T LoadElement(const void* address) {
  if constexpr (std::is_same_v<T, std::string>) {
    return *static_cast<const std::string*>(address);
  } else {
    T value;
    std::memcpy(&value, address, sizeof(T));
    return value;
  }
}

// Row-major strides of `shape`, as StridedAxis entries.
std::vector<StridedAxis> ContiguousAxes(const core::TensorShape& shape);

// Scatter reductions (ScatterElements / ScatterND 'reduction').
enum class ScatterReduction { kNone, kAdd, kMul, kMax, kMin };

// Parses 'reduction', accepting the values the op's opset defines.
core::Result<ScatterReduction> ParseScatterReduction(const Node& node, int opset);

struct AssignUpdate {
  template <typename T>
  static void Apply(T& target, const T& update) {
    target = update;
  }
};
struct AddUpdate {
  template <typename T>
  static void Apply(T& target, const T& update) {
    target = static_cast<T>(static_cast<ComputeType<T>>(target) + static_cast<ComputeType<T>>(update));
  }
};
struct MulUpdate {
  template <typename T>
  static void Apply(T& target, const T& update) {
    target = static_cast<T>(static_cast<ComputeType<T>>(target) * static_cast<ComputeType<T>>(update));
  }
};
struct MaxUpdate {
  template <typename T>
  static void Apply(T& target, const T& update) {
    if (static_cast<ComputeType<T>>(update) > static_cast<ComputeType<T>>(target)) target = update;
  }
};
struct MinUpdate {
  template <typename T>
  static void Apply(T& target, const T& update) {
    if (static_cast<ComputeType<T>>(update) < static_cast<ComputeType<T>>(target)) target = update;
  }
};

// Calls fn.template operator()<T, Update>(): for kNone T is the storage type
// and Update assigns; otherwise T is the real element type (numeric or bool)
// and Update combines. Unimplemented for reductions on strings.
template <typename Fn>
core::Status ForScatterUpdate(core::DataType dtype, ScatterReduction reduction, Fn&& fn) {
  if (reduction == ScatterReduction::kNone) {
    return ForStorageType(dtype, [&]<typename T>() { fn.template operator()<T, AssignUpdate>(); });
  }
  bool supported = core::VisitNumericOrBoolType(dtype, [&]<typename T>() -> bool {
    if constexpr (std::is_void_v<T>) {
      return false;
    } else {
      switch (reduction) {
        case ScatterReduction::kAdd:
          fn.template operator()<T, AddUpdate>();
          break;
        case ScatterReduction::kMul:
          fn.template operator()<T, MulUpdate>();
          break;
        case ScatterReduction::kMax:
          fn.template operator()<T, MaxUpdate>();
          break;
        case ScatterReduction::kMin:
          fn.template operator()<T, MinUpdate>();
          break;
        case ScatterReduction::kNone:
          break;
      }
      return true;
    }
  });
  if (!supported) {
    return core::Unimplemented("scatter reductions on {} are not supported", core::DataTypeName(dtype));
  }
  return core::Status::Ok();
}

}  // namespace berth::engine
