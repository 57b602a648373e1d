// Signal generators: HannWindow, HammingWindow, BlackmanWindow and
// MelWeightMatrix (opset 17). DFT and STFT are in signal_dft.cc.
#include <algorithm>
#include <cmath>
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

// Largest window / matrix side accepted; far beyond any real spectrogram.
constexpr int64_t kMaxSignalLength = int64_t{1} << 28;

Result<DataType> OutputDatatype(const Node& node) {
  const int64_t onnx_type = node.GetInt("output_datatype", 1);
  std::optional<DataType> dtype = core::DataTypeFromOnnx(static_cast<int32_t>(onnx_type));
  if (!dtype || !core::IsNumeric(*dtype)) {
    return core::InvalidArgument("output_datatype {} is not a numeric tensor type", onnx_type);
  }
  return *dtype;
}

// A scalar (or one-element) integer input.
Result<int64_t> ScalarInteger(const Tensor* tensor, std::string_view what) {
  if (!tensor) return core::InvalidArgument("input '{}' is missing", what);
  if (!core::IsInteger(tensor->dtype())) {
    return core::InvalidArgument("'{}' must be an integer, got {}", what, core::DataTypeName(tensor->dtype()));
  }
  if (tensor->element_count() != 1) {
    return core::InvalidArgument("'{}' must be a scalar, got shape {}", what, core::ShapeToString(tensor->shape()));
  }
  return tensor->IntegerAt(0);
}

Result<double> ScalarFloat(const Tensor* tensor, std::string_view what) {
  if (!tensor) return core::InvalidArgument("input '{}' is missing", what);
  if (!core::IsNumeric(tensor->dtype()) || tensor->element_count() != 1) {
    return core::InvalidArgument("'{}' must be a numeric scalar, got {}", what, tensor->DebugString());
  }
  return tensor->NumberAt(0);
}

// Fills a tensor of any numeric type with value_at(i), dispatching on the
// type once.
template <typename Fn>
void Generate(Tensor& out, Fn&& value_at) {
  core::VisitNumericType(out.dtype(), [&]<typename T>() {
    if constexpr (!std::is_void_v<T>) {
      T* data = out.data<T>();
      for (int64_t i = 0; i < out.element_count(); ++i) data[i] = ConvertElement<T>(value_at(i));
    }
  });
}

// ---------------------------------------------------------------------------
// Windows: sum_k (-1)^k a_k cos(2 pi k n / N), N = size (periodic) or size - 1.

struct WindowCoefficients {
  double a0, a1, a2;
};

Status InferWindow(InferenceContext& context) {
  ASSIGN_OR_RETURN(DataType dtype, OutputDatatype(context.node()));
  int64_t size = -1;
  if (const Tensor* value = context.input_value(0)) {
    Result<int64_t> known = ScalarInteger(value, "size");
    if (known.ok() && *known >= 0) size = *known;
  }
  context.set_output_type(0, ValueType::TensorFromShape(dtype, {size}));
  return Status::Ok();
}

core::Result<std::unique_ptr<Kernel>> MakeWindow(KernelBuildContext& build, WindowCoefficients coefficients) {
  ASSIGN_OR_RETURN(DataType dtype, OutputDatatype(build.node()));
  const bool periodic = build.node().GetInt("periodic", 1) != 0;
  return MakeFunctionKernel([=](KernelContext& context) -> Status {
    ASSIGN_OR_RETURN(int64_t size, ScalarInteger(context.input_tensor(0), "size"));
    if (size < 0 || size > kMaxSignalLength) return core::InvalidArgument("window size {} is out of range", size);
    ASSIGN_OR_RETURN(Tensor * y, context.AllocateOutput(0, dtype, {size}));
    const double denominator = static_cast<double>(periodic ? size : size - 1);
    Generate(*y, [&](int64_t n) {
      if (denominator <= 0) return 1.0;  // a one-point symmetric window is just 1
      const double phase = 2 * std::numbers::pi * static_cast<double>(n) / denominator;
      return coefficients.a0 - coefficients.a1 * std::cos(phase) + coefficients.a2 * std::cos(2 * phase);
    });
    return Status::Ok();
  });
}

// ---------------------------------------------------------------------------
// MelWeightMatrix: triangular filters between mel-spaced points, following
// the ONNX reference (points are spaced by (high - low) / (bins + 2) mels and
// snapped down to DFT bins).

Status InferMel(InferenceContext& context) {
  ASSIGN_OR_RETURN(DataType dtype, OutputDatatype(context.node()));
  core::TensorShape shape = {-1, -1};
  if (const Tensor* bins = context.input_value(0)) {
    Result<int64_t> value = ScalarInteger(bins, "num_mel_bins");
    if (value.ok() && *value >= 0) shape[1] = *value;
  }
  if (const Tensor* length = context.input_value(1)) {
    Result<int64_t> value = ScalarInteger(length, "dft_length");
    if (value.ok() && *value >= 0) shape[0] = *value / 2 + 1;
  }
  context.set_output_type(0, ValueType::TensorFromShape(dtype, shape));
  return Status::Ok();
}

Status ComputeMel(KernelContext& context, DataType dtype) {
  ASSIGN_OR_RETURN(int64_t mel_bins, ScalarInteger(context.input_tensor(0), "num_mel_bins"));
  ASSIGN_OR_RETURN(int64_t dft_length, ScalarInteger(context.input_tensor(1), "dft_length"));
  ASSIGN_OR_RETURN(int64_t sample_rate, ScalarInteger(context.input_tensor(2), "sample_rate"));
  ASSIGN_OR_RETURN(double lower_hertz, ScalarFloat(context.input_tensor(3), "lower_edge_hertz"));
  ASSIGN_OR_RETURN(double upper_hertz, ScalarFloat(context.input_tensor(4), "upper_edge_hertz"));
  if (mel_bins <= 0 || mel_bins > kMaxSignalLength) {
    return core::InvalidArgument("num_mel_bins {} must be positive", mel_bins);
  }
  if (dft_length <= 0 || dft_length > kMaxSignalLength) {
    return core::InvalidArgument("dft_length {} must be positive", dft_length);
  }
  if (sample_rate <= 0) return core::InvalidArgument("sample_rate {} must be positive", sample_rate);
  if (!(lower_hertz >= 0) || !(upper_hertz > lower_hertz) || !std::isfinite(upper_hertz)) {
    return core::InvalidArgument("need 0 <= lower_edge_hertz < upper_edge_hertz, got {} and {}", lower_hertz,
                                 upper_hertz);
  }
  const int64_t spectrogram_bins = dft_length / 2 + 1;
  RETURN_IF_ERROR(core::CheckedElementCount(std::vector<int64_t>{spectrogram_bins, mel_bins}, 8).status());
  ASSIGN_OR_RETURN(Tensor * y, context.AllocateOutput(0, dtype, {spectrogram_bins, mel_bins}));

  auto to_mel = [](double hertz) { return 2595.0 * std::log10(1.0 + hertz / 700.0); };
  const double low_mel = to_mel(lower_hertz);
  const double mel_step = (to_mel(upper_hertz) - low_mel) / static_cast<double>(mel_bins + 2);
  // Bin positions past the spectrogram (upper edge above Nyquist) only shape
  // the slopes; the bound just keeps the integer conversion defined.
  constexpr double bound = 1e15;
  std::vector<int64_t> points(static_cast<size_t>(mel_bins + 2));
  for (int64_t i = 0; i < mel_bins + 2; ++i) {
    const double hertz = 700.0 * (std::pow(10.0, (static_cast<double>(i) * mel_step + low_mel) / 2595.0) - 1.0);
    const double bin = std::floor(static_cast<double>(dft_length + 1) * hertz / static_cast<double>(sample_rate));
    points[i] = static_cast<int64_t>(std::clamp(bin, -bound, bound));
  }
  // Filter m rises from points[m] to points[m + 1] and falls to points[m + 2]
  // (the falling edge wins at the peak, where both are 1).
  Generate(*y, [&](int64_t i) {
    const int64_t j = i / mel_bins;
    const int64_t m = i % mel_bins;
    const int64_t left = points[m];
    const int64_t center = points[m + 1];
    const int64_t right = points[m + 2];
    if (j >= center && j < right) return static_cast<double>(right - j) / static_cast<double>(right - center);
    if (j == center) return 1.0;
    if (j >= left && j < center) return static_cast<double>(j - left) / static_cast<double>(center - left);
    return 0.0;
  });
  return Status::Ok();
}

}  // namespace

void RegisterSignalKernels(OpRegistry& registry) {
  auto window = [](WindowCoefficients coefficients) {
    return [coefficients](KernelBuildContext& build) { return MakeWindow(build, coefficients); };
  };
  registry.Register("", "HannWindow", {17}, InferWindow, window({0.5, 0.5, 0.0}));
  registry.Register("", "HammingWindow", {17}, InferWindow, window({25.0 / 46.0, 21.0 / 46.0, 0.0}));
  registry.Register("", "BlackmanWindow", {17}, InferWindow, window({0.42, 0.5, 0.08}));
  registry.Register("", "MelWeightMatrix", {17}, InferMel,
                    [](KernelBuildContext& build) -> Result<std::unique_ptr<Kernel>> {
                      ASSIGN_OR_RETURN(DataType dtype, OutputDatatype(build.node()));
                      return MakeFunctionKernel([dtype](KernelContext& context) { return ComputeMel(context, dtype); });
                    });
}

}  // namespace berth::engine
