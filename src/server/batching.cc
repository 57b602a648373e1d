#include "server/batching.h"

#include <cstring>
#include <string>

namespace berth::server {
namespace {

const core::Tensor* FindInput(const InferRequest& request, std::string_view name) {
  for (const auto& [input_name, value] : request.inputs) {
    if (input_name == name) return value.is_tensor() ? &value.tensor() : nullptr;
  }
  return nullptr;
}

}  // namespace

int64_t RequestRows(const InferRequest& request) {
  if (request.inputs.empty()) return 1;
  const core::Value& first = request.inputs.front().second;
  if (!first.is_tensor() || first.tensor().rank() == 0) return 1;
  return first.tensor().dim(0);
}

bool SameBatchSignature(const InferRequest& a, const InferRequest& b) {
  if (a.inputs.size() != b.inputs.size() || a.outputs != b.outputs) return false;
  for (const auto& [name, value] : a.inputs) {
    const core::Tensor* other = FindInput(b, name);
    if (!value.is_tensor() || other == nullptr) return false;
    const core::Tensor& tensor = value.tensor();
    if (tensor.dtype() != other->dtype() || tensor.rank() != other->rank() || tensor.rank() == 0) return false;
    if (!tensor.is_plain() || !other->is_plain()) return false;
    for (int64_t d = 1; d < tensor.rank(); ++d) {
      if (tensor.dim(d) != other->dim(d)) return false;
    }
  }
  return true;
}

core::Result<std::vector<NamedValue>> JoinInputs(std::span<const InferRequest* const> requests,
                                                 core::Allocator& allocator) {
  std::vector<NamedValue> joined;
  if (requests.empty()) return joined;
  for (const auto& [name, first_value] : requests.front()->inputs) {
    const core::Tensor& first = first_value.tensor();
    core::TensorShape shape = first.shape();
    shape[0] = 0;
    for (const InferRequest* request : requests) shape[0] += FindInput(*request, name)->dim(0);
    ASSIGN_OR_RETURN(core::Tensor tensor, core::Tensor::Create(first.dtype(), shape, allocator));
    int64_t offset = 0;  // elements
    for (const InferRequest* request : requests) {
      const core::Tensor& part = *FindInput(*request, name);
      if (part.dtype() == core::DataType::kString) {
        const auto values = part.values<std::string>();
        std::copy(values.begin(), values.end(), tensor.data<std::string>() + offset);
      } else if (part.byte_size() > 0) {
        std::memcpy(static_cast<char*>(tensor.raw_data()) + static_cast<size_t>(offset) * tensor.element_size(),
                    part.raw_data(), part.byte_size());
      }
      offset += part.element_count();
    }
    joined.emplace_back(name, std::move(tensor));
  }
  return joined;
}

core::Result<std::vector<core::Tensor>> SplitRows(const core::Tensor& tensor, std::span<const int64_t> rows) {
  int64_t total = 0;
  for (int64_t r : rows) total += r;
  if (tensor.rank() == 0 || tensor.dim(0) != total || !tensor.is_plain()) {
    return core::FailedPrecondition("output {} does not have the batch's {} rows as its first dimension",
                                    tensor.DebugString(), total);
  }
  const int64_t row_elements = total == 0 ? 0 : tensor.element_count() / total;
  std::vector<core::Tensor> pieces;
  pieces.reserve(rows.size());
  int64_t offset = 0;  // elements
  for (int64_t r : rows) {
    core::TensorShape shape = tensor.shape();
    shape[0] = r;
    if (tensor.dtype() == core::DataType::kString) {
      ASSIGN_OR_RETURN(core::Tensor piece, core::Tensor::Create(tensor.dtype(), shape));
      const std::string* from = tensor.data<std::string>() + offset;
      std::copy(from, from + r * row_elements, piece.data<std::string>());
      pieces.push_back(std::move(piece));
    } else {
      char* data = const_cast<char*>(static_cast<const char*>(tensor.raw_data())) +
                   static_cast<size_t>(offset) * tensor.element_size();
      pieces.push_back(core::Tensor::Wrap(tensor.dtype(), std::move(shape), data, tensor.storage()));
    }
    offset += r * row_elements;
  }
  return pieces;
}

}  // namespace berth::server
