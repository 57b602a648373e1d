// Shared oneDNN plumbing for the kernels that use it.
//
// oneDNN reports errors by throwing dnnl::error; kernels must not let that
// escape, so every call into oneDNN goes through TryDnnl (or catches itself).
// Primitives are created with a user-managed scratchpad so that one primitive
// can run on several threads at once (each run brings its own scratchpad).
#pragma once

#include <functional>
#include <memory>
#include <oneapi/dnnl/dnnl.hpp>
#include <optional>
#include <unordered_map>
#include <utility>
#include <vector>

#include "core/status.h"
#include "core/tensor.h"

namespace berth::engine::dnnl_util {

dnnl::engine& CpuEngine();

// Caps oneDNN's dispatch at BERTH_MAX_CPU_ISA (core/cpu_features.h) unless
// ONEDNN_MAX_CPU_ISA is set. Runs once, before oneDNN first picks its ISA;
// CpuEngine and PreferredBlockedLayout call it, so does `berth doctor`.
void ApplyIsaCeiling();
// A stream for the calling thread (streams are not shared across threads).
dnnl::stream& ThreadStream();

std::optional<dnnl::memory::data_type> ToDnnlType(core::DataType dtype);
dnnl::memory::dims ToDims(const core::TensorShape& shape);
// Row-major tag for a rank (a, ab, abc, ...; rank 0 is treated as [1]).
dnnl::memory::format_tag PlainTag(size_t rank);
dnnl::memory::desc PlainDesc(const core::TensorShape& shape, dnnl::memory::data_type type);

// A memory object over a tensor's storage in plain row-major layout.
dnnl::memory WrapTensor(const core::Tensor& tensor);
dnnl::memory WrapTensor(const core::Tensor& tensor, const dnnl::memory::desc& desc);

// The channel-blocked layout oneDNN's convolutions run fastest in on this
// CPU: 16 channels per block with AVX-512, 8 otherwise.
core::TensorLayout PreferredBlockedLayout();
// nChw8c / nChw16c for a blocked layout; the plain tag for kPlain.
dnnl::memory::format_tag LayoutTag(core::TensorLayout layout, size_t rank);
// The memory descriptor of a tensor as stored (its layout included).
dnnl::memory::desc TensorDesc(const core::Tensor& tensor);
// The tensor in `layout` (itself when it already is): a reorder into fresh
// storage otherwise. Blocked layouts need a rank-4 float tensor.
core::Result<core::Tensor> ToLayout(const core::Tensor& tensor, core::TensorLayout layout, core::Allocator& allocator);
inline core::Result<core::Tensor> ToPlain(const core::Tensor& tensor, core::Allocator& allocator) {
  return ToLayout(tensor, core::TensorLayout::kPlain, allocator);
}

// Activation reorders between layouts at run time (ToLayout, and the input
// or output reorders a kernel runs around a primitive), counted per calling
// thread so a profile can attribute them to the step that ran them.
struct ReorderCount {
  uint64_t reorders = 0;
  uint64_t bytes = 0;  // of the reordered tensors
};
const ReorderCount& ThreadReorders();
void CountReorder(size_t bytes);

// Primitive attributes with a user scratchpad (and optional extra setup).
dnnl::primitive_attr DefaultAttr();

// Runs `primitive` on the calling thread's stream and waits. When
// `scratchpad` has a non-zero size, a scratchpad buffer is allocated from
// `allocator` for this call.
core::Status Execute(const dnnl::primitive& primitive, std::unordered_map<int, dnnl::memory> args,
                     const dnnl::memory::desc& scratchpad, core::Allocator& allocator);

// The arguments of one primitive, for running it without building memory
// objects per call: `id` is unique per instance (it keys the per-thread
// objects), `layouts` names each argument's layout.
struct PrimitiveArguments {
  PrimitiveArguments();
  void Add(int argument, const dnnl::memory::desc& layout) { layouts.emplace_back(argument, layout); }
  uint64_t id;
  std::vector<std::pair<int, dnnl::memory::desc>> layouts;
};

// The calling thread's memory objects for `arguments` (built on its first
// use there, data handles unset): a run sets their data handles and passes
// the map to execute, so steady-state calls allocate nothing. Objects refer
// to data by pointer only, so a thread never keeps a kernel's weights alive.
std::unordered_map<int, dnnl::memory>& ThreadArguments(const PrimitiveArguments& arguments);

// A scratchpad of `bytes` for the calling thread's current primitive: a
// buffer kept per thread up to kThreadScratchpadBytes (nullptr above that
// or when memory is short; allocate from the session then).
inline constexpr size_t kThreadScratchpadBytes = size_t{1} << 20;
void* ThreadScratchpad(size_t bytes);

// Calls fn, turning a dnnl::error into a Status naming `what`.
core::Status TryDnnl(const char* what, const std::function<void()>& fn);
// The Status for a dnnl::error raised while doing `what`.
core::Status DnnlErrorStatus(const char* what, const dnnl::error& error);

// Runs `primitive` on the calling thread's memory objects for `arguments`
// (ThreadArguments): `bind(args)` sets their data handles; the scratchpad,
// when `scratchpad` has a size, comes from ThreadScratchpad or, above its
// size, from `allocator`. `what` names the operation in errors. A template,
// so binding allocates nothing.
template <typename Bind>
core::Status ExecuteWithThreadArguments(const char* what, const dnnl::primitive& primitive,
                                        const PrimitiveArguments& arguments, const dnnl::memory::desc& scratchpad,
                                        core::Allocator& allocator, Bind&& bind) {
  std::shared_ptr<void> owned_scratchpad;
  void* scratchpad_data = nullptr;
  if (const size_t bytes = scratchpad.get_size(); bytes > 0) {
    scratchpad_data = ThreadScratchpad(bytes);
    if (!scratchpad_data) {
      owned_scratchpad = allocator.Allocate(bytes);
      scratchpad_data = owned_scratchpad.get();
    }
    if (!scratchpad_data) return core::ResourceExhausted("out of memory for a {} byte {} scratchpad", bytes, what);
  }
  try {
    std::unordered_map<int, dnnl::memory>& args = ThreadArguments(arguments);
    bind(args);
    if (scratchpad_data) args[DNNL_ARG_SCRATCHPAD].set_data_handle(scratchpad_data);
    dnnl::stream& stream = ThreadStream();
    primitive.execute(stream, args);
    stream.wait();
  } catch (const dnnl::error& error) {
    return DnnlErrorStatus(what, error);
  }
  return core::Status::Ok();
}

}  // namespace berth::engine::dnnl_util
