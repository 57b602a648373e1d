#include "core/tensor_shape.h"

#include <algorithm>

namespace berth::core {

Result<int64_t> CheckedElementCount(std::span<const int64_t> dims, size_t element_size) {
  const int64_t limit = kMaxTensorBytes / static_cast<int64_t>(std::max<size_t>(element_size, 1));
  int64_t count = 1;
  for (int64_t dim : dims) {
    if (dim < 0) return InvalidArgument("negative dimension {} in shape {}", dim, ShapeToString(dims));
    if (dim == 0) {
      count = 0;
      continue;
    }
    if (count != 0 && dim > limit / std::max<int64_t>(count, 1)) {
      return ResourceExhausted("shape {} has too many elements (limit {} bytes)", ShapeToString(dims),
                               kMaxTensorBytes);
    }
    if (count != 0) count *= dim;
  }
  // A zero anywhere makes the tensor empty, but the other dims must still be sane.
  for (int64_t dim : dims) {
    if (dim > limit) {
      return ResourceExhausted("shape {} has a dimension above the limit", ShapeToString(dims));
    }
  }
  return count;
}

int64_t ElementCount(std::span<const int64_t> dims) {
  int64_t count = 1;
  for (int64_t dim : dims) count *= dim;
  return count;
}

std::vector<int64_t> RowMajorStrides(std::span<const int64_t> dims) {
  std::vector<int64_t> strides(dims.size(), 1);
  for (int64_t i = static_cast<int64_t>(dims.size()) - 2; i >= 0; --i) {
    strides[i] = strides[i + 1] * dims[i + 1];
  }
  return strides;
}

std::string ShapeToString(std::span<const int64_t> dims) {
  std::string out = "[";
  for (size_t i = 0; i < dims.size(); ++i) {
    if (i) out += ',';
    out += std::to_string(dims[i]);
  }
  out += ']';
  return out;
}

Result<int64_t> NormalizeAxis(int64_t axis, int64_t rank) {
  if (axis < -rank || axis >= rank) {
    return InvalidArgument("axis {} is out of range for rank {}", axis, rank);
  }
  return axis < 0 ? axis + rank : axis;
}

Result<TensorShape> BroadcastShapes(std::span<const int64_t> a, std::span<const int64_t> b) {
  size_t rank = std::max(a.size(), b.size());
  TensorShape out(rank);
  for (size_t i = 0; i < rank; ++i) {
    int64_t da = i < rank - a.size() ? 1 : a[i - (rank - a.size())];
    int64_t db = i < rank - b.size() ? 1 : b[i - (rank - b.size())];
    if (da == db || db == 1) {
      out[i] = da;
    } else if (da == 1) {
      out[i] = db;
    } else if (da == -1 || db == -1) {  // unknown dims (static inference)
      int64_t known = da == -1 ? db : da;
      out[i] = known > 1 ? known : -1;
    } else {
      return InvalidArgument("shapes {} and {} cannot be broadcast", ShapeToString(a), ShapeToString(b));
    }
  }
  return out;
}

}  // namespace berth::core
