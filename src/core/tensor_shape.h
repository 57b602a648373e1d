// Tensor shapes: a vector of non-negative extents, plus checked arithmetic on
// them. Sizes that come from outside (model files, requests) go through
// CheckedElementCount before anything is allocated.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "core/status.h"

namespace berth::core {

using TensorShape = std::vector<int64_t>;

// Largest element count / byte size berth accepts for one tensor (2^40 bytes);
// far above any real model, far below where size arithmetic could overflow.
inline constexpr int64_t kMaxTensorBytes = int64_t{1} << 40;

// Product of dims; error if a dim is negative or the product overflows or
// exceeds kMaxTensorBytes / element_size.
Result<int64_t> CheckedElementCount(std::span<const int64_t> dims, size_t element_size = 1);

// Product of dims without checks, for shapes already validated.
int64_t ElementCount(std::span<const int64_t> dims);

// Row-major strides in elements.
std::vector<int64_t> RowMajorStrides(std::span<const int64_t> dims);

// "[1,3,224,224]"; -1 dims print as "-1".
std::string ShapeToString(std::span<const int64_t> dims);

// Normalises a possibly negative axis into [0, rank); error names the op.
Result<int64_t> NormalizeAxis(int64_t axis, int64_t rank);

// Multidirectional (numpy) broadcast of two shapes; error if incompatible.
Result<TensorShape> BroadcastShapes(std::span<const int64_t> a, std::span<const int64_t> b);

}  // namespace berth::core
