// Graph rewrites applied before a session compiles its plan. Every pass keeps
// the model's outputs equal up to floating-point reassociation; tests run
// models with and without optimisation and compare (differential testing).
#pragma once

#include "core/status.h"
#include "engine/kernels/op_registry.h"
#include "engine/onnx/graph.h"

namespace berth::engine {

core::Status OptimizeGraph(Graph& graph, const OpRegistry& registry);

}  // namespace berth::engine
