// Tensor: a typed, shaped view of shared storage.
//
// Copying a Tensor copies the handle, not the elements (like a shared_ptr);
// use Clone() for a deep copy. Storage is 64-byte aligned when berth allocates
// it. String tensors hold std::string objects (one per element). Tensors are
// not internally synchronised: concurrent readers are fine, a writer needs
// exclusive access.
#pragma once

#include <cstdint>
#include <cstring>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "core/allocator.h"
#include "core/data_type.h"
#include "core/float16.h"
#include "core/status.h"
#include "core/tensor_shape.h"

namespace berth::core {

template <> struct DataTypeOf<float> { static constexpr DataType value = DataType::kFloat32; };
template <> struct DataTypeOf<double> { static constexpr DataType value = DataType::kFloat64; };
template <> struct DataTypeOf<Float16> { static constexpr DataType value = DataType::kFloat16; };
template <> struct DataTypeOf<BFloat16> { static constexpr DataType value = DataType::kBFloat16; };
template <> struct DataTypeOf<int8_t> { static constexpr DataType value = DataType::kInt8; };
template <> struct DataTypeOf<int16_t> { static constexpr DataType value = DataType::kInt16; };
template <> struct DataTypeOf<int32_t> { static constexpr DataType value = DataType::kInt32; };
template <> struct DataTypeOf<int64_t> { static constexpr DataType value = DataType::kInt64; };
template <> struct DataTypeOf<uint8_t> { static constexpr DataType value = DataType::kUInt8; };
template <> struct DataTypeOf<uint16_t> { static constexpr DataType value = DataType::kUInt16; };
template <> struct DataTypeOf<uint32_t> { static constexpr DataType value = DataType::kUInt32; };
template <> struct DataTypeOf<uint64_t> { static constexpr DataType value = DataType::kUInt64; };
template <> struct DataTypeOf<bool> { static constexpr DataType value = DataType::kBool; };
template <> struct DataTypeOf<std::string> { static constexpr DataType value = DataType::kString; };

// How a tensor's elements are laid out in its storage. kPlain is row-major
// over shape(). The channel-blocked layouts (oneDNN's nChw8c / nChw16c) apply
// to rank-4 [N,C,H,W] tensors: channels are split into blocks of 8 or 16,
// the last block padded with zeros, and each block stored innermost. Only
// kernels that declare they understand blocked layouts ever receive one (the
// optimizer assigns them, the runtime checks); everything else sees kPlain.
enum class TensorLayout : uint8_t { kPlain = 0, kChannelsBlocked8 = 8, kChannelsBlocked16 = 16 };

// Elements a tensor of `shape` occupies in `layout` (padding included).
int64_t StorageElementCount(const TensorShape& shape, TensorLayout layout);

class Tensor {
 public:
  Tensor() = default;  // undefined: dtype kUndefined, no storage

  // Allocates uninitialised storage (strings are default-constructed).
  // Fails on negative dims or overflowing sizes, or when memory runs out.
  static Result<Tensor> Create(DataType dtype, TensorShape shape, Allocator& allocator = HeapAllocator());
  // Allocates storage for `shape` in a channel-blocked layout (rank 4 only).
  static Result<Tensor> CreateBlocked(DataType dtype, TensorShape shape, TensorLayout layout,
                                      Allocator& allocator = HeapAllocator());
  // As Create, with every byte zero (numeric zero / false / empty string).
  static Result<Tensor> CreateZeroed(DataType dtype, TensorShape shape,
                                     Allocator& allocator = HeapAllocator());
  // Wraps memory berth does not own; `owner` keeps it alive (may be null if
  // the caller guarantees lifetime). Shape must already be validated.
  static Tensor Wrap(DataType dtype, TensorShape shape, void* data, std::shared_ptr<void> owner);

  template <typename T>
  static Tensor FromVector(const std::vector<T>& values, TensorShape shape);
  template <typename T>
  static Tensor Scalar(T value) { return FromVector<T>({value}, {}); }

  bool defined() const { return dtype_ != DataType::kUndefined; }
  DataType dtype() const { return dtype_; }
  const TensorShape& shape() const { return shape_; }
  int64_t rank() const { return static_cast<int64_t>(shape_.size()); }
  int64_t dim(int64_t axis) const { return shape_[static_cast<size_t>(axis)]; }
  int64_t element_count() const { return element_count_; }
  size_t element_size() const { return DataTypeSize(dtype_); }
  TensorLayout layout() const { return layout_; }
  bool is_plain() const { return layout_ == TensorLayout::kPlain; }
  // Bytes of element storage, padding of blocked layouts included (0 for strings).
  size_t byte_size() const {
    return static_cast<size_t>(is_plain() ? element_count_ : StorageElementCount(shape_, layout_)) * element_size();
  }

  void* raw_data() { return data_; }
  const void* raw_data() const { return data_; }
  template <typename T> T* data() { return static_cast<T*>(data_); }
  template <typename T> const T* data() const { return static_cast<const T*>(data_); }
  template <typename T> std::span<T> values() { return {data<T>(), static_cast<size_t>(element_count_)}; }
  template <typename T> std::span<const T> values() const {
    return {data<T>(), static_cast<size_t>(element_count_)};
  }

  // Same storage, new shape with the same element count.
  Result<Tensor> Reshaped(TensorShape shape) const;
  // Deep copy into fresh storage.
  Result<Tensor> Clone(Allocator& allocator = HeapAllocator()) const;
  // The storage owner; tensors sharing it alias each other.
  const std::shared_ptr<void>& storage() const { return storage_; }

  // Reads element i of any integer tensor as int64 (for shape-like inputs).
  int64_t IntegerAt(int64_t i) const;
  // All elements of an integer tensor as int64.
  std::vector<int64_t> ToInt64Vector() const;
  // Reads element i of any numeric tensor as double.
  double NumberAt(int64_t i) const;

  std::string DebugString() const;  // "float32[1,3,224,224]"

 private:
  DataType dtype_ = DataType::kUndefined;
  TensorLayout layout_ = TensorLayout::kPlain;
  TensorShape shape_;
  int64_t element_count_ = 0;
  void* data_ = nullptr;
  std::shared_ptr<void> storage_;
};

template <typename T>
Tensor Tensor::FromVector(const std::vector<T>& values, TensorShape shape) {
  auto tensor = Create(DataTypeOf<T>::value, std::move(shape));
  Tensor out = std::move(tensor).value();
  if constexpr (std::is_same_v<T, std::string> || std::is_same_v<T, bool>) {
    for (size_t i = 0; i < values.size(); ++i) out.data<T>()[i] = values[i];
  } else {
    if (!values.empty()) std::memcpy(out.raw_data(), values.data(), values.size() * sizeof(T));
  }
  return out;
}

// Calls fn.template operator()<T>() with the C++ type of `dtype`.
// Kinds: numeric (all integer and float types), plus bool / string variants.
#define BERTH_TYPE_CASE(DT, T) \
  case ::berth::core::DataType::DT: return fn.template operator()<T>()

template <typename Fn>
auto VisitNumericType(DataType dtype, Fn&& fn) {
  switch (dtype) {
    BERTH_TYPE_CASE(kFloat32, float);
    BERTH_TYPE_CASE(kFloat64, double);
    BERTH_TYPE_CASE(kFloat16, ::berth::core::Float16);
    BERTH_TYPE_CASE(kBFloat16, ::berth::core::BFloat16);
    BERTH_TYPE_CASE(kInt8, int8_t);
    BERTH_TYPE_CASE(kInt16, int16_t);
    BERTH_TYPE_CASE(kInt32, int32_t);
    BERTH_TYPE_CASE(kInt64, int64_t);
    BERTH_TYPE_CASE(kUInt8, uint8_t);
    BERTH_TYPE_CASE(kUInt16, uint16_t);
    BERTH_TYPE_CASE(kUInt32, uint32_t);
    BERTH_TYPE_CASE(kUInt64, uint64_t);
    default: return fn.template operator()<void>();
  }
}

// Numeric types plus bool.
template <typename Fn>
auto VisitNumericOrBoolType(DataType dtype, Fn&& fn) {
  if (dtype == DataType::kBool) return fn.template operator()<bool>();
  return VisitNumericType(dtype, std::forward<Fn>(fn));
}

// Every type with storage: numeric, bool and string.
template <typename Fn>
auto VisitAnyType(DataType dtype, Fn&& fn) {
  if (dtype == DataType::kString) return fn.template operator()<std::string>();
  return VisitNumericOrBoolType(dtype, std::forward<Fn>(fn));
}

// float, double, float16, bfloat16.
template <typename Fn>
auto VisitFloatType(DataType dtype, Fn&& fn) {
  switch (dtype) {
    BERTH_TYPE_CASE(kFloat32, float);
    BERTH_TYPE_CASE(kFloat64, double);
    BERTH_TYPE_CASE(kFloat16, ::berth::core::Float16);
    BERTH_TYPE_CASE(kBFloat16, ::berth::core::BFloat16);
    default: return fn.template operator()<void>();
  }
}

// Copies `count` elements of any storage type (strings by assignment).
void CopyElements(DataType dtype, const void* src, void* dst, int64_t count);

}  // namespace berth::core
