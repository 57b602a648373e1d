// Graph rewrites applied before a session compiles its plan. Every pass keeps
// the model's outputs equal up to floating-point reassociation; tests run
// models with and without optimisation and compare (differential testing).
#pragma once

#include "core/status.h"
#include "engine/onnx/graph.h"
#include "engine/ops/op_registry.h"
#include "engine/ops/type_inference.h"

namespace berth::engine {

// Rewrites `graph` and leaves its static types in `types`, ready for
// ExecutionPlan::Compile, so a load infers them once.
core::Status OptimizeGraph(Graph& graph, const OpRegistry& registry, ValueTypes* types);

}  // namespace berth::engine
