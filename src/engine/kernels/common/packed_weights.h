// Constant weights reordered once into the layouts oneDNN primitives ask for
// (matmul and convolution kernels).
#pragma once

#include <mutex>
#include <oneapi/dnnl/dnnl.hpp>
#include <utility>
#include <vector>

#include "core/status.h"
#include "core/tensor.h"

namespace berth::engine {

// A constant float32 weight operand as a primitive reads it (`plain`: dims and
// strides, which may express a transpose), plus copies reordered into the
// layouts primitives asked for. Copies are made once and shared between
// primitives that want the same layout. Once the first blocked copy exists the
// plain weights are dropped (further layouts are reordered from that copy), so
// a model's weights are held once: the kernel reports the operand through
// Kernel::KeepsConstantInput and the plan releases its own copy. Copies in a
// layout that cannot be reordered back (oneDNN's Winograd-transformed
// weights) do not replace the plain weights. Thread-safe.
class PackedWeights {
 public:
  PackedWeights(core::Tensor weights, dnnl::memory::desc plain);
  // The operand's dtype and shape, with no data: for shapes and cache keys.
  const core::Tensor& operand() const { return header_; }
  const dnnl::memory::desc& plain() const { return plain_; }
  // The weights in `layout`, reordering on first use.
  core::Result<dnnl::memory> Get(const dnnl::memory::desc& layout);
  // The weights as the plain operand (the tensor the kernel was built with),
  // for the rare paths that take no packed weights; rebuilt from a packed
  // copy once the plain one is gone.
  core::Result<core::Tensor> PlainTensor();

 private:
  // A copy the other layouts can be reordered from (null memory if none).
  dnnl::memory ReorderSource() const;

  std::mutex mutex_;
  core::Tensor header_;
  core::Tensor weights_;  // empty once dropped
  dnnl::memory::desc plain_;
  std::vector<std::pair<dnnl::memory::desc, dnnl::memory>> packed_;
  bool aliases_plain_ = false;  // a "packed" copy is weights_ itself
};

}  // namespace berth::engine
