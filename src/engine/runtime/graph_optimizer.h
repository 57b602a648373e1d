// Graph rewrites applied before compiling a session: each pass keeps the
// model's outputs bit-for-bit equivalent up to floating-point reassociation,
// and is checked against the plain path by tests.
#pragma once

#include "core/status.h"
#include "engine/kernels/op_registry.h"
#include "engine/onnx/graph.h"

namespace berth::engine {

core::Status OptimizeGraph(Graph& graph, const OpRegistry& registry);

}  // namespace berth::engine
