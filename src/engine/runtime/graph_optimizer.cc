#include "engine/runtime/graph_optimizer.h"

namespace berth::engine {

core::Status OptimizeGraph(Graph& graph, const OpRegistry& registry) {
  (void)graph;
  (void)registry;
  return core::Status::Ok();
}

}  // namespace berth::engine
