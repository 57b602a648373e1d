// Scan: runs a body once per slice of its scan inputs, carrying state
// variables from one iteration to the next and stacking per-iteration scan
// outputs.
//
// Opset 9+ form: inputs (state..., scan_input...), with per-input scan axes
// and directions and per-output axes and directions. Opset 8 form: a leading
// optional sequence_lens input, every input batched on axis 0, scan axis 1,
// and scan outputs in iteration order padded (with zeros) to the longest
// sequence.
#include "engine/kernels/builtin_kernels.h"
#include "engine/kernels/common/kernel_util.h"
#include "engine/kernels/control_flow/control_flow_util.h"
#include "engine/ops/op_registry.h"

namespace berth::engine {
namespace {

using core::Result;
using core::Status;
using core::Tensor;
using core::Value;

// `type` with dim `axis` removed (axis may be negative); unknown rank stays unknown.
ValueType RemoveDim(const ValueType& type, int64_t axis) {
  if (!type.is_tensor()) return ValueType{};
  if (!type.has_shape) return type;
  auto normalized = core::NormalizeAxis(axis, static_cast<int64_t>(type.dims.size()));
  if (!normalized.ok()) return ValueType::TensorUnknownShape(type.dtype);
  ValueType out = type;
  out.dims.erase(out.dims.begin() + *normalized);
  return out;
}

Dimension DimAt(const ValueType& type, int64_t axis) {
  if (!type.is_tensor() || !type.has_shape) return Dimension{};
  auto normalized = core::NormalizeAxis(axis, static_cast<int64_t>(type.dims.size()));
  return normalized.ok() ? type.dims[static_cast<size_t>(*normalized)] : Dimension{};
}

// Reads an ints attribute that, when present, must have `count` entries;
// absent means `count` copies of `fallback`. Directions must be 0 or 1.
Result<std::vector<int64_t>> ReadPerInputInts(const Node& node, std::string_view name, size_t count, int64_t fallback,
                                              bool is_direction) {
  if (!node.HasAttribute(name)) return std::vector<int64_t>(count, fallback);
  std::vector<int64_t> values = node.GetInts(name);
  if (values.size() != count) {
    return core::InvalidArgument("attribute '{}' has {} entries, expected {}", name, values.size(), count);
  }
  if (is_direction) {
    for (int64_t v : values) {
      if (v != 0 && v != 1) return core::InvalidArgument("attribute '{}' holds {}; directions are 0 or 1", name, v);
    }
  }
  return values;
}

// Stacks same-typed tensors along a new leading axis.
Result<Tensor> StackTensors(const std::vector<Tensor>& items, core::Allocator& allocator, std::string_view what) {
  const Tensor& first = items.front();
  core::TensorShape shape = first.shape();
  shape.insert(shape.begin(), static_cast<int64_t>(items.size()));
  ASSIGN_OR_RETURN(Tensor out, Tensor::Create(first.dtype(), shape, allocator));
  const size_t stride = ElementStride(first.dtype());
  auto* dst = static_cast<unsigned char*>(out.raw_data());
  for (size_t i = 0; i < items.size(); ++i) {
    if (items[i].dtype() != first.dtype() || items[i].shape() != first.shape()) {
      return core::InvalidArgument("{}: batch {} gave {} but batch 0 gave {}", what, i, items[i].DebugString(),
                                   first.DebugString());
    }
    core::CopyElements(first.dtype(), items[i].raw_data(),
                       dst + i * static_cast<size_t>(first.element_count()) * stride, first.element_count());
  }
  return out;
}

// One run of the scan loop over `length` steps. `states` go in and come out
// updated; scan input j is sliced on `input_axes[j]` at step t (or
// length-1-t when reversed); scan output k is stacked on a new axis 0 at
// position t (or length-1-t when reversed) and is left undefined when
// length is 0.
Status RunScanLoop(KernelContext& context, const CompiledSubgraph& body, int64_t length, std::vector<Value>* states,
                   const std::vector<const Tensor*>& scan_inputs, const std::vector<int64_t>& input_axes,
                   const std::vector<int64_t>& input_directions, const std::vector<int64_t>& output_directions,
                   std::vector<Tensor>* stacked) {
  const size_t state_count = states->size();
  const size_t scan_output_count = output_directions.size();
  stacked->assign(scan_output_count, Tensor());
  std::vector<Value> body_inputs(state_count + scan_inputs.size());
  std::vector<Value> outputs;
  for (int64_t t = 0; t < length; ++t) {
    for (size_t i = 0; i < state_count; ++i) body_inputs[i] = std::move((*states)[i]);
    for (size_t j = 0; j < scan_inputs.size(); ++j) {
      const int64_t position = input_directions[j] ? length - 1 - t : t;
      ASSIGN_OR_RETURN(Tensor slice, SliceAlongAxis(*scan_inputs[j], input_axes[j], position, context.allocator()));
      body_inputs[state_count + j] = std::move(slice);
    }
    Status status = context.RunSubgraph(body, body_inputs, &outputs);
    if (!status.ok()) return status.WithContext(fmt::format("iteration {}", t));
    if (outputs.size() != state_count + scan_output_count) {
      return core::Internal("scan body produced {} outputs, expected {}", outputs.size(),
                            state_count + scan_output_count);
    }
    for (size_t i = 0; i < state_count; ++i) (*states)[i] = std::move(outputs[i]);
    for (size_t k = 0; k < scan_output_count; ++k) {
      const Value& item = outputs[state_count + k];
      if (!item.is_tensor() || !item.tensor().defined()) {
        return core::InvalidArgument("iteration {}: scan output {} must be a tensor, got {}", t, k,
                                     DescribeValue(item));
      }
      const Tensor& value = item.tensor();
      Tensor& out = (*stacked)[k];
      if (!out.defined()) {
        core::TensorShape shape = value.shape();
        shape.insert(shape.begin(), length);
        ASSIGN_OR_RETURN(out, Tensor::Create(value.dtype(), std::move(shape), context.allocator()));
      } else if (value.dtype() != out.dtype() ||
                 !std::equal(value.shape().begin(), value.shape().end(), out.shape().begin() + 1, out.shape().end())) {
        core::TensorShape first(out.shape().begin() + 1, out.shape().end());
        return core::InvalidArgument("iteration {}: scan output {} is {} but earlier iterations gave {}{}", t, k,
                                     value.DebugString(), core::DataTypeName(out.dtype()), core::ShapeToString(first));
      }
      const int64_t position = output_directions[k] ? length - 1 - t : t;
      auto* dst = static_cast<unsigned char*>(out.raw_data()) +
                  static_cast<size_t>(position * value.element_count()) * ElementStride(value.dtype());
      core::CopyElements(value.dtype(), value.raw_data(), dst, value.element_count());
    }
  }
  return Status::Ok();
}

struct ScanLayout {
  int state_count = 0;
  int scan_input_count = 0;
  int scan_output_count = 0;
};

// Checks the body against the node: (state..., scan_input...) in,
// (state..., scan_output...) out.
Result<ScanLayout> CheckScanBody(const Node& node, const Graph& body, int leading_inputs) {
  ScanLayout layout;
  const int64_t scan_inputs = node.GetInt("num_scan_inputs", -1);
  if (scan_inputs < 1) return core::InvalidArgument("attribute 'num_scan_inputs' must be at least 1");
  const int64_t states = static_cast<int64_t>(node.inputs.size()) - leading_inputs - scan_inputs;
  if (states < 0) {
    return core::InvalidArgument("num_scan_inputs is {} but the node has only {} inputs", scan_inputs,
                                 node.inputs.size());
  }
  layout.state_count = static_cast<int>(states);
  layout.scan_input_count = static_cast<int>(scan_inputs);
  if (body.inputs.size() != static_cast<size_t>(states + scan_inputs)) {
    return core::InvalidArgument("body takes {} inputs; {} states and {} scan inputs need {}", body.inputs.size(),
                                 states, scan_inputs, states + scan_inputs);
  }
  const int64_t scan_outputs = static_cast<int64_t>(body.outputs.size()) - states;
  if (scan_outputs < 0 || node.outputs.size() != body.outputs.size()) {
    return core::InvalidArgument("body has {} outputs and the node {}; both must be {} states plus the scan outputs",
                                 body.outputs.size(), node.outputs.size(), states);
  }
  layout.scan_output_count = static_cast<int>(scan_outputs);
  return layout;
}

// ---------------------------------------------------------------------------
// Scan-9 and later

Status InferScan9(InferenceContext& context) {
  const Node& node = context.node();
  const Graph* body = node.GetGraph("body");
  if (!body) return core::InvalidArgument("Scan needs a body");
  ASSIGN_OR_RETURN(ScanLayout layout, CheckScanBody(node, *body, 0));
  std::vector<int64_t> input_axes = node.GetInts("scan_input_axes");
  std::vector<int64_t> output_axes = node.GetInts("scan_output_axes");
  input_axes.resize(static_cast<size_t>(layout.scan_input_count), 0);
  output_axes.resize(static_cast<size_t>(layout.scan_output_count), 0);
  std::vector<ValueType> states;
  for (int i = 0; i < layout.state_count; ++i) states.push_back(context.input_type(i));
  std::vector<ValueType> slices;
  Dimension length;
  for (int j = 0; j < layout.scan_input_count; ++j) {
    const ValueType& type = context.input_type(layout.state_count + j);
    slices.push_back(RemoveDim(type, input_axes[static_cast<size_t>(j)]));
    Dimension d = DimAt(type, input_axes[static_cast<size_t>(j)]);
    if (!length.known() && d.known()) length = d;
    if (j == 0 && length.symbol.empty()) length.symbol = d.symbol;
  }
  ASSIGN_OR_RETURN(LoopBodyTypes types, InferLoopBody(context, *body, {}, states, slices, 0));
  for (int o = 0; o < context.output_count(); ++o) {
    const size_t index = static_cast<size_t>(o);
    if (o < layout.state_count) {
      context.set_output_type(o, types.carried[index]);
      continue;
    }
    if (index >= types.outputs.size()) continue;
    const ValueType& item = types.outputs[index];
    int64_t axis = output_axes[index - static_cast<size_t>(layout.state_count)];
    if (item.is_tensor() && item.has_shape) {
      auto normalized = core::NormalizeAxis(axis, static_cast<int64_t>(item.dims.size()) + 1);
      if (!normalized.ok()) continue;
      axis = *normalized;
    }
    context.set_output_type(o, InsertDim(item, axis, length));
  }
  return Status::Ok();
}

class Scan9Kernel : public Kernel {
 public:
  Scan9Kernel(std::shared_ptr<const CompiledSubgraph> body, ScanLayout layout, std::vector<int64_t> input_axes,
              std::vector<int64_t> input_directions, std::vector<int64_t> output_axes,
              std::vector<int64_t> output_directions)
      : body_(std::move(body)),
        layout_(layout),
        input_axes_(std::move(input_axes)),
        input_directions_(std::move(input_directions)),
        output_axes_(std::move(output_axes)),
        output_directions_(std::move(output_directions)) {}

  Status Compute(KernelContext& context) const override {
    std::vector<Value> states;
    for (int i = 0; i < layout_.state_count; ++i) {
      const Value* state = context.input(i);
      if (!state) return core::InvalidArgument("input {} (initial state) is missing", i);
      states.push_back(*state);
    }
    std::vector<const Tensor*> scan_inputs;
    std::vector<int64_t> axes;
    int64_t length = -1;
    for (int j = 0; j < layout_.scan_input_count; ++j) {
      const int index = layout_.state_count + j;
      ASSIGN_OR_RETURN(const Tensor* input, RequireTensor(context, index, "scan input"));
      auto axis = core::NormalizeAxis(input_axes_[static_cast<size_t>(j)], input->rank());
      if (!axis.ok()) return axis.status().WithContext(fmt::format("scan_input_axes[{}] for input {}", j, index));
      const int64_t extent = input->dim(*axis);
      if (length >= 0 && extent != length) {
        return core::InvalidArgument("scan input {} has {} steps on axis {} but scan input 0 has {}", j, extent, *axis,
                                     length);
      }
      length = extent;
      scan_inputs.push_back(input);
      axes.push_back(*axis);
    }
    std::vector<Tensor> stacked;
    RETURN_IF_ERROR(RunScanLoop(context, *body_, length, &states, scan_inputs, axes, input_directions_,
                                output_directions_, &stacked));
    for (int i = 0; i < layout_.state_count; ++i) context.SetOutput(i, std::move(states[static_cast<size_t>(i)]));
    for (int k = 0; k < layout_.scan_output_count; ++k) {
      const int index = layout_.state_count + k;
      if (!context.output_wanted(index)) continue;
      const int64_t axis = output_axes_[static_cast<size_t>(k)];
      const std::string what = fmt::format("scan output {}", k);
      if (length == 0) {
        ValueType item = body_->OutputType(static_cast<size_t>(index));
        int64_t normalized = axis;
        if (item.is_tensor() && item.has_shape) {
          auto n = core::NormalizeAxis(axis, static_cast<int64_t>(item.dims.size()) + 1);
          if (!n.ok()) return n.status().WithContext("scan_output_axes for " + what);
          normalized = *n;
        }
        ASSIGN_OR_RETURN(Tensor empty, EmptyStack(item, normalized, context.allocator(), what));
        context.SetOutput(index, std::move(empty));
        continue;
      }
      const Tensor& out = stacked[static_cast<size_t>(k)];
      auto normalized = core::NormalizeAxis(axis, out.rank());
      if (!normalized.ok()) return normalized.status().WithContext("scan_output_axes for " + what);
      ASSIGN_OR_RETURN(Tensor moved, MoveLeadingAxis(out, *normalized, context.allocator()));
      context.SetOutput(index, std::move(moved));
    }
    return Status::Ok();
  }

 private:
  std::shared_ptr<const CompiledSubgraph> body_;
  ScanLayout layout_;
  std::vector<int64_t> input_axes_;
  std::vector<int64_t> input_directions_;
  std::vector<int64_t> output_axes_;
  std::vector<int64_t> output_directions_;
};

Result<std::unique_ptr<Kernel>> CreateScan9(KernelBuildContext& build) {
  const Node& node = build.node();
  const Graph* body = node.GetGraph("body");
  if (!body) return core::InvalidArgument("attribute 'body' (a graph) is missing");
  ASSIGN_OR_RETURN(ScanLayout layout, CheckScanBody(node, *body, 0));
  const auto inputs = static_cast<size_t>(layout.scan_input_count);
  const auto outputs = static_cast<size_t>(layout.scan_output_count);
  ASSIGN_OR_RETURN(auto input_axes, ReadPerInputInts(node, "scan_input_axes", inputs, 0, false));
  ASSIGN_OR_RETURN(auto input_directions, ReadPerInputInts(node, "scan_input_directions", inputs, 0, true));
  ASSIGN_OR_RETURN(auto output_axes, ReadPerInputInts(node, "scan_output_axes", outputs, 0, false));
  ASSIGN_OR_RETURN(auto output_directions, ReadPerInputInts(node, "scan_output_directions", outputs, 0, true));
  if (node.opset < 11) {
    // Negative axes arrived with opset 11.
    for (const auto* axes : {&input_axes, &output_axes}) {
      for (int64_t axis : *axes) {
        if (axis < 0) return core::InvalidArgument("negative scan axis {} needs opset 11 or later", axis);
      }
    }
  }
  ASSIGN_OR_RETURN(auto plan, build.CompileSubgraph(*body));
  return std::unique_ptr<Kernel>(new Scan9Kernel(std::move(plan), layout, std::move(input_axes),
                                                 std::move(input_directions), std::move(output_axes),
                                                 std::move(output_directions)));
}

// ---------------------------------------------------------------------------
// Scan-8: batched

Status InferScan8(InferenceContext& context) {
  const Node& node = context.node();
  const Graph* body = node.GetGraph("body");
  if (!body) return core::InvalidArgument("Scan needs a body");
  ASSIGN_OR_RETURN(ScanLayout layout, CheckScanBody(node, *body, 1));
  std::vector<ValueType> states;
  for (int i = 0; i < layout.state_count; ++i) states.push_back(RemoveDim(context.input_type(1 + i), 0));
  std::vector<ValueType> slices;
  Dimension batch;
  Dimension length;
  for (int j = 0; j < layout.scan_input_count; ++j) {
    const ValueType& type = context.input_type(1 + layout.state_count + j);
    slices.push_back(RemoveDim(RemoveDim(type, 0), 0));
    if (j == 0) {
      batch = DimAt(type, 0);
      length = DimAt(type, 1);
    }
  }
  ASSIGN_OR_RETURN(LoopBodyTypes types, InferLoopBody(context, *body, {}, states, slices, 0));
  for (int o = 0; o < context.output_count(); ++o) {
    const size_t index = static_cast<size_t>(o);
    if (o < layout.state_count) {
      context.set_output_type(o, InsertDim(types.carried[index], 0, batch));
    } else if (index < types.outputs.size()) {
      context.set_output_type(o, InsertDim(InsertDim(types.outputs[index], 0, length), 0, batch));
    }
  }
  return Status::Ok();
}

class Scan8Kernel : public Kernel {
 public:
  Scan8Kernel(std::shared_ptr<const CompiledSubgraph> body, ScanLayout layout, std::vector<int64_t> directions)
      : body_(std::move(body)), layout_(layout), directions_(std::move(directions)) {}

  Status Compute(KernelContext& context) const override {
    std::vector<const Tensor*> states;
    std::vector<const Tensor*> scans;
    for (int i = 0; i < layout_.state_count; ++i) {
      ASSIGN_OR_RETURN(const Tensor* state, RequireTensor(context, 1 + i, "initial state"));
      states.push_back(state);
    }
    for (int j = 0; j < layout_.scan_input_count; ++j) {
      ASSIGN_OR_RETURN(const Tensor* scan, RequireTensor(context, 1 + layout_.state_count + j, "scan input"));
      if (scan->rank() < 2) {
        return core::InvalidArgument("scan input {} is {}; it needs a batch axis and a sequence axis", j,
                                     scan->DebugString());
      }
      scans.push_back(scan);
    }
    const int64_t batch = scans[0]->dim(0);
    const int64_t max_length = scans[0]->dim(1);
    for (size_t j = 0; j < scans.size(); ++j) {
      if (scans[j]->dim(0) != batch || scans[j]->dim(1) != max_length) {
        return core::InvalidArgument("scan input {} is {} but scan input 0 has batch {} and length {}", j,
                                     scans[j]->DebugString(), batch, max_length);
      }
    }
    for (size_t i = 0; i < states.size(); ++i) {
      if (states[i]->rank() < 1 || states[i]->dim(0) != batch) {
        return core::InvalidArgument("initial state {} is {}; its axis 0 must be the batch size {}", i,
                                     states[i]->DebugString(), batch);
      }
    }
    std::vector<int64_t> lengths(static_cast<size_t>(batch), max_length);
    if (const Tensor* sequence_lens = context.input_tensor(0)) {
      if (!core::IsInteger(sequence_lens->dtype()) || sequence_lens->element_count() != batch) {
        return core::InvalidArgument("input 0 (sequence_lens) is {}; it must hold {} integers",
                                     sequence_lens->DebugString(), batch);
      }
      for (int64_t b = 0; b < batch; ++b) {
        lengths[static_cast<size_t>(b)] = sequence_lens->IntegerAt(b);
        if (lengths[static_cast<size_t>(b)] < 0 || lengths[static_cast<size_t>(b)] > max_length) {
          return core::InvalidArgument("sequence_lens[{}] is {}; it must be in [0, {}]", b,
                                       lengths[static_cast<size_t>(b)], max_length);
        }
      }
    }

    core::Allocator& allocator = context.allocator();
    const std::vector<int64_t> axes(scans.size(), 0);
    const std::vector<int64_t> output_directions(static_cast<size_t>(layout_.scan_output_count), 0);
    std::vector<std::vector<Tensor>> final_states(states.size());
    std::vector<std::vector<Tensor>> batch_outputs(static_cast<size_t>(batch));
    for (int64_t b = 0; b < batch; ++b) {
      std::vector<Value> carried;
      for (const Tensor* state : states) {
        ASSIGN_OR_RETURN(Tensor slice, SliceAlongAxis(*state, 0, b, allocator));
        carried.emplace_back(std::move(slice));
      }
      std::vector<Tensor> batch_scans;
      std::vector<const Tensor*> scan_pointers;
      for (const Tensor* scan : scans) {
        ASSIGN_OR_RETURN(Tensor slice, SliceAlongAxis(*scan, 0, b, allocator));
        batch_scans.push_back(std::move(slice));
      }
      for (const Tensor& slice : batch_scans) scan_pointers.push_back(&slice);
      Status status = RunScanLoop(context, *body_, lengths[static_cast<size_t>(b)], &carried, scan_pointers, axes,
                                  directions_, output_directions, &batch_outputs[static_cast<size_t>(b)]);
      if (!status.ok()) return status.WithContext(fmt::format("batch {}", b));
      for (size_t i = 0; i < carried.size(); ++i) {
        if (!carried[i].is_tensor() || !carried[i].tensor().defined()) {
          return core::InvalidArgument("batch {}: state {} must be a tensor, got {}", b, i, DescribeValue(carried[i]));
        }
        final_states[i].push_back(carried[i].tensor());
      }
    }

    for (size_t i = 0; i < states.size(); ++i) {
      if (batch == 0) {
        context.SetOutput(static_cast<int>(i), *states[i]);
        continue;
      }
      ASSIGN_OR_RETURN(Tensor stacked, StackTensors(final_states[i], allocator, fmt::format("final state {}", i)));
      context.SetOutput(static_cast<int>(i), std::move(stacked));
    }
    for (int k = 0; k < layout_.scan_output_count; ++k) {
      const int index = layout_.state_count + k;
      if (!context.output_wanted(index)) continue;
      ASSIGN_OR_RETURN(Tensor out, AssembleScanOutput(context, k, batch, max_length, batch_outputs));
      context.SetOutput(index, std::move(out));
    }
    return Status::Ok();
  }

 private:
  // [batch, max_length, item...]: each batch's steps, then zeros.
  Result<Tensor> AssembleScanOutput(KernelContext& context, int k, int64_t batch, int64_t max_length,
                                    const std::vector<std::vector<Tensor>>& batch_outputs) const {
    const std::string what = fmt::format("scan output {}", k);
    const Tensor* model = nullptr;
    for (const auto& outputs : batch_outputs) {
      if (outputs[static_cast<size_t>(k)].defined()) {
        model = &outputs[static_cast<size_t>(k)];
        break;
      }
    }
    core::DataType dtype;
    core::TensorShape item_shape;
    if (model) {
      dtype = model->dtype();
      item_shape.assign(model->shape().begin() + 1, model->shape().end());
    } else {
      // No batch ran a step: the body's static type gives the item type.
      ASSIGN_OR_RETURN(Tensor empty, EmptyStack(body_->OutputType(static_cast<size_t>(layout_.state_count + k)), 0,
                                                context.allocator(), what));
      dtype = empty.dtype();
      item_shape.assign(empty.shape().begin() + 1, empty.shape().end());
    }
    core::TensorShape shape = item_shape;
    shape.insert(shape.begin(), {batch, max_length});
    ASSIGN_OR_RETURN(Tensor out, Tensor::CreateZeroed(dtype, shape, context.allocator()));
    const int64_t item_elements = core::ElementCount(item_shape);
    const size_t stride = ElementStride(dtype);
    auto* dst = static_cast<unsigned char*>(out.raw_data());
    for (int64_t b = 0; b < batch; ++b) {
      const Tensor& part = batch_outputs[static_cast<size_t>(b)][static_cast<size_t>(k)];
      if (!part.defined()) continue;
      if (part.dtype() != dtype ||
          !std::equal(item_shape.begin(), item_shape.end(), part.shape().begin() + 1, part.shape().end())) {
        return core::InvalidArgument("{}: batch {} gave {} per step but another batch gave {}{}", what, b,
                                     part.DebugString(), core::DataTypeName(dtype), core::ShapeToString(item_shape));
      }
      core::CopyElements(dtype, part.raw_data(), dst + static_cast<size_t>(b * max_length * item_elements) * stride,
                         part.element_count());
    }
    return out;
  }

  std::shared_ptr<const CompiledSubgraph> body_;
  ScanLayout layout_;
  std::vector<int64_t> directions_;
};

Result<std::unique_ptr<Kernel>> CreateScan8(KernelBuildContext& build) {
  const Node& node = build.node();
  const Graph* body = node.GetGraph("body");
  if (!body) return core::InvalidArgument("attribute 'body' (a graph) is missing");
  ASSIGN_OR_RETURN(ScanLayout layout, CheckScanBody(node, *body, 1));
  ASSIGN_OR_RETURN(auto directions,
                   ReadPerInputInts(node, "directions", static_cast<size_t>(layout.scan_input_count), 0, true));
  ASSIGN_OR_RETURN(auto plan, build.CompileSubgraph(*body));
  return std::unique_ptr<Kernel>(new Scan8Kernel(std::move(plan), layout, std::move(directions)));
}

}  // namespace

void RegisterScanKernels(OpRegistry& registry) {
  registry.Register("", "Scan", {8}, InferScan8, CreateScan8);
  // 9: unbatched, per-input axes and directions; 11: negative axes; 16: more types.
  registry.Register("", "Scan", {9, 11, 16}, InferScan9, CreateScan9);
}

}  // namespace berth::engine
