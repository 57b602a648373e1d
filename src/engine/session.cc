#include "engine/session.h"

#include <optional>

#include "core/parallel.h"
#include "engine/kernels/builtin_kernels.h"
#include "engine/onnx/model_loader.h"
#include "engine/optimizer/graph_optimizer.h"

namespace berth::engine {

using core::Result;
using core::Status;

Result<std::unique_ptr<Session>> Session::Load(const std::filesystem::path& path, SessionOptions options) {
  ASSIGN_OR_RETURN(std::shared_ptr<Model> model, LoadModelFromFile(path));
  auto session = Create(std::move(model), options);
  if (!session.ok()) return session.status().WithContext("model '" + path.string() + "'");
  return session;
}

Result<std::unique_ptr<Session>> Session::Create(std::shared_ptr<Model> model, SessionOptions options) {
  std::unique_ptr<Session> session(new Session());
  session->options_ = options;
  session->model_ = std::move(model);
  core::SetIntraOpThreads(options.intra_op_threads);
  const OpRegistry& registry = BuiltinOpRegistry();
  // Types are inferred once: by the optimizer when it runs, else by the plan.
  ValueTypes inferred;
  if (options.optimize) RETURN_IF_ERROR(OptimizeGraph(session->model_->graph, registry, &inferred));
  ASSIGN_OR_RETURN(session->plan_, ExecutionPlan::Compile(session->model_->graph, registry, {},
                                                          options.optimize ? &inferred : nullptr));
  // Weights the kernels hold prepacked need no second copy in the graph.
  for (const std::string& name : session->plan_->released_constants()) {
    auto it = session->model_->graph.initializers.find(name);
    if (it == session->model_->graph.initializers.end()) continue;
    session->weight_bytes_ += it->second.byte_size();
    session->model_->graph.initializers.erase(it);
  }
  for (const auto& [name, tensor] : session->model_->graph.initializers) session->weight_bytes_ += tensor.byte_size();
  const auto& types = session->plan_->value_types();
  for (const ValueInfo* input : session->model_->graph.RequiredInputs()) {
    ValueInfo info = *input;
    session->inputs_.push_back(std::move(info));
  }
  for (const auto& output : session->model_->graph.outputs) {
    ValueInfo info = output;
    auto it = types.find(output.name);
    if (it != types.end() && it->second.kind != ValueType::Kind::kUnknown) {
      // Keep symbolic names from the file, fill in what inference learned.
      ValueType inferred = it->second;
      if (info.type.has_shape && inferred.has_shape && info.type.dims.size() == inferred.dims.size()) {
        for (size_t d = 0; d < inferred.dims.size(); ++d) {
          if (inferred.dims[d].symbol.empty()) inferred.dims[d].symbol = info.type.dims[d].symbol;
          if (!inferred.dims[d].known() && info.type.dims[d].known()) inferred.dims[d] = info.type.dims[d];
        }
      }
      if (info.type.kind == ValueType::Kind::kUnknown || !info.type.has_shape) info.type = inferred;
    }
    session->outputs_.push_back(std::move(info));
  }
  session->allocator_ = std::make_unique<core::CachingAllocator>();
  return session;
}

Status Session::CheckInput(const ValueInfo& declared, const core::Value& value) const {
  const ValueType& type = declared.type;
  if (type.kind == ValueType::Kind::kTensor) {
    if (!value.is_tensor()) return core::InvalidArgument("input '{}' expects a tensor", declared.name);
    const core::Tensor& tensor = value.tensor();
    if (type.dtype != core::DataType::kUndefined && tensor.dtype() != type.dtype) {
      return core::InvalidArgument("input '{}' expects {} {}, got {} {}", declared.name, type.ToString(),
                                   core::DataTypeName(type.dtype), core::ShapeToString(tensor.shape()),
                                   core::DataTypeName(tensor.dtype()));
    }
    if (type.has_shape) {
      bool match = tensor.rank() == static_cast<int64_t>(type.dims.size());
      for (size_t d = 0; match && d < type.dims.size(); ++d) {
        if (type.dims[d].known() && type.dims[d].value != tensor.dim(static_cast<int64_t>(d))) match = false;
      }
      if (!match) {
        return core::InvalidArgument("input '{}' expects {}, got {} {}", declared.name, type.ToString(),
                                     core::DataTypeName(tensor.dtype()), core::ShapeToString(tensor.shape()));
      }
    }
  } else if (type.kind == ValueType::Kind::kSequence) {
    if (!value.is_sequence()) return core::InvalidArgument("input '{}' expects a sequence", declared.name);
  }
  return Status::Ok();
}

Result<std::vector<core::Value>> Session::Run(const std::vector<NamedValue>& inputs,
                                              const std::vector<std::string>& output_names,
                                              const RunOptions& run_options) const {
  ASSIGN_OR_RETURN(std::vector<core::Value> bound, BindInputs(inputs));
  return RunBound(bound, output_names, run_options);
}

size_t Session::MemoryBytes() const { return weight_bytes_ + allocator_->cached_bytes(); }

Result<std::vector<core::Value>> Session::BindInputs(std::span<const NamedValue> inputs) const {
  const Graph& graph = model_->graph;
  std::vector<core::Value> ordered(graph.inputs.size());
  std::vector<bool> given(graph.inputs.size(), false);
  for (const auto& [name, value] : inputs) {
    size_t index = 0;
    while (index < graph.inputs.size() && graph.inputs[index].name != name) ++index;
    if (index == graph.inputs.size()) return core::InvalidArgument("unknown input '{}'", name);
    if (given[index]) return core::InvalidArgument("input '{}' given twice", name);
    RETURN_IF_ERROR(CheckInput(graph.inputs[index], value));
    ordered[index] = value;
    given[index] = true;
  }
  for (size_t i = 0; i < graph.inputs.size(); ++i) {
    if (given[i]) continue;
    if (graph.IsInitializer(graph.inputs[i].name)) {
      ordered[i] = core::Value(core::Tensor());  // undefined tensor: use the initializer
      continue;
    }
    if (graph.inputs[i].type.kind == ValueType::Kind::kOptional) continue;  // empty optional
    return core::InvalidArgument("missing input '{}' ({})", graph.inputs[i].name, graph.inputs[i].type.ToString());
  }
  return ordered;
}

Result<std::vector<core::Value>> Session::RunBound(std::span<const core::Value> bound,
                                                   std::span<const std::string> output_names,
                                                   const RunOptions& run_options) const {
  const Graph& graph = model_->graph;
  core::SetIntraOpThreads(options_.intra_op_threads);
  RunOptions options = run_options;
  if (!options.allocator) options.allocator = allocator_.get();
  std::optional<core::AccountedAllocator> accounted;
  if (options.memory) options.allocator = &accounted.emplace(*options.allocator, options.memory);
  std::vector<core::Value> outputs;
  if (core::Status status = plan_->Run(bound, {}, &outputs, options); !status.ok()) {
    // A refused charge surfaces in a kernel as "out of memory": say which
    // limit refused it, and where.
    core::Status refusal = options.memory ? options.memory->refusal() : core::Status::Ok();
    if (!refusal.ok())
      return core::Status(refusal.code(), fmt::format("{} (at {})", refusal.message(), status.message()));
    return status;
  }
  if (output_names.empty()) return outputs;
  std::vector<core::Value> selected;
  selected.reserve(output_names.size());
  for (const auto& name : output_names) {
    size_t index = 0;
    while (index < graph.outputs.size() && graph.outputs[index].name != name) ++index;
    if (index == graph.outputs.size()) return core::InvalidArgument("unknown output '{}'", name);
    selected.push_back(outputs[index]);
  }
  return selected;
}

}  // namespace berth::engine
