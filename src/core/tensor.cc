#include "core/tensor.h"

#include <limits>
#include <new>

namespace berth::core {
namespace {

std::shared_ptr<void> AllocateStrings(int64_t count) {
  auto* strings = new (std::nothrow) std::string[static_cast<size_t>(std::max<int64_t>(count, 1))];
  if (!strings) return nullptr;
  return std::shared_ptr<void>(strings, [](void* p) { delete[] static_cast<std::string*>(p); });
}

}  // namespace

Result<Tensor> Tensor::Create(DataType dtype, TensorShape shape, Allocator& allocator) {
  if (dtype == DataType::kUndefined) return InvalidArgument("cannot create a tensor of undefined type");
  if (dtype == DataType::kString) {
    ASSIGN_OR_RETURN(int64_t count, CheckedElementCount(shape, sizeof(std::string)));
    Tensor tensor;
    std::shared_ptr<void> charge = allocator.Account(static_cast<size_t>(count) * sizeof(std::string));
    std::shared_ptr<void> strings = charge ? AllocateStrings(count) : nullptr;
    if (!strings) return ResourceExhausted("out of memory for string tensor {}", ShapeToString(shape));
    if (charge.use_count() == 0) {  // nothing is charged (the default allocators)
      tensor.storage_ = std::move(strings);
    } else {  // the charge lasts as long as the strings
      void* data = strings.get();
      tensor.storage_ =
          std::shared_ptr<void>(data, [strings = std::move(strings), charge = std::move(charge)](void*) {});
    }
    tensor.dtype_ = dtype;
    tensor.shape_ = std::move(shape);
    tensor.element_count_ = count;
    tensor.data_ = tensor.storage_.get();
    return tensor;
  }
  size_t element_size = DataTypeSize(dtype);
  ASSIGN_OR_RETURN(int64_t count, CheckedElementCount(shape, element_size));
  Tensor tensor;
  tensor.storage_ = allocator.Allocate(static_cast<size_t>(count) * element_size);
  if (!tensor.storage_) {
    return ResourceExhausted("out of memory allocating {} {}", DataTypeName(dtype), ShapeToString(shape));
  }
  tensor.dtype_ = dtype;
  tensor.shape_ = std::move(shape);
  tensor.element_count_ = count;
  tensor.data_ = tensor.storage_.get();
  return tensor;
}

int64_t StorageElementCount(const TensorShape& shape, TensorLayout layout) {
  if (layout == TensorLayout::kPlain || shape.size() != 4) return ElementCount(shape);
  const int64_t block = static_cast<int64_t>(layout);
  const int64_t padded_channels = (shape[1] + block - 1) / block * block;
  return shape[0] * padded_channels * shape[2] * shape[3];
}

Result<Tensor> Tensor::CreateBlocked(DataType dtype, TensorShape shape, TensorLayout layout, Allocator& allocator) {
  if (layout == TensorLayout::kPlain) return Create(dtype, std::move(shape), allocator);
  if (shape.size() != 4 || dtype == DataType::kString) {
    return InvalidArgument("a channel-blocked layout needs a rank-4 numeric tensor, got {} {}", DataTypeName(dtype),
                           ShapeToString(shape));
  }
  TensorShape padded = shape;
  const int64_t block = static_cast<int64_t>(layout);
  if (padded[1] > std::numeric_limits<int64_t>::max() - block) return InvalidArgument("channel count too large");
  padded[1] = (padded[1] + block - 1) / block * block;
  ASSIGN_OR_RETURN(Tensor tensor, Create(dtype, padded, allocator));
  tensor.shape_ = std::move(shape);
  tensor.element_count_ = ElementCount(tensor.shape_);
  tensor.layout_ = layout;
  return tensor;
}

Result<Tensor> Tensor::CreateZeroed(DataType dtype, TensorShape shape, Allocator& allocator) {
  ASSIGN_OR_RETURN(Tensor tensor, Create(dtype, std::move(shape), allocator));
  if (dtype != DataType::kString && tensor.byte_size() > 0) std::memset(tensor.data_, 0, tensor.byte_size());
  return tensor;
}

Tensor Tensor::Wrap(DataType dtype, TensorShape shape, void* data, std::shared_ptr<void> owner) {
  Tensor tensor;
  tensor.dtype_ = dtype;
  tensor.element_count_ = ElementCount(shape);
  tensor.shape_ = std::move(shape);
  tensor.data_ = data;
  tensor.storage_ = std::move(owner);
  return tensor;
}

Result<Tensor> Tensor::Reshaped(TensorShape shape) const {
  if (!is_plain()) return Internal("cannot reshape a tensor in a blocked layout");
  ASSIGN_OR_RETURN(int64_t count, CheckedElementCount(shape));
  if (count != element_count_) {
    return InvalidArgument("cannot reshape {} elements {} to {}", element_count_, ShapeToString(shape_),
                           ShapeToString(shape));
  }
  Tensor out = *this;
  out.shape_ = std::move(shape);
  return out;
}

Result<Tensor> Tensor::Clone(Allocator& allocator) const {
  if (!defined()) return Tensor();
  if (!is_plain()) {
    ASSIGN_OR_RETURN(Tensor out, CreateBlocked(dtype_, shape_, layout_, allocator));
    std::memcpy(out.data_, data_, byte_size());
    return out;
  }
  ASSIGN_OR_RETURN(Tensor out, Create(dtype_, shape_, allocator));
  CopyElements(dtype_, data_, out.data_, element_count_);
  return out;
}

void CopyElements(DataType dtype, const void* src, void* dst, int64_t count) {
  if (count <= 0) return;
  if (dtype == DataType::kString) {
    const auto* from = static_cast<const std::string*>(src);
    auto* to = static_cast<std::string*>(dst);
    for (int64_t i = 0; i < count; ++i) to[i] = from[i];
    return;
  }
  std::memcpy(dst, src, static_cast<size_t>(count) * DataTypeSize(dtype));
}

int64_t Tensor::IntegerAt(int64_t i) const {
  return VisitNumericOrBoolType(dtype_, [&]<typename T>() -> int64_t {
    if constexpr (std::is_void_v<T>) {
      return 0;
    } else {
      if constexpr (std::is_integral_v<T>) {
        return static_cast<int64_t>(data<T>()[i]);
      } else {
        return static_cast<int64_t>(static_cast<double>(static_cast<float>(data<T>()[i])));
      }
    }
  });
}

std::vector<int64_t> Tensor::ToInt64Vector() const {
  std::vector<int64_t> out(static_cast<size_t>(element_count_));
  if (dtype_ == DataType::kInt64) {
    if (element_count_) std::memcpy(out.data(), data_, out.size() * 8);
    return out;
  }
  for (int64_t i = 0; i < element_count_; ++i) out[i] = IntegerAt(i);
  return out;
}

double Tensor::NumberAt(int64_t i) const {
  return VisitNumericOrBoolType(dtype_, [&]<typename T>() -> double {
    if constexpr (std::is_void_v<T>) {
      return 0.0;
    } else {
      if constexpr (std::is_arithmetic_v<T>) {
        return static_cast<double>(data<T>()[i]);
      } else {
        return static_cast<double>(static_cast<float>(data<T>()[i]));
      }
    }
  });
}

std::string Tensor::DebugString() const {
  std::string out = std::string(DataTypeName(dtype_)) + ShapeToString(shape_);
  if (!is_plain()) out += "/blocked" + std::to_string(static_cast<int>(layout_));
  return out;
}

}  // namespace berth::core
