// Structural checks on the IR and the topological order used to run it.
#pragma once

#include <string>
#include <unordered_set>
#include <vector>

#include "core/status.h"
#include "engine/onnx/graph.h"

namespace berth::engine {

// Checks `graph` and, recursively, its subgraphs: names defined once, every
// node input defined (by a graph input, an initializer, a node, or a value of
// an enclosing graph in `outer_scope`), graph outputs defined, no cycle.
core::Status ValidateGraph(const Graph& graph, const std::unordered_set<std::string>& outer_scope = {});

// Node indices in an order where every node comes after its producers;
// error naming a node on the cycle if there is one.
core::Result<std::vector<size_t>> TopologicalOrder(const Graph& graph);

// Names a subgraph reads from enclosing scopes (including through its own
// nested subgraphs): the implicit inputs of the node that owns it.
std::vector<std::string> OuterScopeReferences(const Graph& graph);

}  // namespace berth::engine
