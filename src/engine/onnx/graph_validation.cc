#include "engine/onnx/graph_validation.h"

#include <algorithm>
#include <functional>
#include <queue>
#include <unordered_map>

namespace berth::engine {

using core::Status;

namespace {

void CollectDefined(const Graph& graph, std::unordered_set<std::string>* defined) {
  for (const auto& input : graph.inputs) defined->insert(input.name);
  for (const auto& [name, tensor] : graph.initializers) defined->insert(name);
  for (const auto& node : graph.nodes) {
    for (const auto& output : node.outputs) {
      if (!output.empty()) defined->insert(output);
    }
  }
}

void CollectOuterReferences(const Graph& graph, std::unordered_set<std::string>* seen, std::vector<std::string>* out) {
  std::unordered_set<std::string> defined;
  CollectDefined(graph, &defined);
  auto use = [&](const std::string& name) {
    if (!name.empty() && !defined.count(name) && seen->insert(name).second) out->push_back(name);
  };
  for (const auto& node : graph.nodes) {
    for (const auto& input : node.inputs) use(input);
    for (const auto& attr : node.attributes) {
      std::vector<const Graph*> subgraphs;
      if (attr.g) subgraphs.push_back(attr.g.get());
      for (const auto& g : attr.graphs) subgraphs.push_back(g.get());
      for (const Graph* sub : subgraphs) {
        std::unordered_set<std::string> sub_seen;
        std::vector<std::string> sub_refs;
        CollectOuterReferences(*sub, &sub_seen, &sub_refs);
        for (const auto& name : sub_refs) use(name);
      }
    }
  }
  for (const auto& output : graph.outputs) use(output.name);
}

}  // namespace

std::vector<std::string> OuterScopeReferences(const Graph& graph) {
  std::unordered_set<std::string> seen;
  std::vector<std::string> out;
  CollectOuterReferences(graph, &seen, &out);
  return out;
}

core::Result<std::vector<size_t>> TopologicalOrder(const Graph& graph) {
  std::unordered_map<std::string, size_t> producer;
  for (size_t n = 0; n < graph.nodes.size(); ++n) {
    for (const auto& output : graph.nodes[n].outputs) {
      if (!output.empty()) producer[output] = n;
    }
  }
  // Node dependencies, including values its subgraphs read from this scope.
  std::vector<std::vector<size_t>> consumers(graph.nodes.size());
  std::vector<size_t> pending(graph.nodes.size(), 0);
  for (size_t n = 0; n < graph.nodes.size(); ++n) {
    const Node& node = graph.nodes[n];
    std::vector<std::string> reads = node.inputs;
    for (const auto& attr : node.attributes) {
      if (attr.g) {
        auto refs = OuterScopeReferences(*attr.g);
        reads.insert(reads.end(), refs.begin(), refs.end());
      }
      for (const auto& g : attr.graphs) {
        auto refs = OuterScopeReferences(*g);
        reads.insert(reads.end(), refs.begin(), refs.end());
      }
    }
    std::sort(reads.begin(), reads.end());
    reads.erase(std::unique(reads.begin(), reads.end()), reads.end());
    for (const auto& name : reads) {
      if (name.empty() || graph.IsInitializer(name)) continue;
      auto it = producer.find(name);
      if (it == producer.end()) continue;
      consumers[it->second].push_back(n);
      ++pending[n];
    }
  }
  std::vector<size_t> order;
  order.reserve(graph.nodes.size());
  // Min-heap on node index: among ready nodes, keep the file's order.
  std::priority_queue<size_t, std::vector<size_t>, std::greater<>> ready;
  for (size_t n = 0; n < graph.nodes.size(); ++n) {
    if (pending[n] == 0) ready.push(n);
  }
  while (!ready.empty()) {
    size_t n = ready.top();
    ready.pop();
    order.push_back(n);
    for (size_t consumer : consumers[n]) {
      if (--pending[consumer] == 0) ready.push(consumer);
    }
  }
  if (order.size() != graph.nodes.size()) {
    for (size_t n = 0; n < graph.nodes.size(); ++n) {
      if (pending[n] != 0) {
        return core::InvalidArgument("graph '{}' has a cycle through {}", graph.name, graph.nodes[n].Describe());
      }
    }
  }
  return order;
}

Status ValidateGraph(const Graph& graph, const std::unordered_set<std::string>& outer_scope) {
  std::unordered_set<std::string> defined = outer_scope;
  std::unordered_set<std::string> local;
  for (const auto& input : graph.inputs) {
    if (input.name.empty()) return core::InvalidArgument("graph '{}' has an input with no name", graph.name);
    if (!local.insert(input.name).second) {
      return core::InvalidArgument("graph '{}' declares input '{}' twice", graph.name, input.name);
    }
  }
  for (const auto& [name, tensor] : graph.initializers) local.insert(name);
  for (const auto& node : graph.nodes) {
    for (const auto& output : node.outputs) {
      if (output.empty()) continue;
      if (!local.insert(output).second) {
        return core::InvalidArgument("graph '{}': value '{}' is produced twice (second time by {})", graph.name, output,
                                     node.Describe());
      }
    }
  }
  defined.insert(local.begin(), local.end());
  for (const auto& node : graph.nodes) {
    for (const auto& input : node.inputs) {
      if (!input.empty() && !defined.count(input)) {
        return core::InvalidArgument("graph '{}': input '{}' of {} is not produced by any node, input or initializer",
                                     graph.name, input, node.Describe());
      }
    }
    for (const auto& attr : node.attributes) {
      std::vector<const Graph*> subgraphs;
      if (attr.g) subgraphs.push_back(attr.g.get());
      for (const auto& g : attr.graphs) subgraphs.push_back(g.get());
      for (const Graph* sub : subgraphs) {
        Status status = ValidateGraph(*sub, defined);
        if (!status.ok()) return status.WithContext(node.Describe() + " attribute '" + attr.name + "'");
      }
    }
  }
  for (const auto& output : graph.outputs) {
    if (!defined.count(output.name)) {
      return core::InvalidArgument("graph '{}': output '{}' is not produced by anything", graph.name, output.name);
    }
  }
  auto order = TopologicalOrder(graph);
  if (!order.ok()) return order.status();
  return Status::Ok();
}

}  // namespace berth::engine
