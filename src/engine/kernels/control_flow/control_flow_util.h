// Helpers shared by the control-flow (If, Loop, Scan), sequence and optional
// kernels: type merging for values that may come from several places, the
// loop-body inference fixed point, and tensor slicing/stacking along an axis.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "core/tensor.h"
#include "core/value.h"
#include "engine/ops/kernel.h"
#include "engine/ops/op_registry.h"

namespace berth::engine {

// The most specific type that covers both `a` and `b` (If branches, a
// loop-carried value before and after an iteration, sequence elements).
// Dims that differ become unknown, ranks that differ drop the shape, kinds
// that differ give kUnknown.
ValueType MergeValueTypes(const ValueType& a, const ValueType& b);
bool SameValueType(const ValueType& a, const ValueType& b);

// "tensor float32[2,3]", "sequence of 3 int64 tensors", "empty optional".
std::string DescribeValue(const core::Value& value);

// A loop condition: a bool tensor with exactly one element.
core::Result<bool> ReadCondition(const core::Value* value, std::string_view what);

// A scalar-like integer tensor (shape [] or [1]) as int64.
core::Result<int64_t> ReadScalarInteger(const core::Value* value, std::string_view what);

// Inference for a loop body whose inputs are `prefix`, then the carried
// values, then `suffix`, and whose outputs hold the carried values from
// `carried_output_offset`. Carried types may change between iterations, so
// they are widened until the body maps them onto themselves; returns the
// widened carried types and the body's output types for them.
struct LoopBodyTypes {
  std::vector<ValueType> carried;
  std::vector<ValueType> outputs;
};
core::Result<LoopBodyTypes> InferLoopBody(InferenceContext& context, const Graph& body,
                                          const std::vector<ValueType>& prefix, std::vector<ValueType> carried,
                                          const std::vector<ValueType>& suffix, size_t carried_output_offset);

// `type` (a per-iteration tensor type) with a dim inserted at `axis` (in
// [0, rank]; ignored when the rank is unknown): the type of a stacked output.
ValueType InsertDim(const ValueType& type, int64_t axis, Dimension dim);

// An empty stack of per-iteration values of static type `element` along
// `axis`, for loops that ran no iteration: unknown dims become 0. Fails when
// the element dtype or rank is unknown.
core::Result<core::Tensor> EmptyStack(const ValueType& element, int64_t axis, core::Allocator& allocator,
                                      std::string_view what);

// Bytes between consecutive elements of `dtype` (strings are std::string objects).
size_t ElementStride(core::DataType dtype);

// The sub-tensor at `index` along `axis`, with that axis removed (a copy).
core::Result<core::Tensor> SliceAlongAxis(const core::Tensor& tensor, int64_t axis, int64_t index,
                                          core::Allocator& allocator);

// Moves axis 0 of `stacked` to `axis` (a copy unless axis is 0).
core::Result<core::Tensor> MoveLeadingAxis(const core::Tensor& stacked, int64_t axis, core::Allocator& allocator);

}  // namespace berth::engine
