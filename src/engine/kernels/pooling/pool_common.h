// Pieces shared by the pooling family's files (pooling.cc, pool_portable.cc,
// pool_unpool.cc).
#pragma once

#include "core/tensor.h"
#include "engine/kernels/convolution/conv_geometry.h"
#include "engine/ops/kernel.h"

namespace berth::engine::pool {

enum class PoolKind { kMax, kAverage, kLp };

// A pooling node's attributes, checked at load.
struct PoolAttributes {
  PoolKind kind = PoolKind::kMax;
  bool global = false;  // Global*Pool: the window is the whole spatial extent
  conv::WindowAttributes window;
  bool count_include_pad = false;  // AveragePool
  int64_t storage_order = 0;       // MaxPool indices: 0 row-major, 1 column-major
  double p = 2;                    // LpPool
};

// The resolved window for input shape `x` [N, C, spatial...]; for global
// pooling the kernel is the spatial extent.
core::Result<conv::Window> ResolvePoolWindow(const PoolAttributes& attributes, const core::TensorShape& x);

// [N, C, output spatial...].
core::TensorShape PoolOutputShape(const core::TensorShape& x, const conv::Window& window);

// Pooling in portable C++ for every type and option: max with indices
// (int64, into the flattened input), Lp, averages with exact ONNX divisors.
// Float types, int8 and uint8 for max; float types for average and Lp.
// `indices` may be null. Returns Unimplemented for other types.
core::Status PortablePool(const PoolAttributes& attributes, const conv::Window& window, const core::Tensor& x,
                          core::Tensor& y, core::Tensor* indices);

// MaxUnpool (pool_unpool.cc).
core::Result<std::unique_ptr<Kernel>> CreateMaxUnpoolKernel(KernelBuildContext& context);
core::Status InferMaxUnpool(InferenceContext& context);

}  // namespace berth::engine::pool
