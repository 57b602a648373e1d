// Shared by the normalisation and softmax kernels: compute types, reading
// small parameter tensors, and the cached oneDNN primitive they run float32 on.
#pragma once

#include <cmath>
#include <oneapi/dnnl/dnnl.hpp>
#include <type_traits>
#include <vector>

#include "engine/kernels/common/dnnl_util.h"
#include "engine/kernels/common/kernel_util.h"

namespace berth::engine {

// Any numeric tensor's elements as C (one dtype dispatch per tensor).
template <typename C>
core::Result<std::vector<C>> ReadNormParameter(const core::Tensor& tensor, std::string_view what) {
  std::vector<C> out(static_cast<size_t>(tensor.element_count()));
  bool ok = core::VisitNumericType(tensor.dtype(), [&]<typename T>() {
    if constexpr (std::is_void_v<T>) {
      return false;
    } else {
      const T* src = tensor.data<T>();
      for (size_t i = 0; i < out.size(); ++i) out[i] = static_cast<C>(static_cast<ComputeType<T>>(src[i]));
      return true;
    }
  });
  if (!ok) return core::InvalidArgument("{} has non-numeric type {}", what, core::DataTypeName(tensor.dtype()));
  return out;
}

// Writes C values into a tensor of any float type.
template <typename C>
void WriteNormValues(const std::vector<C>& values, core::Tensor& tensor) {
  core::VisitFloatType(tensor.dtype(), [&]<typename T>() {
    if constexpr (!std::is_void_v<T>) {
      T* dst = tensor.data<T>();
      for (size_t i = 0; i < values.size(); ++i) dst[i] = T(static_cast<ComputeType<T>>(values[i]));
    }
    return true;
  });
}

// A oneDNN primitive built for one input shape, with the descs its
// arguments use.
struct DnnlNormPlan {
  dnnl::primitive primitive;
  dnnl::memory::desc data;   // src and dst
  dnnl::memory::desc stats;  // mean / variance, when used
  dnnl::memory::desc scratchpad;
};

// Wraps a float buffer for one execution argument.
inline dnnl::memory NormArg(const dnnl::memory::desc& desc, const void* data) {
  return dnnl::memory(desc, dnnl_util::CpuEngine(), const_cast<void*>(data));
}

// 1-D float32 desc of `count` elements.
inline dnnl::memory::desc NormVectorDesc(int64_t count) {
  return dnnl::memory::desc({count}, dnnl::memory::data_type::f32, dnnl::memory::format_tag::a);
}

}  // namespace berth::engine
