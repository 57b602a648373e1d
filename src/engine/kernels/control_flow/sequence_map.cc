// SequenceMap: applies a body graph to every element of its input
// sequence(s), producing one sequence per body output.
//
// Input 0 is a sequence; each further input is a sequence of the same length
// (read element-wise) or a tensor (passed whole to every iteration).
#include "engine/kernels/builtin_kernels.h"
#include "engine/kernels/common/kernel_util.h"
#include "engine/kernels/control_flow/control_flow_util.h"
#include "engine/ops/op_registry.h"

namespace berth::engine {
namespace {

using core::Result;
using core::Status;
using core::Tensor;
using core::TensorSequence;
using core::Value;

Status InferSequenceMap(InferenceContext& context) {
  const Graph* body = context.node().GetGraph("body");
  if (!body) return core::InvalidArgument("SequenceMap needs a body");
  std::vector<ValueType> inputs;
  for (int i = 0; i < context.input_count(); ++i) {
    const ValueType& type = context.input_type(i);
    if (type.kind == ValueType::Kind::kSequence) {
      inputs.push_back(type.element ? *type.element : ValueType{});
    } else {
      inputs.push_back(type);
    }
  }
  ASSIGN_OR_RETURN(std::vector<ValueType> outputs, context.InferSubgraph(*body, inputs));
  for (int o = 0; o < context.output_count() && static_cast<size_t>(o) < outputs.size(); ++o) {
    context.set_output_type(o, ValueType::Sequence(outputs[static_cast<size_t>(o)]));
  }
  return Status::Ok();
}

class SequenceMapKernel : public Kernel {
 public:
  explicit SequenceMapKernel(std::shared_ptr<const CompiledSubgraph> body) : body_(std::move(body)) {}

  Status Compute(KernelContext& context) const override {
    const Value* first = context.input(0);
    if (!first || !first->is_sequence()) {
      return core::InvalidArgument("input 0 must be a sequence, got {}", first ? DescribeValue(*first) : "nothing");
    }
    const size_t length = first->sequence().tensors.size();
    std::vector<const Value*> inputs;
    for (int i = 0; i < context.input_count(); ++i) {
      const Value* input = context.input(i);
      if (!input) return core::InvalidArgument("input {} is missing", i);
      if (input->is_sequence() && input->sequence().tensors.size() != length) {
        return core::InvalidArgument("input {} is a sequence of length {} but input 0 has length {}", i,
                                     input->sequence().tensors.size(), length);
      }
      if (!input->is_sequence() && !input->is_tensor()) {
        return core::InvalidArgument("input {} must be a sequence or a tensor, got {}", i, DescribeValue(*input));
      }
      inputs.push_back(input);
    }
    const size_t output_count = static_cast<size_t>(context.output_count());
    std::vector<TensorSequence> results(output_count);
    for (size_t o = 0; o < output_count; ++o) {
      // Element types for an empty result come from the body's static types.
      const ValueType type = body_->OutputType(o);
      if (type.is_tensor()) results[o].element_type = type.dtype;
      results[o].tensors.reserve(length);
    }
    std::vector<Value> body_inputs(inputs.size());
    std::vector<Value> outputs;
    for (size_t n = 0; n < length; ++n) {
      for (size_t i = 0; i < inputs.size(); ++i) {
        body_inputs[i] = inputs[i]->is_sequence() ? Value(inputs[i]->sequence().tensors[n]) : *inputs[i];
      }
      Status status = context.RunSubgraph(*body_, body_inputs, &outputs);
      if (!status.ok()) return status.WithContext(fmt::format("element {}", n));
      if (outputs.size() != output_count) {
        return core::Internal("body produced {} outputs for {} node outputs", outputs.size(), output_count);
      }
      for (size_t o = 0; o < output_count; ++o) {
        if (!outputs[o].is_tensor() || !outputs[o].tensor().defined()) {
          return core::InvalidArgument("element {}: body output {} must be a tensor, got {}", n, o,
                                       DescribeValue(outputs[o]));
        }
        const Tensor& tensor = outputs[o].tensor();
        if (results[o].tensors.empty()) {
          results[o].element_type = tensor.dtype();
        } else if (tensor.dtype() != results[o].element_type) {
          return core::InvalidArgument("element {}: body output {} is {} but earlier elements gave {}", n, o,
                                       tensor.DebugString(), core::DataTypeName(results[o].element_type));
        }
        results[o].tensors.push_back(tensor);
      }
    }
    for (size_t o = 0; o < output_count; ++o) context.SetOutput(static_cast<int>(o), std::move(results[o]));
    return Status::Ok();
  }

 private:
  std::shared_ptr<const CompiledSubgraph> body_;
};

Result<std::unique_ptr<Kernel>> CreateSequenceMap(KernelBuildContext& build) {
  const Node& node = build.node();
  const Graph* body = node.GetGraph("body");
  if (!body) return core::InvalidArgument("attribute 'body' (a graph) is missing");
  if (node.inputs.empty()) return core::InvalidArgument("SequenceMap needs an input sequence");
  if (body->inputs.size() != node.inputs.size()) {
    return core::InvalidArgument("body takes {} inputs but the node has {}", body->inputs.size(), node.inputs.size());
  }
  if (body->outputs.size() != node.outputs.size()) {
    return core::InvalidArgument("body has {} outputs but the node has {}", body->outputs.size(), node.outputs.size());
  }
  ASSIGN_OR_RETURN(auto plan, build.CompileSubgraph(*body));
  return std::unique_ptr<Kernel>(new SequenceMapKernel(std::move(plan)));
}

}  // namespace

void RegisterSequenceMapKernels(OpRegistry& registry) {
  registry.Register("", "SequenceMap", {17}, InferSequenceMap, CreateSequenceMap);
}

}  // namespace berth::engine
