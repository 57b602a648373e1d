#include "engine/optimizer/graph_optimizer.h"

#include "engine/optimizer/passes.h"
#include "engine/runtime/execution_plan.h"

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

core::Status OptimizeGraph(Graph& graph, const OpRegistry& registry) {
  if (ReadsGraphStructure(graph)) return core::Status::Ok();
  GraphEditor editor(graph);
  RETURN_IF_ERROR(FoldConstants(editor, registry));
  RETURN_IF_ERROR(EliminateIdentities(editor));
  RETURN_IF_ERROR(EliminateDeadNodes(editor));
  std::unordered_map<std::string, ValueType> types;
  RETURN_IF_ERROR(InferGraphTypes(graph, registry, {}, &types));
  RETURN_IF_ERROR(FuseConvolutions(editor, types));
  RETURN_IF_ERROR(FuseDepthwiseConvolutions(editor, types));
  RETURN_IF_ERROR(FuseMatMuls(editor, types));
  RETURN_IF_ERROR(AssignBlockedLayouts(editor, types));
  return core::Status::Ok();
}

}  // namespace berth::engine
