#include "engine/optimizer/graph_optimizer.h"

#include "engine/optimizer/passes.h"

namespace berth::engine {

namespace {

// Ops that read other nodes of their graph by name (Gradient) would see a
// rewritten graph; leave such graphs exactly as written.
bool ReadsGraphStructure(const Graph& graph) {
  for (const auto& node : graph.nodes) {
    if (node.domain == kTrainingDomain && node.op_type == "Gradient") return true;
  }
  return false;
}

}  // namespace

core::Status OptimizeGraph(Graph& graph, const OpRegistry& registry, ValueTypes* types) {
  if (ReadsGraphStructure(graph)) return InferGraphTypes(graph, registry, {}, types);
  GraphEditor editor(graph);
  RETURN_IF_ERROR(FoldConstants(editor, registry, types));
  RETURN_IF_ERROR(EliminateIdentities(editor));
  RETURN_IF_ERROR(EliminateDeadNodes(editor));
  RETURN_IF_ERROR(CompleteGraphTypes(graph, registry, types));  // the declared output types
  RETURN_IF_ERROR(FuseConvolutions(editor, *types));
  RETURN_IF_ERROR(FuseDepthwiseConvolutions(editor, *types));
  RETURN_IF_ERROR(FuseMatMuls(editor, *types));
  RETURN_IF_ERROR(AssignBlockedLayouts(editor, *types));
  return CompleteGraphTypes(graph, registry, types);  // nodes the fusions made
}

}  // namespace berth::engine
