// DFT, STFT, the window generators and MelWeightMatrix beyond the ONNX
// backend tests: every FFT algorithm (radix-2, direct, Bluestein) against a
// naive transform, inverse round trips, padding, complex input, opset 20's
// axis input, and argument errors.
#include <gtest/gtest.h>

#include <cmath>
#include <complex>
#include <numbers>
#include <random>

#include "core/tensor_compare.h"
#include "op_test_model.h"

namespace berth::engine::testing {
namespace {

using core::DataType;
using core::Tensor;

std::vector<std::complex<double>> NaiveDft(const std::vector<std::complex<double>>& x, int64_t n) {
  std::vector<std::complex<double>> out(static_cast<size_t>(n));
  for (int64_t k = 0; k < n; ++k) {
    for (int64_t j = 0; j < n && j < static_cast<int64_t>(x.size()); ++j) {
      const double angle = -2 * std::numbers::pi * static_cast<double>((j * k) % n) / static_cast<double>(n);
      out[k] += x[j] * std::complex<double>(std::cos(angle), std::sin(angle));
    }
  }
  return out;
}

class DftLengths : public ::testing::TestWithParam<int64_t> {};

// 12: direct sum; 128: radix-2; 100 and 97: Bluestein.
TEST_P(DftLengths, MatchesANaiveTransformAndInvertsBack) {
  const int64_t n = GetParam();
  std::mt19937 random(7);
  std::uniform_real_distribution<double> uniform(-1, 1);
  std::vector<std::complex<double>> signal(static_cast<size_t>(n));
  std::vector<double> interleaved;
  for (auto& value : signal) {
    value = {uniform(random), uniform(random)};
    interleaved.push_back(value.real());
    interleaved.push_back(value.imag());
  }
  const Tensor x = Tensor::FromVector<double>(interleaved, {1, n, 2});
  OpTestModel forward("DFT", 17);
  forward.Input("x", x).Output("y");
  Tensor y = RunOne(forward);
  ASSERT_EQ(y.shape(), (core::TensorShape{1, n, 2}));
  const auto expected = NaiveDft(signal, n);
  for (int64_t k = 0; k < n; ++k) {
    EXPECT_NEAR(y.data<double>()[2 * k], expected[k].real(), 1e-9) << "bin " << k;
    EXPECT_NEAR(y.data<double>()[2 * k + 1], expected[k].imag(), 1e-9) << "bin " << k;
  }
  OpTestModel inverse("DFT", 17);
  inverse.Input("x", y).Output("y").Int("inverse", 1);
  Tensor back = RunOne(inverse);
  EXPECT_TRUE(core::CompareTensors(x, back, {0, 1e-12}).ok());
}

INSTANTIATE_TEST_SUITE_P(Lengths, DftLengths, ::testing::Values(12, 128, 100, 97));

TEST(Dft, OnesidedWithPaddingAndTruncation) {
  // Real [1, 2, 3] zero-padded to 4: X = [6, -2-2i, 2, -2+2i]; one-sided keeps 3 bins.
  OpTestModel padded("DFT", 17);
  padded.Input("x", Floats({1, 2, 3}, {1, 3, 1})).Initializer("dft_length", Int64s({4}, {})).Output("y");
  padded.Int("onesided", 1);
  Tensor y = RunOne(padded);
  EXPECT_TRUE(core::CompareTensors(Floats({6, 0, -2, -2, 2, 0}, {1, 3, 2}), y).ok()) << y.DebugString();

  // Truncated to 2: X = [3, -1].
  OpTestModel truncated("DFT", 17);
  truncated.Input("x", Floats({1, 2, 3}, {1, 3, 1})).Initializer("dft_length", Int64s({2}, {})).Output("y");
  EXPECT_TRUE(core::CompareTensors(Floats({3, 0, -1, 0}, {1, 2, 2}), RunOne(truncated)).ok());
}

TEST(Dft, AxisAsAnInputAtOpset20) {
  // [1, 2, 2, 1]: transform along axis 2 (the default -2).
  OpTestModel model("DFT", 20);
  model.Input("x", Floats({1, 2, 3, 5}, {1, 2, 2, 1})).Output("y");
  EXPECT_TRUE(core::CompareTensors(Floats({3, 0, -1, 0, 8, 0, -2, 0}, {1, 2, 2, 2}), RunOne(model)).ok());
  OpTestModel explicit_axis("DFT", 20);
  explicit_axis.Input("x", Floats({1, 2, 3, 5}, {1, 2, 2, 1})).Absent().Initializer("axis", Int64s({1}, {}));
  explicit_axis.Output("y");
  EXPECT_TRUE(core::CompareTensors(Floats({4, 0, 7, 0, -2, 0, -3, 0}, {1, 2, 2, 2}), RunOne(explicit_axis)).ok());
}

TEST(Dft, RejectsBadArguments) {
  OpTestModel last_axis("DFT", 17);
  last_axis.Input("x", Floats({1, 2}, {1, 2, 1})).Output("y").Int("axis", 2);
  EXPECT_FALSE(last_axis.Run().ok());
  OpTestModel complex_onesided("DFT", 17);
  complex_onesided.Input("x", Floats({1, 2, 3, 4}, {1, 2, 2})).Output("y").Int("onesided", 1);
  EXPECT_FALSE(complex_onesided.Run().ok());
  OpTestModel zero_length("DFT", 17);
  zero_length.Input("x", Floats({1, 2}, {1, 2, 1})).Input("n", Int64s({0}, {})).Output("y");
  EXPECT_FALSE(zero_length.Run().ok());
}

TEST(Stft, ComplexSignalTwoSided) {
  // Frames [1, 1+i] and [1+i, 2]: DFTs [2+i, -i] and [3+i, -1+i].
  OpTestModel model("STFT", 17);
  model.Input("signal", Floats({1, 0, 1, 1, 2, 0}, {1, 3, 2})).Input("step", Int64s({1}, {}));
  model.Absent().Input("length", Int64s({2}, {})).Output("y").Int("onesided", 0);
  EXPECT_TRUE(core::CompareTensors(Floats({2, 1, 0, -1, 3, 1, -1, 1}, {1, 2, 2, 2}), RunOne(model)).ok());
}

TEST(Stft, RejectsInconsistentFrames) {
  OpTestModel mismatch("STFT", 17);
  mismatch.Input("signal", Floats(std::vector<float>(8), {1, 8, 1})).Input("step", Int64s({2}, {}));
  mismatch.Input("window", Floats({1, 1, 1}, {3})).Input("length", Int64s({4}, {})).Output("y");
  EXPECT_FALSE(mismatch.Run().ok());
  OpTestModel too_long("STFT", 17);
  too_long.Input("signal", Floats(std::vector<float>(4), {1, 4, 1})).Input("step", Int64s({1}, {}));
  too_long.Absent().Input("length", Int64s({8}, {})).Output("y");
  EXPECT_FALSE(too_long.Run().ok());
}

TEST(Window, EdgeSizesAndOutputType) {
  OpTestModel one("HannWindow", 17);
  one.Input("size", Tensor::Scalar<int32_t>(1)).Output("y").Int("periodic", 0);
  EXPECT_TRUE(core::CompareTensors(Floats({1}, {1}), RunOne(one)).ok());

  OpTestModel empty("BlackmanWindow", 17);
  empty.Input("size", Tensor::Scalar<int64_t>(0)).Output("y");
  EXPECT_EQ(RunOne(empty).shape(), (core::TensorShape{0}));

  OpTestModel as_double("HammingWindow", 17);
  as_double.Initializer("size", Tensor::Scalar<int64_t>(4)).Output("y").Int("output_datatype", 11);
  Tensor y = RunOne(as_double);
  ASSERT_EQ(y.dtype(), DataType::kFloat64);
  EXPECT_NEAR(y.data<double>()[2], 1.0, 1e-12);  // the periodic window peaks at size / 2
  auto session = as_double.Load();
  ASSERT_TRUE(session.ok());
  EXPECT_EQ((*session)->outputs()[0].type.ToString(), "float64[4]");

  OpTestModel negative("HannWindow", 17);
  negative.Input("size", Tensor::Scalar<int64_t>(-3)).Output("y");
  EXPECT_FALSE(negative.Run().ok());
}

TEST(MelWeightMatrix, UpperEdgeAboveNyquistStaysInBounds) {
  OpTestModel model("MelWeightMatrix", 17);
  model.Input("bins", Tensor::Scalar<int64_t>(4)).Input("dft_length", Tensor::Scalar<int64_t>(8));
  model.Input("rate", Tensor::Scalar<int64_t>(100)).Input("low", Tensor::Scalar<float>(0));
  model.Input("high", Tensor::Scalar<float>(400)).Output("y");
  Tensor y = RunOne(model);
  EXPECT_EQ(y.shape(), (core::TensorShape{5, 4}));
  for (float value : y.values<float>()) {
    EXPECT_GE(value, 0.0f);
    EXPECT_LE(value, 1.0f);
  }
  OpTestModel bad("MelWeightMatrix", 17);
  bad.Input("bins", Tensor::Scalar<int64_t>(0)).Input("dft_length", Tensor::Scalar<int64_t>(8));
  bad.Input("rate", Tensor::Scalar<int64_t>(100)).Input("low", Tensor::Scalar<float>(0));
  bad.Input("high", Tensor::Scalar<float>(50)).Output("y");
  EXPECT_FALSE(bad.Run().ok());
}

}  // namespace
}  // namespace berth::engine::testing
