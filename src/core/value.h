// Value: what flows along a graph edge — a tensor, a sequence of tensors, or
// an empty optional. ONNX optional values that hold something are represented
// by the thing they hold.
#pragma once

#include <memory>
#include <vector>

#include "core/tensor.h"

namespace berth::core {

struct TensorSequence {
  DataType element_type = DataType::kUndefined;
  std::vector<Tensor> tensors;
};

class Value {
 public:
  enum class Kind { kNone, kTensor, kSequence };

  Value() = default;  // an empty optional (kind kNone)
  Value(Tensor tensor) : kind_(Kind::kTensor), tensor_(std::move(tensor)) {}  // NOLINT
  Value(TensorSequence sequence)  // NOLINT
      : kind_(Kind::kSequence), sequence_(std::make_shared<TensorSequence>(std::move(sequence))) {}

  Kind kind() const { return kind_; }
  bool is_tensor() const { return kind_ == Kind::kTensor; }
  bool is_sequence() const { return kind_ == Kind::kSequence; }
  bool is_none() const { return kind_ == Kind::kNone; }

  const Tensor& tensor() const { return tensor_; }
  Tensor& tensor() { return tensor_; }
  // Sequences are immutable once built: ops that change one build a new one.
  const TensorSequence& sequence() const { return *sequence_; }

 private:
  Kind kind_ = Kind::kNone;
  Tensor tensor_;
  std::shared_ptr<const TensorSequence> sequence_;
};

}  // namespace berth::core
