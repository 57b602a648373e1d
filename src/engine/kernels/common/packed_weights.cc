#include "engine/kernels/common/packed_weights.h"

#include "engine/kernels/common/dnnl_util.h"

namespace berth::engine {

using core::Result;

namespace {

// Plain or blocked: a layout oneDNN reorders to and from any other.
bool Reversible(const dnnl::memory::desc& layout) { return layout.data.format_kind == dnnl_blocked; }

void Reorder(dnnl::memory& source, dnnl::memory& target) {
  dnnl::stream& stream = dnnl_util::ThreadStream();
  dnnl::reorder(source, target).execute(stream, source, target);
  stream.wait();
}

}  // namespace

PackedWeights::PackedWeights(core::Tensor weights, dnnl::memory::desc plain)
    : header_(core::Tensor::Wrap(weights.dtype(), weights.shape(), nullptr, nullptr)),
      weights_(std::move(weights)),
      plain_(std::move(plain)) {}

dnnl::memory PackedWeights::ReorderSource() const {
  if (weights_.raw_data()) return dnnl::memory(plain_, dnnl_util::CpuEngine(), const_cast<void*>(weights_.raw_data()));
  for (const auto& [desc, memory] : packed_) {
    if (Reversible(desc)) return memory;
  }
  return dnnl::memory();
}

Result<dnnl::memory> PackedWeights::Get(const dnnl::memory::desc& layout) {
  std::lock_guard<std::mutex> lock(mutex_);
  for (const auto& [desc, memory] : packed_) {
    if (desc == layout) return memory;
  }
  dnnl::memory memory;
  RETURN_IF_ERROR(dnnl_util::TryDnnl("reorder weights", [&] {
    const dnnl::engine& engine = dnnl_util::CpuEngine();
    dnnl::memory source = ReorderSource();
    if (layout == plain_ && weights_.raw_data()) {
      memory = source;
      aliases_plain_ = true;
      return;
    }
    memory = dnnl::memory(layout, engine);
    if (!Reversible(layout) && !weights_.raw_data()) {
      // Special layouts are made from the plain one: go through it.
      dnnl::memory plain(plain_, engine);
      Reorder(source, plain);
      Reorder(plain, memory);
    } else {
      Reorder(source, memory);
    }
  }));
  packed_.emplace_back(layout, memory);
  // A reversible packed copy now stands for the weights; the plain one goes
  // (unless a primitive reads the plain layout directly).
  if (!aliases_plain_ && Reversible(layout)) weights_ = core::Tensor();
  return memory;
}

Result<core::Tensor> PackedWeights::PlainTensor() {
  std::lock_guard<std::mutex> lock(mutex_);
  if (weights_.raw_data()) return weights_;
  dnnl::memory source = ReorderSource();
  if (!source) return weights_;
  ASSIGN_OR_RETURN(core::Tensor plain, core::Tensor::Create(header_.dtype(), header_.shape()));
  RETURN_IF_ERROR(dnnl_util::TryDnnl("reorder weights back", [&] {
    dnnl::memory target(plain_, dnnl_util::CpuEngine(), plain.raw_data());
    Reorder(source, target);
  }));
  return plain;
}

}  // namespace berth::engine
