// GraphEditor: the bookkeeping optimizer passes share — who produces and who
// consumes each value, which values are constant, and safe ways to delete
// nodes and rewire their uses. Edits are applied to the Graph in place;
// deleted nodes are only marked until Commit() compacts the node list.
#pragma once

#include <optional>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "engine/onnx/graph.h"

namespace berth::engine {

class GraphEditor {
 public:
  explicit GraphEditor(Graph& graph);

  Graph& graph() { return graph_; }
  size_t node_count() const { return graph_.nodes.size(); }
  Node& node(size_t index) { return graph_.nodes[index]; }
  bool alive(size_t index) const { return !removed_[index]; }

  // Index of the node producing `value`, if any node does.
  std::optional<size_t> Producer(const std::string& value) const;
  // (node index, input slot) of every live use of `value` by a node.
  const std::vector<std::pair<size_t, size_t>>& Consumers(const std::string& value) const;
  bool IsGraphOutput(const std::string& value) const { return graph_outputs_.count(value) != 0; }
  // Read by subgraphs of some node (implicit inputs): must not be renamed away.
  bool IsReadBySubgraph(const std::string& value) const { return subgraph_reads_.count(value) != 0; }
  // Exactly one consumer, not a graph output, not read by a subgraph: the
  // producer may be fused into that consumer.
  bool HasSingleUse(const std::string& value) const;

  // The value of a constant (a non-overridable initializer), else nullptr.
  const core::Tensor* Constant(const std::string& value) const;
  // Adds an initializer under a fresh name derived from `hint`.
  std::string AddConstant(const std::string& hint, core::Tensor tensor);
  // Makes `value` a constant (replaces whatever produced it).
  void SetConstant(const std::string& value, core::Tensor tensor);

  // Marks a node removed; its uses must have been rewired or be dead.
  void Remove(size_t index);
  // Points every node input reading `from` at `to`. Graph outputs keep their
  // names, so callers never rewire a value that is a graph output.
  void ReplaceUses(const std::string& from, const std::string& to);
  // Appends a node; returns its index. Indices of existing nodes stay valid.
  size_t Add(Node node);

  // Drops removed nodes and initializers nothing reads any more.
  void Commit();

 private:
  void Index();

  Graph& graph_;
  std::vector<bool> removed_;
  std::unordered_map<std::string, size_t> producer_;
  std::unordered_map<std::string, std::vector<std::pair<size_t, size_t>>> consumers_;
  std::unordered_set<std::string> graph_outputs_;
  std::unordered_set<std::string> graph_inputs_;
  std::unordered_set<std::string> subgraph_reads_;
  int fresh_ = 0;
};

}  // namespace berth::engine
