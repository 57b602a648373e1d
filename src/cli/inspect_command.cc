// berth inspect MODEL.onnx (MODEL.gguf: cli/inspect_gguf.cc): inputs, outputs, opsets, op histogram, parameter
// count, and the ops berth cannot run.
#include <map>
#include <set>

#include "cli/command.h"
#include "cli/inspect_gguf.h"
#include "engine/kernels/builtin_kernels.h"
#include "engine/onnx/model_loader.h"
#include "engine/optimizer/graph_optimizer.h"
#include "engine/runtime/execution_plan.h"

namespace berth::cli {
namespace {

void CountOps(const engine::Graph& graph, std::map<std::string, int>* histogram, std::set<std::string>* unsupported,
              const engine::OpRegistry& registry) {
  for (const auto& node : graph.nodes) {
    std::string key = node.domain.empty() ? node.op_type : node.domain + "." + node.op_type;
    ++(*histogram)[key];
    if (!registry.Find(node.domain, node.op_type, node.opset)) {
      unsupported->insert(key + " (domain '" + (node.domain.empty() ? "ai.onnx" : node.domain) + "', opset " +
                          std::to_string(node.opset) + ")");
    }
    for (const auto& attr : node.attributes) {
      if (attr.g) CountOps(*attr.g, histogram, unsupported, registry);
      for (const auto& g : attr.graphs) CountOps(*g, histogram, unsupported, registry);
    }
  }
}

core::Status Inspect(const std::string& path, bool optimized, bool dump) {
  ASSIGN_OR_RETURN(auto model, engine::LoadModelFromFile(path));
  const auto& registry = engine::BuiltinOpRegistry();
  engine::ValueTypes types;
  if (optimized) {
    RETURN_IF_ERROR(engine::OptimizeGraph(model->graph, registry, &types));
  } else {
    RETURN_IF_ERROR(engine::InferGraphTypes(model->graph, registry, {}, &types));
  }
  std::printf("model: %s\n", path.c_str());
  std::printf("ir_version: %lld  producer: %s %s\n", static_cast<long long>(model->ir_version),
              model->producer_name.c_str(), model->producer_version.c_str());
  std::printf("opsets:");
  for (const auto& [domain, version] : model->opset_imports) {
    std::printf(" %s=%lld", domain.empty() ? "ai.onnx" : domain.c_str(), static_cast<long long>(version));
  }
  std::printf("\ninputs:\n");
  for (const auto* input : model->graph.RequiredInputs()) {
    std::printf("  %s: %s\n", input->name.c_str(), input->type.ToString().c_str());
  }
  std::printf("outputs:\n");
  for (const auto& output : model->graph.outputs) {
    auto it = types.find(output.name);
    std::string type = it != types.end() ? it->second.ToString() : output.type.ToString();
    std::printf("  %s: %s\n", output.name.c_str(), type.c_str());
  }
  std::map<std::string, int> histogram;
  std::set<std::string> unsupported;
  CountOps(model->graph, &histogram, &unsupported, registry);
  std::printf("parameters: %lld\n", static_cast<long long>(model->ParameterCount()));
  std::printf("nodes: %zu\nops:\n", model->graph.nodes.size());
  std::vector<std::pair<std::string, int>> rows(histogram.begin(), histogram.end());
  std::sort(rows.begin(), rows.end(), [](const auto& a, const auto& b) { return a.second > b.second; });
  for (const auto& [op, count] : rows) std::printf("  %-28s %d\n", op.c_str(), count);
  if (dump) {
    std::printf("graph:\n");
    for (const auto& node : model->graph.nodes) {
      std::string op = node.domain.empty() ? node.op_type : node.domain + "." + node.op_type;
      std::string line = "  " + op + "(";
      for (size_t i = 0; i < node.inputs.size(); ++i) {
        auto it = types.find(node.inputs[i]);
        line += (i ? ", " : "") + node.inputs[i] + (it != types.end() ? ":" + it->second.ToString() : "");
      }
      line += ") -> ";
      for (size_t i = 0; i < node.outputs.size(); ++i) line += (i ? ", " : "") + node.outputs[i];
      std::printf("%s\n", line.c_str());
    }
  }
  if (unsupported.empty()) {
    std::printf("unsupported ops: none\n");
  } else {
    std::printf("unsupported ops:\n");
    for (const auto& op : unsupported) std::printf("  %s\n", op.c_str());
  }
  return core::Status::Ok();
}

}  // namespace

void AddInspectCommand(CLI::App& app, int* exit_code) {
  auto path = std::make_shared<std::string>();
  auto optimized = std::make_shared<bool>(false);
  auto dump = std::make_shared<bool>(false);
  CLI::App* cmd = app.add_subcommand("inspect", "Show a model's inputs, outputs, opsets, ops and parameters");
  cmd->add_option("model", *path, "ONNX model file, or a GGUF language model (.gguf)")->required();
  cmd->add_flag("--optimized", *optimized, "describe the graph after berth's optimizer (fused ops)");
  cmd->add_flag("--nodes", *dump, "list every node with its inputs' static types");
  cmd->callback([path, optimized, dump, exit_code] {
    const bool gguf = path->size() >= 5 && path->compare(path->size() - 5, 5, ".gguf") == 0;
    core::Status status = gguf ? InspectGguf(*path) : Inspect(*path, *optimized, *dump);
    *exit_code = status.ok() ? 0 : ReportError(status);
  });
}

}  // namespace berth::cli
