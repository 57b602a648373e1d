#include "engine/onnx/model_loader.h"

#include <fcntl.h>
#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>
#include <onnx/onnx_pb.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstring>

#include "core/regular_file.h"
#include "engine/onnx/graph_validation.h"
#include "engine/onnx/tensor_proto.h"

namespace berth::engine {
namespace {

using core::Result;
using core::Status;

constexpr int kMaxGraphDepth = 32;  // nested subgraphs (If inside Loop inside ...)

ValueType TypeFromProto(const onnx::TypeProto& proto) {
  switch (proto.value_case()) {
    case onnx::TypeProto::kTensorType: {
      const auto& tensor = proto.tensor_type();
      auto dtype = core::DataTypeFromOnnx(tensor.elem_type()).value_or(core::DataType::kUndefined);
      if (!tensor.has_shape()) return ValueType::TensorUnknownShape(dtype);
      std::vector<Dimension> dims;
      for (const auto& dim : tensor.shape().dim()) {
        Dimension d;
        if (dim.has_dim_value() && dim.dim_value() >= 0) d.value = dim.dim_value();
        if (dim.has_dim_param()) d.symbol = dim.dim_param();
        dims.push_back(std::move(d));
      }
      return ValueType::Tensor(dtype, std::move(dims));
    }
    case onnx::TypeProto::kSequenceType:
      return ValueType::Sequence(
          proto.sequence_type().has_elem_type() ? TypeFromProto(proto.sequence_type().elem_type()) : ValueType{});
    case onnx::TypeProto::kOptionalType:
      return ValueType::Optional(
          proto.optional_type().has_elem_type() ? TypeFromProto(proto.optional_type().elem_type()) : ValueType{});
    default:
      return ValueType{};
  }
}

class Converter {
 public:
  Converter(const onnx::ModelProto& model, std::filesystem::path model_dir, Model* out)
      : model_(model), model_dir_(std::move(model_dir)), out_(out) {}

  Status ConvertGraph(onnx::GraphProto& proto, Graph* graph, int depth) {
    if (depth > kMaxGraphDepth) return core::InvalidArgument("subgraphs nested deeper than {}", kMaxGraphDepth);
    graph->name = proto.name();
    for (const auto& input : proto.input())
      graph->inputs.push_back({input.name(), TypeFromProto(input.type()), input.doc_string()});
    for (const auto& output : proto.output()) {
      graph->outputs.push_back({output.name(), TypeFromProto(output.type()), output.doc_string()});
    }
    for (const auto& info : proto.value_info()) graph->value_types[info.name()] = TypeFromProto(info.type());
    for (auto& initializer : *proto.mutable_initializer()) {
      if (initializer.name().empty())
        return core::InvalidArgument("graph '{}' has an initializer with no name", graph->name);
      auto tensor = TensorFromProto(std::move(initializer), model_dir_);
      if (!tensor.ok()) return tensor.status().WithContext("initializer '" + initializer.name() + "'");
      // The protobuf copy (when the tensor did not take it) is not needed any
      // more: free it now to keep peak memory low.
      std::string().swap(*initializer.mutable_raw_data());
      graph->initializers[initializer.name()] = std::move(tensor).value();
    }
    for (const auto& sparse : proto.sparse_initializer()) {
      ASSIGN_OR_RETURN(core::Tensor dense, SparseToDense(sparse));
      graph->initializers[sparse.values().name()] = std::move(dense);
    }
    graph->nodes.reserve(static_cast<size_t>(proto.node_size()));
    for (auto& node_proto : *proto.mutable_node()) {
      Node node;
      RETURN_IF_ERROR(ConvertNode(node_proto, &node, depth));
      graph->nodes.push_back(std::move(node));
    }
    return Status::Ok();
  }

 private:
  Result<core::Tensor> SparseToDense(const onnx::SparseTensorProto& sparse) {
    const std::string name = sparse.values().name();
    ASSIGN_OR_RETURN(core::Tensor values, TensorFromProto(sparse.values(), model_dir_));
    ASSIGN_OR_RETURN(core::Tensor indices, TensorFromProto(sparse.indices(), model_dir_));
    core::TensorShape dims(sparse.dims().begin(), sparse.dims().end());
    ASSIGN_OR_RETURN(core::Tensor dense, core::Tensor::CreateZeroed(values.dtype(), dims));
    if (values.dtype() == core::DataType::kString) return core::Unimplemented("sparse initializer '{}': strings", name);
    int64_t nnz = values.element_count();
    int64_t total = dense.element_count();
    std::vector<int64_t> strides = core::RowMajorStrides(dims);
    bool linear = indices.rank() == 1;
    if (!(linear && indices.element_count() == nnz) &&
        !(indices.rank() == 2 && indices.dim(0) == nnz && indices.dim(1) == static_cast<int64_t>(dims.size()))) {
      return core::InvalidArgument("sparse initializer '{}': indices shape {} does not match {} values", name,
                                   core::ShapeToString(indices.shape()), nnz);
    }
    size_t element_size = values.element_size();
    for (int64_t k = 0; k < nnz; ++k) {
      int64_t offset = 0;
      if (linear) {
        offset = indices.IntegerAt(k);
      } else {
        for (size_t axis = 0; axis < dims.size(); ++axis) {
          int64_t index = indices.IntegerAt(k * static_cast<int64_t>(dims.size()) + static_cast<int64_t>(axis));
          if (index < 0 || index >= dims[axis]) offset = -1 - total;
          offset += index * strides[axis];
        }
      }
      if (offset < 0 || offset >= total)
        return core::InvalidArgument("sparse initializer '{}': index out of range", name);
      std::memcpy(static_cast<char*>(dense.raw_data()) + offset * element_size,
                  static_cast<const char*>(values.raw_data()) + k * element_size, element_size);
    }
    return dense;
  }

  Status ConvertNode(onnx::NodeProto& proto, Node* node, int depth) {
    node->name = proto.name();
    node->op_type = proto.op_type();
    node->domain = std::string(NormalizeDomain(proto.domain()));
    if (node->op_type.empty()) return core::InvalidArgument("a node has no op_type");
    node->opset = static_cast<int>(out_->OpsetFor(node->domain));
    node->inputs.assign(proto.input().begin(), proto.input().end());
    node->outputs.assign(proto.output().begin(), proto.output().end());
    for (auto& attr_proto : *proto.mutable_attribute()) {
      Attribute attr;
      attr.name = attr_proto.name();
      if (!attr_proto.ref_attr_name().empty()) {
        return core::InvalidArgument("{}: attribute '{}' refers to a function attribute outside a function",
                                     node->Describe(), attr.name);
      }
      switch (attr_proto.type()) {
        case onnx::AttributeProto::FLOAT:
          attr.type = Attribute::Type::kFloat;
          attr.f = attr_proto.f();
          break;
        case onnx::AttributeProto::INT:
          attr.type = Attribute::Type::kInt;
          attr.i = attr_proto.i();
          break;
        case onnx::AttributeProto::STRING:
          attr.type = Attribute::Type::kString;
          attr.s = attr_proto.s();
          break;
        case onnx::AttributeProto::TENSOR: {
          attr.type = Attribute::Type::kTensor;
          auto tensor = TensorFromProto(attr_proto.t(), model_dir_);
          if (!tensor.ok()) return tensor.status().WithContext(node->Describe() + " attribute '" + attr.name + "'");
          attr.t = std::move(tensor).value();
          break;
        }
        case onnx::AttributeProto::SPARSE_TENSOR: {
          attr.type = Attribute::Type::kTensor;
          auto tensor = SparseToDense(attr_proto.sparse_tensor());
          if (!tensor.ok()) return tensor.status().WithContext(node->Describe() + " attribute '" + attr.name + "'");
          attr.t = std::move(tensor).value();
          break;
        }
        case onnx::AttributeProto::GRAPH: {
          attr.type = Attribute::Type::kGraph;
          attr.g = std::make_shared<Graph>();
          RETURN_IF_ERROR(ConvertGraph(*attr_proto.mutable_g(), attr.g.get(), depth + 1));
          break;
        }
        case onnx::AttributeProto::FLOATS:
          attr.type = Attribute::Type::kFloats;
          attr.floats.assign(attr_proto.floats().begin(), attr_proto.floats().end());
          break;
        case onnx::AttributeProto::INTS:
          attr.type = Attribute::Type::kInts;
          attr.ints.assign(attr_proto.ints().begin(), attr_proto.ints().end());
          break;
        case onnx::AttributeProto::STRINGS:
          attr.type = Attribute::Type::kStrings;
          attr.strings.assign(attr_proto.strings().begin(), attr_proto.strings().end());
          break;
        case onnx::AttributeProto::TENSORS:
          attr.type = Attribute::Type::kTensors;
          for (const auto& t : attr_proto.tensors()) {
            ASSIGN_OR_RETURN(core::Tensor tensor, TensorFromProto(t, model_dir_));
            attr.tensors.push_back(std::move(tensor));
          }
          break;
        case onnx::AttributeProto::GRAPHS:
          attr.type = Attribute::Type::kGraphs;
          for (auto& g : *attr_proto.mutable_graphs()) {
            auto graph = std::make_shared<Graph>();
            RETURN_IF_ERROR(ConvertGraph(g, graph.get(), depth + 1));
            attr.graphs.push_back(std::move(graph));
          }
          break;
        case onnx::AttributeProto::TYPE_PROTO:
          attr.type = Attribute::Type::kTypeProto;
          attr.type_proto = TypeFromProto(attr_proto.tp());
          break;
        default:
          return core::Unimplemented("{}: attribute '{}' has unsupported type {}", node->Describe(), attr.name,
                                     static_cast<int>(attr_proto.type()));
      }
      node->attributes.push_back(std::move(attr));
    }
    return Status::Ok();
  }

  const onnx::ModelProto& model_;
  std::filesystem::path model_dir_;
  Model* out_;
};

Result<std::shared_ptr<Model>> ConvertModel(onnx::ModelProto& proto, const std::filesystem::path& model_dir) {
  if (!proto.has_graph()) return core::InvalidArgument("not an ONNX model: it has no graph");
  if (proto.ir_version() <= 0) return core::InvalidArgument("not an ONNX model: ir_version is missing");
  auto model = std::make_shared<Model>();
  model->ir_version = proto.ir_version();
  model->producer_name = proto.producer_name();
  model->producer_version = proto.producer_version();
  model->domain = proto.domain();
  model->model_version = proto.model_version();
  model->doc = proto.doc_string();
  for (const auto& opset : proto.opset_import()) {
    model->opset_imports[std::string(NormalizeDomain(opset.domain()))] = opset.version();
  }
  if (model->opset_imports.empty()) model->opset_imports[""] = 1;  // IR v1-2 files carry no opset
  for (const auto& prop : proto.metadata_props()) model->metadata.emplace_back(prop.key(), prop.value());
  if (proto.functions_size() > 0) {
    // Model-local functions are rare; a node that calls one fails later as an unknown op.
  }
  Converter converter(proto, model_dir, model.get());
  RETURN_IF_ERROR(converter.ConvertGraph(*proto.mutable_graph(), &model->graph, 0));
  RETURN_IF_ERROR(ValidateGraph(model->graph));
  return model;
}

}  // namespace

Result<std::shared_ptr<Model>> LoadModelFromBytes(std::string_view bytes, const std::filesystem::path& model_dir) {
  if (bytes.size() > static_cast<size_t>(INT_MAX)) {
    return core::InvalidArgument("model is {} bytes; files over 2 GiB must keep weights as external data",
                                 bytes.size());
  }
  google::protobuf::io::ArrayInputStream stream(bytes.data(), static_cast<int>(bytes.size()));
  google::protobuf::io::CodedInputStream coded(&stream);
  coded.SetTotalBytesLimit(INT_MAX);
  coded.SetRecursionLimit(200);
  onnx::ModelProto proto;
  if (!proto.ParseFromCodedStream(&coded) || !coded.ConsumedEntireMessage()) {
    return core::InvalidArgument("not a valid ONNX model: protobuf parsing failed (file truncated or not a model)");
  }
  return ConvertModel(proto, model_dir);
}

Result<std::shared_ptr<Model>> LoadModelFromFile(const std::filesystem::path& path) {
  ASSIGN_OR_RETURN(core::FileDescriptor file, core::OpenRegularFile(path, "model file"));
  const int fd = file.get();
  off_t size = ::lseek(fd, 0, SEEK_END);
  if (size < 0 || ::lseek(fd, 0, SEEK_SET) != 0) {
    return core::InvalidArgument("model '{}' is not a regular file", path.string());
  }
  if (size == 0) return core::InvalidArgument("model '{}' is empty", path.string());
  if (size > INT_MAX) {
    return core::InvalidArgument("model '{}' is {} bytes; files over 2 GiB must keep weights as external data",
                                 path.string(), static_cast<int64_t>(size));
  }
  // Stream from the descriptor: no second copy of the file in memory.
  google::protobuf::io::FileInputStream stream(fd, 1 << 20);
  google::protobuf::io::CodedInputStream coded(&stream);
  coded.SetTotalBytesLimit(INT_MAX);
  coded.SetRecursionLimit(200);
  auto proto = std::make_unique<onnx::ModelProto>();
  if (!proto->ParseFromCodedStream(&coded) || !coded.ConsumedEntireMessage()) {
    return core::InvalidArgument(
        "model '{}' is not a valid ONNX model: protobuf parsing failed (truncated or not a model)", path.string());
  }
  std::filesystem::path dir = path.parent_path();
  if (dir.empty()) dir = ".";
  auto model = ConvertModel(*proto, dir);
  if (!model.ok()) return model.status().WithContext("model '" + path.string() + "'");
  (*model)->path = path;
  return model;
}

}  // namespace berth::engine
