// Static type inference over a graph: each op's `infer` function (see
// kernel.h) applied in topological order, subgraphs included through the
// ops that own them. Runs once per load: the optimizer infers while it folds
// constants and hands the result on to the plan (see session.cc).
#pragma once

#include <string>
#include <unordered_map>

#include "core/status.h"
#include "engine/onnx/graph.h"
#include "engine/ops/op_registry.h"

namespace berth::engine {

// Static types by value name.
using ValueTypes = std::unordered_map<std::string, ValueType>;

// Fills `types` for every value of `graph` it can (unknown otherwise),
// starting from `outer_types` (enclosing-scope values; empty for a top-level
// graph). Never fails on a well-formed graph: a value inference cannot type
// stays unknown. Returns an error only for definite contradictions.
core::Status InferGraphTypes(const Graph& graph, const OpRegistry& registry, const ValueTypes& outer_types,
                             ValueTypes* types);

// Completes `types`, inferred earlier for this graph, after rewrites: adds
// the graph's inputs and initializers it lacks, and infers only the nodes
// with an output it has no entry for (nodes a rewrite created).
core::Status CompleteGraphTypes(const Graph& graph, const OpRegistry& registry, ValueTypes* types);

// Infers the output types of one node from `types` (its inputs' entries) and
// the graph's constants, and records them in `types`. What InferGraphTypes
// does per node, for passes that walk the graph themselves (constant
// folding infers each node just before deciding whether to fold it).
void InferNodeTypes(const Node& node, const Graph& graph, const OpRegistry& registry, ValueTypes* types);

// Enters the graph's inputs (merged with what `types` already holds for
// them) and its initializers: where a walk over the nodes starts.
void SeedGraphTypes(const Graph& graph, ValueTypes* types);

// `declared` (what the file says) completed with what inference found.
ValueType MergeTypes(const ValueType& declared, const ValueType& inferred);

}  // namespace berth::engine
