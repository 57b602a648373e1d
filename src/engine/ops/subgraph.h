// CompiledSubgraph: a graph attribute (If branch, Loop/Scan body, ...)
// compiled at load time, as the kernels that run it see it. The runtime
// compiles it (KernelBuildContext::CompileSubgraph) and runs it
// (KernelContext::RunSubgraph); a kernel only holds it and asks for the
// static types of its outputs. Immutable once compiled; shared by every run.
#pragma once

#include <cstddef>

#include "engine/onnx/graph.h"

namespace berth::engine {

class CompiledSubgraph {
 public:
  virtual ~CompiledSubgraph() = default;
  virtual size_t output_count() const = 0;
  // The static type of output `index` after inference, or what the graph
  // declares where inference could not type it (kind kUnknown for neither).
  virtual ValueType OutputType(size_t index) const = 0;
};

}  // namespace berth::engine
