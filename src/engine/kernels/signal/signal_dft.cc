// DFT (opsets 17, 20) and STFT (17), on an FFT computed in double:
// radix-2 for powers of two, a direct sum for short odd lengths and
// Bluestein's chirp-z algorithm (via a power-of-two FFT) for the rest.
#include <cmath>
#include <complex>
#include <memory>
#include <new>
#include <numbers>
#include <optional>

#include "engine/kernels/builtin_kernels.h"
#include "engine/kernels/common/kernel_util.h"
#include "engine/ops/op_registry.h"

namespace berth::engine {
namespace {

using core::DataType;
using core::Result;
using core::Status;
using core::Tensor;
using core::TensorShape;
using Complex = std::complex<double>;

// Longest transform accepted: 2^24 points (Bluestein then keeps a 2^25-point
// kernel spectrum, 512 MiB, plus as much scratch per thread).
constexpr int64_t kMaxTransformLength = int64_t{1} << 24;

bool IsPowerOfTwo(int64_t n) { return n > 0 && (n & (n - 1)) == 0; }

Complex UnitRoot(double turns) {
  const double angle = -2 * std::numbers::pi * turns;
  return {std::cos(angle), std::sin(angle)};
}

// Forward transform X[k] = sum_j x[j] e^{-2 pi i jk/n} of one fixed length.
// Immutable after construction, so one plan serves all threads.
class FourierTransform {
 public:
  explicit FourierTransform(int64_t n) : n_(n) {
    if (IsPowerOfTwo(n)) {
      kind_ = Kind::kRadix2;
      twiddles_.resize(static_cast<size_t>(n / 2));
      for (int64_t k = 0; k < n / 2; ++k) twiddles_[k] = UnitRoot(static_cast<double>(k) / static_cast<double>(n));
    } else if (n <= 64) {
      kind_ = Kind::kDirect;
      twiddles_.resize(static_cast<size_t>(n));
      for (int64_t k = 0; k < n; ++k) twiddles_[k] = UnitRoot(static_cast<double>(k) / static_cast<double>(n));
    } else {
      kind_ = Kind::kBluestein;
      padded_ = 1;
      while (padded_ < 2 * n - 1) padded_ <<= 1;
      inner_ = std::make_unique<FourierTransform>(padded_);
      // chirp[k] = e^{-pi i k^2 / n}; k^2 is reduced mod 2n to keep the angle exact.
      chirp_.resize(static_cast<size_t>(n));
      for (int64_t k = 0; k < n; ++k) {
        const int64_t square = (k * k) % (2 * n);
        chirp_[k] = UnitRoot(static_cast<double>(square) / static_cast<double>(2 * n));
      }
      std::vector<Complex> kernel(static_cast<size_t>(padded_), Complex(0, 0));
      kernel[0] = std::conj(chirp_[0]);
      for (int64_t k = 1; k < n; ++k) kernel[k] = kernel[padded_ - k] = std::conj(chirp_[k]);
      inner_->Radix2(kernel.data());
      kernel_spectrum_ = std::move(kernel);
    }
  }

  int64_t length() const { return n_; }
  // Complex values of scratch that Forward needs.
  int64_t work_size() const { return kind_ == Kind::kRadix2 ? 0 : kind_ == Kind::kDirect ? n_ : padded_; }

  // In place on data[0..n); `work` holds work_size() values.
  void Forward(Complex* data, Complex* work) const {
    switch (kind_) {
      case Kind::kRadix2:
        Radix2(data);
        return;
      case Kind::kDirect:
        for (int64_t k = 0; k < n_; ++k) {
          Complex sum(0, 0);
          int64_t index = 0;  // j * k mod n
          for (int64_t j = 0; j < n_; ++j) {
            sum += data[j] * twiddles_[index];
            index += k;
            if (index >= n_) index -= n_;
          }
          work[k] = sum;
        }
        std::copy(work, work + n_, data);
        return;
      case Kind::kBluestein: {
        for (int64_t k = 0; k < n_; ++k) work[k] = data[k] * chirp_[k];
        std::fill(work + n_, work + padded_, Complex(0, 0));
        inner_->Radix2(work);
        for (int64_t k = 0; k < padded_; ++k) work[k] = std::conj(work[k] * kernel_spectrum_[k]);
        inner_->Radix2(work);  // conj(FFT(conj(.))) is the unscaled inverse
        const double scale = 1.0 / static_cast<double>(padded_);
        for (int64_t k = 0; k < n_; ++k) data[k] = std::conj(work[k]) * scale * chirp_[k];
        return;
      }
    }
  }

 private:
  enum class Kind { kRadix2, kDirect, kBluestein };

  void Radix2(Complex* a) const {
    for (int64_t i = 1, j = 0; i < n_; ++i) {
      int64_t bit = n_ >> 1;
      for (; j & bit; bit >>= 1) j ^= bit;
      j ^= bit;
      if (i < j) std::swap(a[i], a[j]);
    }
    for (int64_t length = 2; length <= n_; length <<= 1) {
      const int64_t half = length / 2;
      const int64_t stride = n_ / length;
      for (int64_t start = 0; start < n_; start += length) {
        for (int64_t j = 0; j < half; ++j) {
          const Complex u = a[start + j];
          const Complex v = a[start + j + half] * twiddles_[j * stride];
          a[start + j] = u + v;
          a[start + j + half] = u - v;
        }
      }
    }
  }

  int64_t n_;
  Kind kind_ = Kind::kDirect;
  std::vector<Complex> twiddles_;
  int64_t padded_ = 0;
  std::unique_ptr<FourierTransform> inner_;
  std::vector<Complex> chirp_;
  std::vector<Complex> kernel_spectrum_;
};

// Plans hold up to a few hundred MiB for long lengths: a failed allocation
// becomes a Status.
Result<std::unique_ptr<const FourierTransform>> PlanTransform(int64_t n) {
  try {
    return std::unique_ptr<const FourierTransform>(std::make_unique<FourierTransform>(n));
  } catch (const std::bad_alloc&) {
    return core::ResourceExhausted("not enough memory to plan a {}-point DFT", n);
  }
}

template <typename T>
double LoadValue(T value) {
  if constexpr (std::is_same_v<T, double>) {
    return value;
  } else {
    return static_cast<float>(value);
  }
}

template <typename T>
T StoreValue(double value) {
  if constexpr (std::is_same_v<T, double>) {
    return value;
  } else if constexpr (std::is_same_v<T, float>) {
    return static_cast<float>(value);
  } else {
    return T(static_cast<float>(value));
  }
}

// Runs `lines` independent transforms in parallel; each piece of work gets
// its own scratch (line buffer + FFT work area), allocated up front so a
// failed allocation is a Status, not an exception.
template <typename Fn>
Status ForEachLine(int64_t lines, const FourierTransform& fft, core::Allocator& allocator, Fn&& fn) {
  const int64_t pieces = std::max<int64_t>(1, std::min<int64_t>(core::IntraOpThreads(), lines));
  const int64_t per_piece = fft.length() + fft.work_size();
  std::vector<Tensor> scratch;
  for (int64_t p = 0; p < pieces; ++p) {
    ASSIGN_OR_RETURN(Tensor buffer, Tensor::Create(DataType::kFloat64, {2 * per_piece}, allocator));
    scratch.push_back(std::move(buffer));
  }
  core::ParallelFor(pieces, 1, [&](int64_t begin, int64_t end) {
    for (int64_t p = begin; p < end; ++p) {
      Complex* line = reinterpret_cast<Complex*>(scratch[p].data<double>());
      Complex* work = line + fft.length();
      for (int64_t i = lines * p / pieces; i < lines * (p + 1) / pieces; ++i) fn(i, line, work);
    }
  });
  return Status::Ok();
}

// ---------------------------------------------------------------------------
// DFT

struct DftAttributes {
  bool inverse = false;
  bool onesided = false;
  int64_t axis = 1;              // opset 17 attribute
  bool axis_from_input = false;  // opset 20
};

DftAttributes ParseDft(const Node& node) {
  DftAttributes attributes;
  attributes.inverse = node.GetInt("inverse", 0) != 0;
  attributes.onesided = node.GetInt("onesided", 0) != 0;
  attributes.axis_from_input = node.opset >= 20;
  attributes.axis = attributes.axis_from_input ? -2 : node.GetInt("axis", 1);
  return attributes;
}

Result<int64_t> ScalarInteger(const Tensor& tensor, std::string_view what) {
  if (!core::IsInteger(tensor.dtype()) || tensor.element_count() != 1) {
    return core::InvalidArgument("'{}' must be an integer scalar, got {}", what, tensor.DebugString());
  }
  return tensor.IntegerAt(0);
}

// The signal axis: any but the last (which holds real / imaginary parts).
Result<int64_t> SignalAxis(int64_t axis, int64_t rank) {
  ASSIGN_OR_RETURN(int64_t normalized, core::NormalizeAxis(axis, rank));
  if (normalized == rank - 1) {
    return core::InvalidArgument("axis {} is the real/imaginary axis, not a signal axis (rank {})", axis, rank);
  }
  return normalized;
}

Status InferDft(InferenceContext& context) {
  const DftAttributes attributes = ParseDft(context.node());
  const DataType dtype = InputDtype(context, 0);
  const ValueType& input = context.input_type(0);
  if (!input.is_tensor() || !input.has_shape || input.dims.size() < 2) {
    SetUnknownShape(context, 0, dtype);
    return Status::Ok();
  }
  TensorShape shape = input.Shape();
  const int64_t rank = static_cast<int64_t>(shape.size());
  std::optional<int64_t> axis = attributes.axis;
  if (attributes.axis_from_input && context.has_input(2)) {
    const Tensor* value = context.input_value(2);
    axis = std::nullopt;
    if (value) {
      ASSIGN_OR_RETURN(axis, ScalarInteger(*value, "axis"));
    }
  }
  shape[rank - 1] = 2;
  if (!axis) {
    TensorShape out(shape.size(), -1);
    out[rank - 1] = 2;
    context.set_output_type(0, ValueType::TensorFromShape(dtype, out));
    return Status::Ok();
  }
  ASSIGN_OR_RETURN(int64_t signal_axis, SignalAxis(*axis, rank));
  int64_t length = shape[signal_axis];
  if (context.has_input(1)) {
    length = -1;
    if (const Tensor* value = context.input_value(1)) {
      ASSIGN_OR_RETURN(length, ScalarInteger(*value, "dft_length"));
    }
  }
  shape[signal_axis] = length < 0 ? -1 : attributes.onesided ? length / 2 + 1 : length;
  context.set_output_type(0, ValueType::TensorFromShape(dtype, shape));
  return Status::Ok();
}

template <typename T>
Status RunDft(const Tensor& x, Tensor& y, int64_t axis, int64_t length, const DftAttributes& attributes,
              core::Allocator& allocator) {
  const int64_t rank = x.rank();
  const int64_t components = x.dim(rank - 1);
  const int64_t in_length = x.dim(axis);
  const int64_t out_length = y.dim(axis);
  int64_t outer = 1;
  int64_t inner = 1;
  for (int64_t d = 0; d < axis; ++d) outer *= x.dim(d);
  for (int64_t d = axis + 1; d < rank - 1; ++d) inner *= x.dim(d);
  const T* src = x.data<T>();
  T* dst = y.data<T>();
  ASSIGN_OR_RETURN(std::unique_ptr<const FourierTransform> plan, PlanTransform(length));
  const FourierTransform& fft = *plan;
  const int64_t copied = std::min(in_length, length);
  const double scale = attributes.inverse ? 1.0 / static_cast<double>(length) : 1.0;
  return ForEachLine(outer * inner, fft, allocator, [&](int64_t line_index, Complex* line, Complex* work) {
    const int64_t o = line_index / inner;
    const int64_t i = line_index % inner;
    const T* in = src + (o * in_length * inner + i) * components;
    for (int64_t j = 0; j < copied; ++j) {
      const T* value = in + j * inner * components;
      line[j] = Complex(LoadValue(value[0]), components == 2 ? LoadValue(value[1]) : 0.0);
      if (attributes.inverse) line[j] = std::conj(line[j]);
    }
    std::fill(line + copied, line + length, Complex(0, 0));
    fft.Forward(line, work);
    T* out = dst + (o * out_length * inner + i) * 2;
    for (int64_t k = 0; k < out_length; ++k) {
      Complex value = attributes.inverse ? std::conj(line[k]) * scale : line[k];
      out[k * inner * 2] = StoreValue<T>(value.real());
      out[k * inner * 2 + 1] = StoreValue<T>(value.imag());
    }
  });
}

class DftKernel : public Kernel {
 public:
  explicit DftKernel(DftAttributes attributes) : attributes_(attributes) {}

  Status Compute(KernelContext& context) const override {
    ASSIGN_OR_RETURN(const Tensor* x, RequireTensor(context, 0, "input"));
    const int64_t rank = x->rank();
    if (rank < 2 || (x->dim(rank - 1) != 1 && x->dim(rank - 1) != 2)) {
      return core::InvalidArgument("input must be [..., signal..., 1 or 2], got shape {}",
                                   core::ShapeToString(x->shape()));
    }
    int64_t axis = attributes_.axis;
    if (attributes_.axis_from_input && context.input_tensor(2)) {
      ASSIGN_OR_RETURN(axis, ScalarInteger(*context.input_tensor(2), "axis"));
    }
    ASSIGN_OR_RETURN(axis, SignalAxis(axis, rank));
    int64_t length = x->dim(axis);
    if (const Tensor* dft_length = context.input_tensor(1)) {
      ASSIGN_OR_RETURN(length, ScalarInteger(*dft_length, "dft_length"));
      if (length <= 0) return core::InvalidArgument("dft_length {} must be positive", length);
    }
    if (length > kMaxTransformLength) return core::InvalidArgument("DFT length {} is too large", length);
    const bool complex_input = x->dim(rank - 1) == 2;
    if (attributes_.onesided && attributes_.inverse) {
      return core::Unimplemented("inverse DFT with onesided=1 is not supported");
    }
    if (attributes_.onesided && complex_input) {
      return core::InvalidArgument("onesided=1 needs a real input (last dimension 1), got shape {}",
                                   core::ShapeToString(x->shape()));
    }
    TensorShape out_shape = x->shape();
    out_shape[rank - 1] = 2;
    out_shape[axis] = attributes_.onesided ? length / 2 + 1 : length;
    ASSIGN_OR_RETURN(Tensor * y, context.AllocateOutput(0, x->dtype(), out_shape));
    if (y->element_count() == 0) return Status::Ok();
    if (length == 0)
      return core::InvalidArgument("cannot transform an empty signal (shape {})", core::ShapeToString(x->shape()));
    Status status = core::Unimplemented("type {} is not supported", core::DataTypeName(x->dtype()));
    core::VisitFloatType(x->dtype(), [&]<typename T>() {
      if constexpr (!std::is_void_v<T>) status = RunDft<T>(*x, *y, axis, length, attributes_, context.allocator());
    });
    return status;
  }

 private:
  DftAttributes attributes_;
};

// ---------------------------------------------------------------------------
// STFT

Status InferStft(InferenceContext& context) {
  const DataType dtype = InputDtype(context, 0);
  const bool onesided = context.node().GetInt("onesided", 1) != 0;
  const ValueType& signal = context.input_type(0);
  TensorShape out = {-1, -1, -1, 2};
  int64_t length = -1;
  if (signal.is_tensor() && signal.has_shape && signal.dims.size() == 3) {
    out[0] = signal.dims[0].value;
    length = signal.dims[1].value;
  }
  int64_t frame_length = -1;
  if (context.has_input(3)) {
    if (const Tensor* value = context.input_value(3)) {
      Result<int64_t> known = ScalarInteger(*value, "frame_length");
      if (known.ok()) frame_length = *known;
    }
  } else if (context.has_input(2)) {
    const ValueType& window = context.input_type(2);
    if (window.is_tensor() && window.has_shape && window.dims.size() == 1) frame_length = window.dims[0].value;
  }
  int64_t step = -1;
  if (const Tensor* value = context.input_value(1)) {
    Result<int64_t> known = ScalarInteger(*value, "frame_step");
    if (known.ok()) step = *known;
  }
  if (frame_length > 0) out[2] = onesided ? frame_length / 2 + 1 : frame_length;
  if (frame_length > 0 && length >= frame_length && step > 0) out[1] = (length - frame_length) / step + 1;
  context.set_output_type(0, ValueType::TensorFromShape(dtype, out));
  return Status::Ok();
}

template <typename T>
Status RunStft(const Tensor& signal, Tensor& y, int64_t step, const std::vector<double>& window,
               core::Allocator& allocator) {
  const int64_t batch = signal.dim(0);
  const int64_t length = signal.dim(1);
  const int64_t components = signal.dim(2);
  const int64_t frames = y.dim(1);
  const int64_t bins = y.dim(2);
  const int64_t frame_length = static_cast<int64_t>(window.size());
  const T* src = signal.data<T>();
  T* dst = y.data<T>();
  ASSIGN_OR_RETURN(std::unique_ptr<const FourierTransform> plan, PlanTransform(frame_length));
  const FourierTransform& fft = *plan;
  return ForEachLine(batch * frames, fft, allocator, [&](int64_t index, Complex* line, Complex* work) {
    const int64_t b = index / frames;
    const int64_t f = index % frames;
    const T* in = src + (b * length + f * step) * components;
    for (int64_t j = 0; j < frame_length; ++j) {
      const T* value = in + j * components;
      line[j] = Complex(LoadValue(value[0]), components == 2 ? LoadValue(value[1]) : 0.0) * window[j];
    }
    fft.Forward(line, work);
    T* out = dst + index * bins * 2;
    for (int64_t k = 0; k < bins; ++k) {
      out[2 * k] = StoreValue<T>(line[k].real());
      out[2 * k + 1] = StoreValue<T>(line[k].imag());
    }
  });
}

Status ComputeStft(KernelContext& context, bool onesided) {
  ASSIGN_OR_RETURN(const Tensor* signal, RequireTensor(context, 0, "signal"));
  ASSIGN_OR_RETURN(const Tensor* step_tensor, RequireTensor(context, 1, "frame_step"));
  const Tensor* window_tensor = context.input_tensor(2);
  const Tensor* frame_length_tensor = context.input_tensor(3);
  if (signal->rank() != 3 || (signal->dim(2) != 1 && signal->dim(2) != 2)) {
    return core::InvalidArgument("signal must be [batch, length, 1 or 2], got shape {}",
                                 core::ShapeToString(signal->shape()));
  }
  ASSIGN_OR_RETURN(int64_t step, ScalarInteger(*step_tensor, "frame_step"));
  if (step <= 0) return core::InvalidArgument("frame_step {} must be positive", step);
  int64_t frame_length = -1;
  if (frame_length_tensor) {
    ASSIGN_OR_RETURN(frame_length, ScalarInteger(*frame_length_tensor, "frame_length"));
  }
  if (window_tensor) {
    if (window_tensor->rank() != 1 || !core::IsFloatingPoint(window_tensor->dtype())) {
      return core::InvalidArgument("window must be a 1-D float tensor, got {}", window_tensor->DebugString());
    }
    if (frame_length >= 0 && frame_length != window_tensor->dim(0)) {
      return core::InvalidArgument("frame_length {} does not match the window length {}", frame_length,
                                   window_tensor->dim(0));
    }
    frame_length = window_tensor->dim(0);
  }
  if (frame_length < 0) return core::InvalidArgument("one of window and frame_length must be given");
  if (frame_length == 0 || frame_length > kMaxTransformLength) {
    return core::InvalidArgument("frame_length {} is out of range", frame_length);
  }
  const int64_t length = signal->dim(1);
  if (length < frame_length) {
    return core::InvalidArgument("signal of length {} is shorter than one frame ({})", length, frame_length);
  }
  if (onesided && signal->dim(2) == 2) {
    return core::InvalidArgument("onesided=1 needs a real signal (last dimension 1), got shape {}",
                                 core::ShapeToString(signal->shape()));
  }
  std::vector<double> window(static_cast<size_t>(frame_length), 1.0);
  if (window_tensor) {
    core::VisitFloatType(window_tensor->dtype(), [&]<typename W>() {
      if constexpr (!std::is_void_v<W>) {
        for (int64_t j = 0; j < frame_length; ++j) window[j] = LoadValue(window_tensor->data<W>()[j]);
      }
    });
  }
  const int64_t frames = (length - frame_length) / step + 1;
  const int64_t bins = onesided ? frame_length / 2 + 1 : frame_length;
  ASSIGN_OR_RETURN(Tensor * y, context.AllocateOutput(0, signal->dtype(), {signal->dim(0), frames, bins, 2}));
  if (y->element_count() == 0) return Status::Ok();
  Status status = core::Unimplemented("type {} is not supported", core::DataTypeName(signal->dtype()));
  core::VisitFloatType(signal->dtype(), [&]<typename T>() {
    if constexpr (!std::is_void_v<T>) status = RunStft<T>(*signal, *y, step, window, context.allocator());
  });
  return status;
}

}  // namespace

void RegisterDftKernels(OpRegistry& registry) {
  // 20 moves axis from an attribute to an optional input (default -2).
  registry.Register("", "DFT", {17, 20}, InferDft, [](KernelBuildContext& build) -> Result<std::unique_ptr<Kernel>> {
    return std::unique_ptr<Kernel>(std::make_unique<DftKernel>(ParseDft(build.node())));
  });
  registry.Register("", "STFT", {17}, InferStft, [](KernelBuildContext& build) -> Result<std::unique_ptr<Kernel>> {
    const bool onesided = build.node().GetInt("onesided", 1) != 0;
    return MakeFunctionKernel([onesided](KernelContext& context) { return ComputeStft(context, onesided); });
  });
}

}  // namespace berth::engine
