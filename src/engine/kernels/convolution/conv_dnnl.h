// oneDNN helpers for the convolution and pooling kernels: ONNX window
// geometry in oneDNN's terms, and reorders that follow the user-scratchpad
// rule of dnnl_util (so any primitive may run on several threads at once).
#pragma once

#include <memory>
#include <vector>

#include "engine/kernels/common/dnnl_util.h"
#include "engine/kernels/convolution/conv_common.h"

namespace berth::engine::conv {

inline dnnl::memory::dims ToDnnlDims(const std::vector<int64_t>& values) {
  return dnnl::memory::dims(values.begin(), values.end());
}

// oneDNN counts dilation from 0 (0 = dense), ONNX from 1.
inline dnnl::memory::dims DnnlDilations(const Window& window) {
  dnnl::memory::dims dims;
  for (int64_t d : window.dilations) dims.push_back(d - 1);
  return dims;
}

// [N, C, spatial...] as oneDNN dims.
inline dnnl::memory::dims DnnlActivationDims(int64_t batch, int64_t channels, const std::vector<int64_t>& spatial) {
  dnnl::memory::dims dims = {batch, channels};
  dims.insert(dims.end(), spatial.begin(), spatial.end());
  return dims;
}

// oneDNN's logical weight dims: [O, I, k...], or [g, O/g, I/g, k...] with groups.
inline dnnl::memory::dims DnnlWeightDims(int64_t group, int64_t out_channels, int64_t in_channels,
                                         const std::vector<int64_t>& kernel) {
  dnnl::memory::dims dims;
  if (group > 1) dims.push_back(group);
  dims.push_back(out_channels / group);
  dims.push_back(in_channels / group);
  dims.insert(dims.end(), kernel.begin(), kernel.end());
  return dims;
}

// A reorder primitive between two layouts, built with a user scratchpad.
struct DnnlReorder {
  dnnl::reorder primitive;
  dnnl::memory::desc scratchpad;
};

inline core::Result<DnnlReorder> BuildReorder(const dnnl::memory::desc& from, const dnnl::memory::desc& to) {
  DnnlReorder reorder;
  RETURN_IF_ERROR(dnnl_util::TryDnnl("building a reorder", [&] {
    dnnl::reorder::primitive_desc pd(dnnl_util::CpuEngine(), from, dnnl_util::CpuEngine(), to,
                                     dnnl_util::DefaultAttr());
    reorder.scratchpad = pd.scratchpad_desc();
    reorder.primitive = dnnl::reorder(pd);
  }));
  return reorder;
}

// Runs `reorder` from `from_data` (layout `from`) into `to_data` (layout `to`).
inline core::Status RunReorder(const DnnlReorder& reorder, const dnnl::memory::desc& from, const void* from_data,
                               const dnnl::memory::desc& to, void* to_data, core::Allocator& allocator) {
  std::unordered_map<int, dnnl::memory> args;
  RETURN_IF_ERROR(dnnl_util::TryDnnl("reorder arguments", [&] {
    args.emplace(DNNL_ARG_FROM, dnnl::memory(from, dnnl_util::CpuEngine(), const_cast<void*>(from_data)));
    args.emplace(DNNL_ARG_TO, dnnl::memory(to, dnnl_util::CpuEngine(), to_data));
  }));
  return dnnl_util::Execute(reorder.primitive, std::move(args), reorder.scratchpad, allocator);
}

// Copies constant weights (layout `from`) into a new buffer in layout `to`,
// once, at primitive build time.
inline core::Result<std::shared_ptr<void>> PackWeights(const dnnl::memory::desc& from, const void* data,
                                                       const dnnl::memory::desc& to) {
  std::shared_ptr<void> packed = core::HeapAllocator().Allocate(to.get_size());
  if (!packed) return core::ResourceExhausted("out of memory for {} bytes of packed weights", to.get_size());
  ASSIGN_OR_RETURN(DnnlReorder reorder, BuildReorder(from, to));
  RETURN_IF_ERROR(RunReorder(reorder, from, data, to, packed.get(), core::HeapAllocator()));
  return packed;
}

}  // namespace berth::engine::conv
