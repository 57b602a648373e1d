#include "llm/model/model_weights.h"

#include <fmt/format.h>

#include <set>
#include <string>

namespace berth::llm {
namespace {

using core::InvalidArgument;

std::string DimsText(const std::vector<int64_t>& dims) { return fmt::format("[{}]", fmt::join(dims, ", ")); }

class Binder {
 public:
  Binder(const GgufFile& file, ModelWeights* weights) : file_(file), weights_(weights) {}

  const GgufTensor* Find(const std::string& name) {
    const GgufTensor* tensor = file_.FindTensor(name);
    if (tensor) used_.insert(tensor->name);
    return tensor;
  }

  core::Result<const GgufTensor*> Require(const std::string& name, const std::vector<int64_t>& dims) {
    const GgufTensor* tensor = Find(name);
    if (!tensor) return InvalidArgument("{}: tensor '{}' is missing", file_.name(), name);
    RETURN_IF_ERROR(CheckShape(*tensor, dims));
    weights_->bytes += tensor->bytes;
    weights_->parameters += tensor->elements();
    return tensor;
  }

  core::Status CheckShape(const GgufTensor& tensor, const std::vector<int64_t>& dims) {
    if (tensor.dims != dims) {
      return InvalidArgument("{}: tensor '{}' has shape {}, the architecture needs {}", file_.name(), tensor.name,
                             DimsText(tensor.dims), DimsText(dims));
    }
    return core::Status::Ok();
  }

  core::Result<const float*> Vector(const std::string& name, int64_t length) {
    ASSIGN_OR_RETURN(const GgufTensor* tensor, Require(name, {length}));
    if (tensor->type != GgmlType::kF32) {
      return InvalidArgument("{}: tensor '{}' is {}, berth needs F32 for norms and biases", file_.name(), name,
                             TypeName(tensor->type));
    }
    return reinterpret_cast<const float*>(tensor->data);
  }

  core::Result<const float*> OptionalVector(const std::string& name, int64_t length) {
    if (!file_.FindTensor(name)) return static_cast<const float*>(nullptr);
    return Vector(name, length);
  }

  core::Result<WeightMatrix> Matrix(const std::string& name, int64_t cols, int64_t rows) {
    ASSIGN_OR_RETURN(const GgufTensor* tensor, Require(name, {cols, rows}));
    return MatrixOf(*tensor);
  }

  core::Result<WeightMatrix> MatrixOf(const GgufTensor& tensor) {
    if (!IsComputeType(tensor.type)) {
      return InvalidArgument(
          "{}: tensor '{}' is {}, which berth does not compute with (F32, F16, BF16, Q8_0, "
          "Q4_0, Q4_1, Q5_0, Q5_1, Q4_K, Q5_K, Q6_K)",
          file_.name(), tensor.name, TypeName(tensor.type));
    }
    WeightMatrix matrix;
    matrix.type = tensor.type;
    matrix.data = tensor.data;
    matrix.cols = tensor.dims[0];
    matrix.rows = tensor.dims[1];
    matrix.row_bytes = tensor.bytes / static_cast<uint64_t>(matrix.rows);
    return matrix;
  }

  core::Status CheckAllUsed() const {
    for (const GgufTensor& tensor : file_.tensors()) {
      if (!used_.count(tensor.name)) {
        return InvalidArgument("{}: tensor '{}' is not part of the architecture (unexpected extra tensor)",
                               file_.name(), tensor.name);
      }
    }
    return core::Status::Ok();
  }

 private:
  static std::string_view TypeName(GgmlType type) {
    auto traits = TraitsOf(static_cast<uint32_t>(type));
    return traits ? traits->name : std::string_view("unknown");
  }

  const GgufFile& file_;
  ModelWeights* weights_;
  std::set<std::string_view> used_;
};

}  // namespace

bool IsComputeType(GgmlType type) {
  switch (type) {
    case GgmlType::kF32:
    case GgmlType::kF16:
    case GgmlType::kBF16:
    case GgmlType::kQ8_0:
    case GgmlType::kQ4_0:
    case GgmlType::kQ4_1:
    case GgmlType::kQ5_0:
    case GgmlType::kQ5_1:
    case GgmlType::kQ4_K:
    case GgmlType::kQ5_K:
    case GgmlType::kQ6_K:
      return true;
    default:
      return false;
  }
}

core::Result<ModelWeights> BindModelWeights(const GgufFile& file, const ModelConfig& config) {
  ModelWeights weights;
  Binder bind(file, &weights);
  const int64_t embd = config.n_embd;
  ASSIGN_OR_RETURN(weights.token_embd, bind.Matrix("token_embd.weight", embd, config.n_vocab));
  ASSIGN_OR_RETURN(weights.output_norm, bind.Vector("output_norm.weight", embd));
  if (file.FindTensor("output.weight")) {
    ASSIGN_OR_RETURN(weights.output, bind.Matrix("output.weight", embd, config.n_vocab));
  } else {
    weights.output = weights.token_embd;
    weights.tied_output = true;
  }
  ASSIGN_OR_RETURN(weights.rope_freqs, bind.OptionalVector("rope_freqs.weight", config.n_rot / 2));
  const ArchitectureTraits& arch = *config.arch;
  weights.layers.resize(static_cast<size_t>(config.n_layer));
  for (int64_t i = 0; i < config.n_layer; ++i) {
    LayerWeights& layer = weights.layers[static_cast<size_t>(i)];
    auto name = [i](std::string_view what) { return fmt::format("blk.{}.{}", i, what); };
    ASSIGN_OR_RETURN(layer.attn_norm, bind.Vector(name("attn_norm.weight"), embd));
    ASSIGN_OR_RETURN(layer.wq, bind.Matrix(name("attn_q.weight"), embd, config.q_dim()));
    ASSIGN_OR_RETURN(layer.wk, bind.Matrix(name("attn_k.weight"), embd, config.kv_dim()));
    ASSIGN_OR_RETURN(layer.wv, bind.Matrix(name("attn_v.weight"), embd, config.kv_dim()));
    ASSIGN_OR_RETURN(layer.wo, bind.Matrix(name("attn_output.weight"), config.q_dim(), embd));
    if (arch.qkv_bias) {
      ASSIGN_OR_RETURN(layer.bq, bind.Vector(name("attn_q.bias"), config.q_dim()));
      ASSIGN_OR_RETURN(layer.bk, bind.Vector(name("attn_k.bias"), config.kv_dim()));
      ASSIGN_OR_RETURN(layer.bv, bind.Vector(name("attn_v.bias"), config.kv_dim()));
    }
    if (arch.qk_norm) {
      ASSIGN_OR_RETURN(layer.q_norm, bind.Vector(name("attn_q_norm.weight"), config.head_dim));
      ASSIGN_OR_RETURN(layer.k_norm, bind.Vector(name("attn_k_norm.weight"), config.head_dim));
    }
    ASSIGN_OR_RETURN(layer.ffn_norm, bind.Vector(name("ffn_norm.weight"), embd));
    ASSIGN_OR_RETURN(layer.gate, bind.Matrix(name("ffn_gate.weight"), embd, config.n_ff));
    ASSIGN_OR_RETURN(layer.up, bind.Matrix(name("ffn_up.weight"), embd, config.n_ff));
    ASSIGN_OR_RETURN(layer.down, bind.Matrix(name("ffn_down.weight"), config.n_ff, embd));
  }
  RETURN_IF_ERROR(bind.CheckAllUsed());
  return weights;
}

}  // namespace berth::llm
