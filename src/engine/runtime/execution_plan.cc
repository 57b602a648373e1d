#include "engine/runtime/execution_plan.h"

#include <algorithm>
#include <chrono>

#include "engine/onnx/graph_validation.h"
#include "engine/ops/type_inference.h"

namespace berth::engine {

using core::Result;
using core::Status;
using core::Value;

// ---------------------------------------------------------------------------

class ExecutionPlan::BuildContext : public KernelBuildContext {
 public:
  BuildContext(ExecutionPlan* plan, const Node& node, const OpRegistry& registry,
               const std::vector<std::string>& implicit_names)
      : plan_(plan), node_(node), registry_(registry), implicit_names_(implicit_names) {}
  const Node& node() const override { return node_; }
  const Graph& graph() const override { return *plan_->graph_; }
  const core::Tensor* constant_input(int index) const override {
    if (!node_.HasInput(static_cast<size_t>(index))) return nullptr;
    int slot = plan_->slot_of_.at(node_.inputs[index]);
    if (!plan_->is_constant_[slot]) return nullptr;
    const Value& value = plan_->constants_[slot];
    return value.is_tensor() ? &value.tensor() : nullptr;
  }
  const ValueType* input_type(int index) const override {
    if (!node_.HasInput(static_cast<size_t>(index))) return nullptr;
    auto it = plan_->value_types_.find(node_.inputs[index]);
    return it == plan_->value_types_.end() ? nullptr : &it->second;
  }
  Result<std::shared_ptr<const CompiledSubgraph>> CompileSubgraph(const Graph& graph) override {
    std::unordered_map<std::string, ValueType> visible;
    for (const auto& name : OuterScopeReferences(graph)) {
      auto it = plan_->value_types_.find(name);
      visible[name] = it == plan_->value_types_.end() ? ValueType{} : it->second;
    }
    ASSIGN_OR_RETURN(std::shared_ptr<ExecutionPlan> child, Compile(graph, registry_, visible));
    for (const auto& name : child->outer_names_) {
      auto it = std::find(implicit_names_.begin(), implicit_names_.end(), name);
      if (it == implicit_names_.end()) {
        return core::Internal("{}: subgraph reads '{}' which is not an implicit input", node_.Describe(), name);
      }
      child->outer_binding_.push_back(static_cast<int>(it - implicit_names_.begin()));
    }
    plan_->children_.push_back(child);
    return std::shared_ptr<const CompiledSubgraph>(child);
  }

 private:
  ExecutionPlan* plan_;
  const Node& node_;
  const OpRegistry& registry_;
  const std::vector<std::string>& implicit_names_;
};

Result<std::shared_ptr<ExecutionPlan>> ExecutionPlan::Compile(const Graph& graph, const OpRegistry& registry,
                                                              const ValueTypes& outer_types, ValueTypes* inferred) {
  auto plan = std::shared_ptr<ExecutionPlan>(new ExecutionPlan());
  plan->graph_ = &graph;
  auto new_slot = [&](const std::string& name) {
    auto [it, inserted] = plan->slot_of_.emplace(name, plan->slot_count_);
    if (inserted) ++plan->slot_count_;
    return it->second;
  };

  // Outer-scope values actually referenced, in a stable order.
  for (const auto& name : OuterScopeReferences(graph)) {
    plan->outer_names_.push_back(name);
    plan->outer_slots_.push_back(new_slot(name));
  }
  for (const auto& input : graph.inputs) plan->input_slots_.push_back(new_slot(input.name));
  for (const auto& [name, tensor] : graph.initializers) new_slot(name);
  for (const auto& node : graph.nodes) {
    for (const auto& output : node.outputs) {
      if (!output.empty()) new_slot(output);
    }
  }
  plan->constants_.resize(plan->slot_count_);
  plan->is_constant_.assign(plan->slot_count_, false);
  for (const auto& [name, tensor] : graph.initializers) {
    int slot = plan->slot_of_[name];
    plan->constants_[slot] = Value(tensor);
    // An initializer listed as a graph input is a default the caller may override.
    bool overridable = std::any_of(graph.inputs.begin(), graph.inputs.end(),
                                   [&](const ValueInfo& input) { return input.name == name; });
    plan->is_constant_[slot] = !overridable;
  }
  for (const auto& output : graph.outputs) plan->output_slots_.push_back(plan->slot_of_.at(output.name));

  if (inferred) {
    plan->value_types_ = std::move(*inferred);
    RETURN_IF_ERROR(CompleteGraphTypes(graph, registry, &plan->value_types_));
  } else {
    RETURN_IF_ERROR(InferGraphTypes(graph, registry, outer_types, &plan->value_types_));
  }
  ASSIGN_OR_RETURN(std::vector<size_t> order, TopologicalOrder(graph));

  std::vector<int> last_use(plan->slot_count_, -1);
  for (size_t index : order) {
    const Node& node = graph.nodes[index];
    const OpDefinition* definition = registry.Find(node.domain, node.op_type, node.opset);
    if (!definition) {
      std::string domain = node.domain.empty() ? "ai.onnx" : node.domain;
      if (registry.Knows(node.domain, node.op_type)) {
        return core::Unimplemented("{}: op '{}' (domain '{}') is not supported at opset {}", node.Describe(),
                                   node.op_type, domain, node.opset);
      }
      return core::Unimplemented("{}: unknown op '{}' (domain '{}', opset {})", node.Describe(), node.op_type, domain,
                                 node.opset);
    }
    Step step;
    step.node = &node;
    for (const auto& input : node.inputs) step.inputs.push_back(input.empty() ? -1 : plan->slot_of_.at(input));
    for (const auto& output : node.outputs) step.outputs.push_back(output.empty() ? -1 : plan->slot_of_.at(output));
    std::vector<std::string> implicit_names;
    for (const auto& attr : node.attributes) {
      std::vector<const Graph*> subgraphs;
      if (attr.g) subgraphs.push_back(attr.g.get());
      for (const auto& g : attr.graphs) subgraphs.push_back(g.get());
      for (const Graph* sub : subgraphs) {
        for (const auto& name : OuterScopeReferences(*sub)) {
          if (std::find(implicit_names.begin(), implicit_names.end(), name) == implicit_names.end()) {
            implicit_names.push_back(name);
            step.implicit_inputs.push_back(plan->slot_of_.at(name));
          }
        }
      }
    }
    BuildContext build(plan.get(), node, registry, implicit_names);
    auto kernel = definition->create(build);
    if (!kernel.ok()) return kernel.status().WithContext(node.Describe());
    step.kernel = std::move(kernel).value();
    int step_index = static_cast<int>(plan->steps_.size());
    for (int slot : step.inputs) {
      if (slot >= 0) last_use[slot] = step_index;
    }
    for (int slot : step.implicit_inputs) last_use[slot] = step_index;
    plan->steps_.push_back(std::move(step));
  }
  // Values never read after being produced die right after their producer.
  for (int s = 0; s < static_cast<int>(plan->steps_.size()); ++s) {
    for (int slot : plan->steps_[s].outputs) {
      if (slot >= 0 && last_use[slot] < s) last_use[slot] = s;
    }
  }
  ReleaseConstantsKeptByKernels(*plan);
  std::vector<bool> keep(plan->slot_count_, false);
  for (int slot : plan->output_slots_) keep[slot] = true;
  for (int slot = 0; slot < plan->slot_count_; ++slot) {
    if (last_use[slot] >= 0 && !keep[slot] && !plan->is_constant_[slot]) {
      plan->steps_[last_use[slot]].release_after.push_back(slot);
    }
  }
  return plan;
}

Status ExecutionPlan::CheckBounds(const RunOptions& options, size_t step) const {
  if (options.cancelled && options.cancelled->load(std::memory_order_relaxed)) {
    return Status(core::StatusCode::kCancelled,
                  fmt::format("graph '{}': cancelled before step {} of {}", graph_->name, step + 1, steps_.size()));
  }
  if (std::chrono::steady_clock::now() > options.deadline) {
    return Status(core::StatusCode::kDeadlineExceeded,
                  fmt::format("graph '{}': the compute deadline passed before step {} of {}", graph_->name, step + 1,
                              steps_.size()));
  }
  return Status::Ok();
}

ValueType ExecutionPlan::OutputType(size_t index) const {
  if (index >= graph_->outputs.size()) return ValueType{};
  auto it = value_types_.find(graph_->outputs[index].name);
  if (it != value_types_.end() && it->second.kind != ValueType::Kind::kUnknown) return it->second;
  return graph_->outputs[index].type;
}

void ExecutionPlan::ReleaseConstantsKeptByKernels(ExecutionPlan& plan) {
  // A constant goes when it has readers and each is a kernel input the kernel
  // keeps itself; any other use (another kernel, a subgraph, a graph output)
  // keeps it.
  std::vector<bool> kept(plan.slot_count_, false), needed(plan.slot_count_, false);
  for (const Step& step : plan.steps_) {
    for (size_t i = 0; i < step.inputs.size(); ++i) {
      const int slot = step.inputs[i];
      if (slot < 0) continue;
      if (step.kernel->KeepsConstantInput(static_cast<int>(i))) {
        kept[slot] = true;
      } else {
        needed[slot] = true;
      }
    }
    for (int slot : step.implicit_inputs) needed[slot] = true;
  }
  for (int slot : plan.output_slots_) needed[slot] = true;
  for (const auto& [name, slot] : plan.slot_of_) {
    if (plan.is_constant_[slot] && kept[slot] && !needed[slot]) {
      plan.constants_[slot] = Value();
      plan.released_constants_.push_back(name);
    }
  }
  std::sort(plan.released_constants_.begin(), plan.released_constants_.end());
}

// ---------------------------------------------------------------------------

class ExecutionPlan::StepContext : public KernelContext {
 public:
  StepContext(const ExecutionPlan& plan, std::vector<Value>& values, core::Allocator& allocator,
              const RunOptions& options)
      : plan_(plan), values_(values), allocator_(allocator), options_(options) {}

  void SetStep(const Step* step) { step_ = step; }

  int input_count() const override { return static_cast<int>(step_->inputs.size()); }
  const Value* input(int index) const override {
    if (index < 0 || index >= input_count()) return nullptr;
    int slot = step_->inputs[index];
    if (slot < 0) return nullptr;
    return plan_.is_constant_[slot] ? &plan_.constants_[slot] : &values_[slot];
  }
  int output_count() const override { return static_cast<int>(step_->outputs.size()); }
  bool output_wanted(int index) const override {
    return index >= 0 && index < output_count() && step_->outputs[index] >= 0;
  }
  Result<core::Tensor*> AllocateOutput(int index, core::DataType dtype, core::TensorShape shape) override {
    if (index < 0 || index >= output_count()) {
      return core::Internal("{}: output {} out of range", step_->node->Describe(), index);
    }
    ASSIGN_OR_RETURN(core::Tensor tensor, core::Tensor::Create(dtype, std::move(shape), allocator_));
    int slot = step_->outputs[index];
    if (slot < 0) {
      scratch_ = Value(std::move(tensor));
      return &scratch_.tensor();
    }
    values_[slot] = Value(std::move(tensor));
    return &values_[slot].tensor();
  }
  Result<core::Tensor*> AllocateBlockedOutput(int index, core::DataType dtype, core::TensorShape shape,
                                              core::TensorLayout layout) override {
    if (index < 0 || index >= output_count()) {
      return core::Internal("{}: output {} out of range", step_->node->Describe(), index);
    }
    ASSIGN_OR_RETURN(core::Tensor tensor, core::Tensor::CreateBlocked(dtype, std::move(shape), layout, allocator_));
    int slot = step_->outputs[index];
    Value& target = slot < 0 ? scratch_ : values_[slot];
    target = Value(std::move(tensor));
    return &target.tensor();
  }
  void SetOutput(int index, Value value) override {
    if (index < 0 || index >= output_count()) return;
    int slot = step_->outputs[index];
    if (slot >= 0) values_[slot] = std::move(value);
  }
  core::Allocator& allocator() override { return allocator_; }
  Status RunSubgraph(const CompiledSubgraph& subgraph, std::span<const Value> inputs,
                     std::vector<Value>* outputs) override {
    // Every CompiledSubgraph a kernel holds came from BuildContext::CompileSubgraph.
    const auto& plan = static_cast<const ExecutionPlan&>(subgraph);
    std::vector<const Value*> outer;
    outer.reserve(plan.outer_binding_.size());
    for (int binding : plan.outer_binding_) {
      int slot = step_->implicit_inputs[binding];
      outer.push_back(plan_.is_constant_[slot] ? &plan_.constants_[slot] : &values_[slot]);
    }
    RunOptions child_options;
    child_options.allocator = &allocator_;
    child_options.deadline = options_.deadline;
    child_options.cancelled = options_.cancelled;
    return plan.Run(inputs, outer, outputs, child_options);
  }

 private:
  const ExecutionPlan& plan_;
  std::vector<Value>& values_;
  core::Allocator& allocator_;
  const RunOptions& options_;
  const Step* step_ = nullptr;
  Value scratch_;
};

Status ExecutionPlan::Run(std::span<const Value> inputs, std::span<const Value* const> outer,
                          std::vector<Value>* outputs, const RunOptions& options) const {
  if (inputs.size() != input_slots_.size()) {
    return core::InvalidArgument("graph '{}' takes {} inputs, got {}", graph_->name, input_slots_.size(),
                                 inputs.size());
  }
  if (outer.size() != outer_slots_.size()) {
    return core::Internal("graph '{}' needs {} outer values, got {}", graph_->name, outer_slots_.size(), outer.size());
  }
  core::Allocator& allocator = options.allocator ? *options.allocator : core::HeapAllocator();
  std::vector<Value> values(static_cast<size_t>(slot_count_));
  for (size_t i = 0; i < outer.size(); ++i) values[outer_slots_[i]] = *outer[i];
  for (size_t i = 0; i < inputs.size(); ++i) {
    int slot = input_slots_[i];
    const Value& given = inputs[i];
    bool absent = given.is_tensor() ? !given.tensor().defined() : false;
    if (absent && constants_[slot].is_tensor()) {
      values[slot] = constants_[slot];
    } else {
      values[slot] = given;
    }
  }
  StepContext context(*this, values, allocator, options);
  const bool bounded = options.cancelled || options.deadline != std::chrono::steady_clock::time_point::max();
  if (bounded) RETURN_IF_ERROR(CheckBounds(options, 0));
  for (size_t s = 0; s < steps_.size(); ++s) {
    const Step& step = steps_[s];
    if (bounded && s > 0) RETURN_IF_ERROR(CheckBounds(options, s));
    context.SetStep(&step);
    if (!step.kernel->AcceptsBlockedInputs()) {
      // Blocked layouts are assigned only where every consumer reads them;
      // anything else reaching here is a bug, never silently misread data.
      for (int slot : step.inputs) {
        if (slot < 0 || is_constant_[slot]) continue;
        const Value& value = values[slot];
        if (value.is_tensor() && !value.tensor().is_plain()) {
          return core::Internal("{}: received a {} tensor it cannot read", step.node->Describe(),
                                value.tensor().DebugString());
        }
      }
    }
    Status status;
    if (options.on_step) {
      auto start = std::chrono::steady_clock::now();
      status = step.kernel->Compute(context);
      double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
      options.on_step(*step.node, ms);
    } else {
      status = step.kernel->Compute(context);
    }
    if (!status.ok()) return status.WithContext(step.node->Describe());
    for (int slot : step.release_after) values[slot] = Value();
  }
  outputs->clear();
  outputs->reserve(output_slots_.size());
  for (int slot : output_slots_) {
    outputs->push_back(is_constant_[slot] ? constants_[slot] : values[slot]);
    if (outputs->back().is_tensor() && !outputs->back().tensor().is_plain()) {
      return core::Internal("graph '{}': an output was left in a blocked layout", graph_->name);
    }
  }
  return Status::Ok();
}

}  // namespace berth::engine
