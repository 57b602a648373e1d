#include "engine/optimizer/graph_editor.h"

#include "engine/onnx/graph_validation.h"

namespace berth::engine {

GraphEditor::GraphEditor(Graph& graph) : graph_(graph) { Index(); }

void GraphEditor::Index() {
  removed_.assign(graph_.nodes.size(), false);
  producer_.clear();
  consumers_.clear();
  graph_outputs_.clear();
  graph_inputs_.clear();
  subgraph_reads_.clear();
  for (const auto& output : graph_.outputs) graph_outputs_.insert(output.name);
  for (const auto& input : graph_.inputs) graph_inputs_.insert(input.name);
  for (size_t n = 0; n < graph_.nodes.size(); ++n) {
    const Node& node = graph_.nodes[n];
    for (const auto& output : node.outputs) {
      if (!output.empty()) producer_[output] = n;
    }
    for (size_t i = 0; i < node.inputs.size(); ++i) {
      if (!node.inputs[i].empty()) consumers_[node.inputs[i]].emplace_back(n, i);
    }
    for (const auto& attr : node.attributes) {
      std::vector<const Graph*> subgraphs;
      if (attr.g) subgraphs.push_back(attr.g.get());
      for (const auto& g : attr.graphs) subgraphs.push_back(g.get());
      for (const Graph* sub : subgraphs) {
        for (const auto& name : OuterScopeReferences(*sub)) subgraph_reads_.insert(name);
      }
    }
  }
}

std::optional<size_t> GraphEditor::Producer(const std::string& value) const {
  auto it = producer_.find(value);
  if (it == producer_.end() || removed_[it->second]) return std::nullopt;
  return it->second;
}

const std::vector<std::pair<size_t, size_t>>& GraphEditor::Consumers(const std::string& value) const {
  static const std::vector<std::pair<size_t, size_t>> kNone;
  auto it = consumers_.find(value);
  return it == consumers_.end() ? kNone : it->second;
}

bool GraphEditor::HasSingleUse(const std::string& value) const {
  if (IsGraphOutput(value) || IsReadBySubgraph(value)) return false;
  size_t live = 0;
  for (const auto& [node, slot] : Consumers(value)) {
    if (!removed_[node]) ++live;
  }
  return live == 1;
}

const core::Tensor* GraphEditor::Constant(const std::string& value) const {
  if (value.empty() || graph_inputs_.count(value)) return nullptr;  // overridable default
  auto it = graph_.initializers.find(value);
  return it == graph_.initializers.end() ? nullptr : &it->second;
}

std::string GraphEditor::AddConstant(const std::string& hint, core::Tensor tensor) {
  std::string name;
  do {
    name = hint + "__berth_const" + std::to_string(fresh_++);
  } while (graph_.initializers.count(name) || producer_.count(name) || graph_inputs_.count(name));
  graph_.initializers[name] = std::move(tensor);
  return name;
}

void GraphEditor::SetConstant(const std::string& value, core::Tensor tensor) {
  auto it = producer_.find(value);
  if (it != producer_.end()) producer_.erase(it);
  graph_.initializers[value] = std::move(tensor);
  graph_.value_types.erase(value);
}

void GraphEditor::Remove(size_t index) {
  removed_[index] = true;
  for (const auto& output : graph_.nodes[index].outputs) {
    auto it = producer_.find(output);
    if (it != producer_.end() && it->second == index) producer_.erase(it);
  }
}

void GraphEditor::ReplaceUses(const std::string& from, const std::string& to) {
  auto it = consumers_.find(from);
  if (it != consumers_.end()) {
    auto uses = std::move(it->second);
    consumers_.erase(it);
    for (const auto& [node, slot] : uses) {
      graph_.nodes[node].inputs[slot] = to;
      consumers_[to].emplace_back(node, slot);
    }
  }
}

size_t GraphEditor::Add(Node node) {
  size_t index = graph_.nodes.size();
  for (const auto& output : node.outputs) {
    if (!output.empty()) producer_[output] = index;
  }
  for (size_t i = 0; i < node.inputs.size(); ++i) {
    if (!node.inputs[i].empty()) consumers_[node.inputs[i]].emplace_back(index, i);
  }
  graph_.nodes.push_back(std::move(node));
  removed_.push_back(false);
  return index;
}

void GraphEditor::Commit() {
  std::vector<Node> kept;
  kept.reserve(graph_.nodes.size());
  for (size_t n = 0; n < graph_.nodes.size(); ++n) {
    if (!removed_[n]) kept.push_back(std::move(graph_.nodes[n]));
  }
  graph_.nodes = std::move(kept);
  // Initializers nothing reads any more (e.g. folded into a fused kernel's
  // own copy) are dropped so their memory is returned.
  std::unordered_set<std::string> read;
  for (const auto& node : graph_.nodes) {
    for (const auto& input : node.inputs) read.insert(input);
  }
  for (const auto& output : graph_.outputs) read.insert(output.name);
  for (const auto& input : graph_.inputs) read.insert(input.name);
  read.insert(subgraph_reads_.begin(), subgraph_reads_.end());
  for (auto it = graph_.initializers.begin(); it != graph_.initializers.end();) {
    it = read.count(it->first) ? std::next(it) : graph_.initializers.erase(it);
  }
  Index();
}

}  // namespace berth::engine
