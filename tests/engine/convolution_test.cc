// Conv, ConvTranspose, ConvInteger and QLinearConv checked against direct
// reference loops written from the ONNX definitions (differential tests),
// for the paths the conformance suite does not reach: constant (prepacked)
// weights, groups and depthwise, half and double types, higher ranks,
// negative transposed-convolution pads, per-channel quantization, the
// per-shape primitive cache under concurrency, and bad inputs.
#include <gtest/gtest.h>
#include <onnx/onnx_pb.h>

#include <cmath>
#include <random>

#include "core/tensor_compare.h"
#include "engine/onnx/model_loader.h"
#include "engine/session.h"
#include "single_node_model.h"

namespace berth::engine::testing {
namespace {

using core::DataType;
using core::Tensor;
using core::TensorShape;

Tensor FloatTensor(const std::vector<double>& values, const TensorShape& shape) {
  return Tensor::FromVector<float>(std::vector<float>(values.begin(), values.end()), shape);
}

// ---------------------------------------------------------------------------
// Reference convolution, straight from the definition, in double.

struct Geometry {
  int64_t group = 1;
  std::vector<int64_t> strides, dilations, pad_begin, pad_end;
};

// Spatial coordinates of flat index `flat` in `dims`.
std::vector<int64_t> Unflatten(int64_t flat, const std::vector<int64_t>& dims) {
  std::vector<int64_t> index(dims.size());
  for (size_t a = dims.size(); a-- > 0;) {
    index[a] = flat % dims[a];
    flat /= dims[a];
  }
  return index;
}

std::vector<double> ReferenceConv(const std::vector<double>& x, const TensorShape& xs, const std::vector<double>& w,
                                  const TensorShape& ws, const std::vector<double>* bias, const Geometry& g,
                                  TensorShape* out_shape) {
  const size_t rank = xs.size() - 2;
  std::vector<int64_t> in(xs.begin() + 2, xs.end()), kernel(ws.begin() + 2, ws.end()), out(rank);
  for (size_t a = 0; a < rank; ++a) {
    out[a] = (in[a] + g.pad_begin[a] + g.pad_end[a] - ((kernel[a] - 1) * g.dilations[a] + 1)) / g.strides[a] + 1;
  }
  *out_shape = {xs[0], ws[0]};
  out_shape->insert(out_shape->end(), out.begin(), out.end());
  const int64_t n_out = core::ElementCount(out), n_in = core::ElementCount(in), n_k = core::ElementCount(kernel);
  const int64_t cg = xs[1] / g.group, mg = ws[0] / g.group;
  std::vector<double> y(static_cast<size_t>(core::ElementCount(*out_shape)));
  for (int64_t n = 0; n < xs[0]; ++n) {
    for (int64_t m = 0; m < ws[0]; ++m) {
      for (int64_t p = 0; p < n_out; ++p) {
        std::vector<int64_t> o = Unflatten(p, out);
        double acc = bias ? (*bias)[m] : 0.0;
        for (int64_t c = 0; c < cg; ++c) {
          for (int64_t k = 0; k < n_k; ++k) {
            std::vector<int64_t> t = Unflatten(k, kernel);
            int64_t offset = 0;
            bool inside = true;
            for (size_t a = 0; a < rank; ++a) {
              int64_t i = o[a] * g.strides[a] - g.pad_begin[a] + t[a] * g.dilations[a];
              if (i < 0 || i >= in[a]) inside = false;
              offset = offset * in[a] + i;
            }
            if (!inside) continue;
            acc += x[(n * xs[1] + (m / mg) * cg + c) * n_in + offset] * w[(m * cg + c) * n_k + k];
          }
        }
        y[(n * ws[0] + m) * n_out + p] = acc;
      }
    }
  }
  return y;
}

// y[n, m, o] = bias + sum x[n, c, q] * w[c, m', k] over o = q*s - pad_begin + k*d.
std::vector<double> ReferenceConvTranspose(const std::vector<double>& x, const TensorShape& xs,
                                           const std::vector<double>& w, const TensorShape& ws,
                                           const std::vector<double>* bias, const Geometry& g,
                                           const std::vector<int64_t>& out, TensorShape* out_shape) {
  const size_t rank = xs.size() - 2;
  std::vector<int64_t> in(xs.begin() + 2, xs.end()), kernel(ws.begin() + 2, ws.end());
  const int64_t m_total = ws[1] * g.group, cg = xs[1] / g.group, mg = ws[1];
  *out_shape = {xs[0], m_total};
  out_shape->insert(out_shape->end(), out.begin(), out.end());
  const int64_t n_out = core::ElementCount(out), n_in = core::ElementCount(in), n_k = core::ElementCount(kernel);
  std::vector<double> y(static_cast<size_t>(core::ElementCount(*out_shape)));
  for (int64_t n = 0; n < xs[0]; ++n) {
    for (int64_t m = 0; m < m_total; ++m) {
      for (int64_t p = 0; p < n_out; ++p) y[(n * m_total + m) * n_out + p] = bias ? (*bias)[m] : 0.0;
      const int64_t group = m / mg;
      for (int64_t c = group * cg; c < (group + 1) * cg; ++c) {
        for (int64_t q = 0; q < n_in; ++q) {
          std::vector<int64_t> qi = Unflatten(q, in);
          for (int64_t k = 0; k < n_k; ++k) {
            std::vector<int64_t> t = Unflatten(k, kernel);
            int64_t offset = 0;
            bool inside = true;
            for (size_t a = 0; a < rank; ++a) {
              int64_t o = qi[a] * g.strides[a] - g.pad_begin[a] + t[a] * g.dilations[a];
              if (o < 0 || o >= out[a]) inside = false;
              offset = offset * out[a] + o;
            }
            if (inside) {
              y[(n * m_total + m) * n_out + offset] += x[(n * xs[1] + c) * n_in + q] * w[(c * mg + m % mg) * n_k + k];
            }
          }
        }
      }
    }
  }
  return y;
}

std::vector<double> AsDouble(const std::vector<float>& v) { return std::vector<double>(v.begin(), v.end()); }

void ExpectNear(const Tensor& expected, const Tensor& actual, double rtol = 1e-3, double atol = 1e-5) {
  core::Status status = core::CompareTensors(expected, actual, core::Tolerance{rtol, atol});
  EXPECT_TRUE(status.ok()) << status.message();
}

// ---------------------------------------------------------------------------
// Conv

struct ConvCase {
  const char* name;
  TensorShape x, w;
  int64_t group = 1;
  std::vector<int64_t> strides = {}, dilations = {}, pads = {};  // empty: defaults
  bool bias = true;
};

std::vector<onnx::AttributeProto> ConvAttributes(const ConvCase& c) {
  std::vector<onnx::AttributeProto> attributes;
  if (c.group != 1) attributes.push_back(Int("group", c.group));
  if (!c.strides.empty()) attributes.push_back(Ints("strides", c.strides));
  if (!c.dilations.empty()) attributes.push_back(Ints("dilations", c.dilations));
  if (!c.pads.empty()) attributes.push_back(Ints("pads", c.pads));
  return attributes;
}

Geometry ConvGeometry(const ConvCase& c) {
  const size_t rank = c.x.size() - 2;
  Geometry g;
  g.group = c.group;
  g.strides = c.strides.empty() ? std::vector<int64_t>(rank, 1) : c.strides;
  g.dilations = c.dilations.empty() ? std::vector<int64_t>(rank, 1) : c.dilations;
  g.pad_begin =
      c.pads.empty() ? std::vector<int64_t>(rank, 0) : std::vector<int64_t>(c.pads.begin(), c.pads.begin() + rank);
  g.pad_end =
      c.pads.empty() ? std::vector<int64_t>(rank, 0) : std::vector<int64_t>(c.pads.begin() + rank, c.pads.end());
  return g;
}

const std::vector<ConvCase>& ConvCases() {
  static const std::vector<ConvCase> cases = {
      {"3x3 pad 1", {2, 3, 9, 8}, {4, 3, 3, 3}, 1, {}, {}, {1, 1, 1, 1}},
      {"strided dilated asymmetric", {1, 5, 13, 11}, {6, 5, 3, 2}, 1, {2, 3}, {2, 1}, {0, 1, 2, 0}},
      {"grouped", {2, 4, 7, 7}, {6, 2, 3, 3}, 2, {1, 1}, {}, {1, 0, 1, 2}},
      {"depthwise", {1, 8, 10, 10}, {8, 1, 3, 3}, 8, {2, 2}, {}, {1, 1, 1, 1}},
      {"depthwise multiplier 2", {1, 4, 6, 6}, {8, 1, 3, 3}, 4, {}, {}, {1, 1, 1, 1}, false},
      {"1x1", {3, 16, 5, 4}, {32, 16, 1, 1}},
      {"1-D", {2, 3, 20}, {5, 3, 4}, 1, {3}, {2}, {2, 1}},
      {"3-D", {1, 2, 5, 6, 7}, {3, 2, 2, 3, 2}, 1, {1, 2, 1}, {1, 1, 2}, {1, 0, 1, 0, 1, 1}},
      {"kernel larger than unpadded input", {1, 1, 2, 2}, {1, 1, 3, 3}, 1, {}, {}, {1, 1, 1, 1}},
  };
  return cases;
}

TEST(Convolution, ConvMatchesReferenceWithGraphAndConstantWeights) {
  for (const ConvCase& c : ConvCases()) {
    for (bool constant : {false, true}) {
      SCOPED_TRACE(std::string(c.name) + (constant ? " (constant W, B)" : " (W, B as inputs)"));
      std::vector<float> x = RandomFloats(core::ElementCount(c.x), 1), w = RandomFloats(core::ElementCount(c.w), 2),
                         b = RandomFloats(c.w[0], 3);
      std::vector<TestInput> inputs = {{"x", Tensor::FromVector(x, c.x)}, {"w", Tensor::FromVector(w, c.w), constant}};
      if (c.bias) inputs.push_back({"b", Tensor::FromVector(b, {c.w[0]}), constant});
      auto outputs = RunNodeChecked("Conv", inputs, ConvAttributes(c));
      ASSERT_TRUE(outputs.ok()) << outputs.status().message();
      TensorShape shape;
      std::vector<double> bd = AsDouble(b);
      std::vector<double> expected =
          ReferenceConv(AsDouble(x), c.x, AsDouble(w), c.w, c.bias ? &bd : nullptr, ConvGeometry(c), &shape);
      ExpectNear(FloatTensor(expected, shape), (*outputs)[0]);
    }
  }
}

TEST(Convolution, ConvAutoPadMatchesExplicitPads) {
  // SAME pads: total = max(0, (ceil(in/s) - 1) * s + extent - in), the odd one at the end (UPPER) or start (LOWER).
  TensorShape xs = {1, 2, 7, 8}, ws = {3, 2, 3, 4};
  std::vector<float> x = RandomFloats(core::ElementCount(xs), 4), w = RandomFloats(core::ElementCount(ws), 5);
  struct Case {
    const char* auto_pad;
    std::vector<int64_t> pads;
  };
  // in 7, s 2, k 3 -> out 4, total 2; in 8, s 2, k 4 -> out 4, total 2... with dilation 1.
  for (const Case& c :
       {Case{"SAME_UPPER", {1, 1, 1, 1}}, Case{"SAME_LOWER", {1, 1, 1, 1}}, Case{"VALID", {0, 0, 0, 0}}}) {
    SCOPED_TRACE(c.auto_pad);
    auto outputs = RunNodeChecked("Conv", {{"x", Tensor::FromVector(x, xs)}, {"w", Tensor::FromVector(w, ws), true}},
                                  {String("auto_pad", c.auto_pad), Ints("strides", {2, 2})});
    ASSERT_TRUE(outputs.ok()) << outputs.status().message();
    ConvCase reference{"", xs, ws, 1, {2, 2}, {}, c.pads};
    TensorShape shape;
    std::vector<double> expected =
        ReferenceConv(AsDouble(x), xs, AsDouble(w), ws, nullptr, ConvGeometry(reference), &shape);
    ExpectNear(FloatTensor(expected, shape), (*outputs)[0]);
  }
  // An odd total: in 6, s 1, k 4 -> total 3: UPPER puts 2 at the end, LOWER 2 at the start.
  TensorShape xs2 = {1, 1, 6}, ws2 = {1, 1, 4};
  std::vector<float> x2 = RandomFloats(6, 6), w2 = RandomFloats(4, 7);
  for (auto [auto_pad, pads] :
       {std::pair{"SAME_UPPER", std::vector<int64_t>{1, 2}}, std::pair{"SAME_LOWER", std::vector<int64_t>{2, 1}}}) {
    SCOPED_TRACE(auto_pad);
    auto outputs = RunNodeChecked("Conv", {{"x", Tensor::FromVector(x2, xs2)}, {"w", Tensor::FromVector(w2, ws2)}},
                                  {String("auto_pad", auto_pad)});
    ASSERT_TRUE(outputs.ok()) << outputs.status().message();
    TensorShape shape;
    std::vector<double> expected = ReferenceConv(AsDouble(x2), xs2, AsDouble(w2), ws2, nullptr,
                                                 ConvGeometry({"", xs2, ws2, 1, {}, {}, pads}), &shape);
    ExpectNear(FloatTensor(expected, shape), (*outputs)[0]);
  }
}

TEST(Convolution, ConvHalfAndDoubleTypes) {
  const ConvCase& c = ConvCases()[1];
  std::vector<float> x = RandomFloats(core::ElementCount(c.x), 8), w = RandomFloats(core::ElementCount(c.w), 9),
                     b = RandomFloats(c.w[0], 10);
  // Round the inputs to half precision so both sides see the same values.
  for (auto& v : x) v = static_cast<float>(core::Float16(v));
  for (auto& v : w) v = static_cast<float>(core::Float16(v));
  for (auto& v : b) v = static_cast<float>(core::Float16(v));
  TensorShape shape;
  std::vector<double> bd = AsDouble(b);
  std::vector<double> expected = ReferenceConv(AsDouble(x), c.x, AsDouble(w), c.w, &bd, ConvGeometry(c), &shape);
  auto to_half = [](const std::vector<float>& v) {
    std::vector<core::Float16> h;
    for (float f : v) h.emplace_back(f);
    return h;
  };
  for (bool constant : {false, true}) {
    auto half = RunNodeChecked("Conv",
                               {{"x", Tensor::FromVector(to_half(x), c.x)},
                                {"w", Tensor::FromVector(to_half(w), c.w), constant},
                                {"b", Tensor::FromVector(to_half(b), {c.w[0]}), constant}},
                               ConvAttributes(c));
    ASSERT_TRUE(half.ok()) << half.status().message();
    ASSERT_EQ((*half)[0].dtype(), DataType::kFloat16);
    std::vector<core::Float16> expected_half;
    for (double v : expected) expected_half.emplace_back(static_cast<float>(v));
    ExpectNear(Tensor::FromVector(expected_half, shape), (*half)[0], 2e-3, 2e-3);
  }
  auto dbl = RunNodeChecked("Conv",
                            {{"x", Tensor::FromVector(AsDouble(x), c.x)},
                             {"w", Tensor::FromVector(AsDouble(w), c.w), true},
                             {"b", Tensor::FromVector(AsDouble(b), {c.w[0]})}},
                            ConvAttributes(c));
  ASSERT_TRUE(dbl.ok()) << dbl.status().message();
  ExpectNear(Tensor::FromVector(expected, shape), (*dbl)[0], 1e-12, 1e-12);
}

TEST(Convolution, ConvWithFourSpatialAxesUsesThePortablePath) {
  ConvCase c{"4-D", {1, 4, 4, 3, 5, 4}, {6, 2, 2, 2, 3, 2}, 2, {1, 1, 2, 1}, {1, 2, 1, 1}, {0, 1, 1, 0, 1, 0, 0, 1}};
  std::vector<float> x = RandomFloats(core::ElementCount(c.x), 11), w = RandomFloats(core::ElementCount(c.w), 12),
                     b = RandomFloats(6, 13);
  auto outputs = RunNodeChecked(
      "Conv",
      {{"x", Tensor::FromVector(x, c.x)}, {"w", Tensor::FromVector(w, c.w), true}, {"b", Tensor::FromVector(b, {6})}},
      ConvAttributes(c));
  ASSERT_TRUE(outputs.ok()) << outputs.status().message();
  TensorShape shape;
  std::vector<double> bd = AsDouble(b);
  std::vector<double> expected = ReferenceConv(AsDouble(x), c.x, AsDouble(w), c.w, &bd, ConvGeometry(c), &shape);
  ExpectNear(FloatTensor(expected, shape), (*outputs)[0]);
}

TEST(Convolution, EmptyBatchAndEmptyChannels) {
  auto outputs = RunNodeChecked("Conv",
                                {{"x", Tensor::FromVector<float>({}, {0, 2, 5, 5})},
                                 {"w", Tensor::FromVector(RandomFloats(2 * 2 * 9, 1), {2, 2, 3, 3}), true}},
                                {});
  ASSERT_TRUE(outputs.ok()) << outputs.status().message();
  EXPECT_EQ((*outputs)[0].shape(), (TensorShape{0, 2, 3, 3}));
  // No input channels: every output is the bias.
  for (bool constant : {false, true}) {
    outputs = RunNodeChecked("Conv",
                             {{"x", Tensor::FromVector<float>({}, {1, 0, 4, 4})},
                              {"w", Tensor::FromVector<float>({}, {2, 0, 3, 3}), constant},
                              {"b", Tensor::FromVector<float>({1.5f, -2.0f}, {2})}},
                             {});
    ASSERT_TRUE(outputs.ok()) << outputs.status().message();
    ExpectNear(Tensor::FromVector<float>({1.5f, 1.5f, 1.5f, 1.5f, -2, -2, -2, -2}, {1, 2, 2, 2}), (*outputs)[0]);
    outputs = RunNodeChecked("ConvTranspose",
                             {{"x", Tensor::FromVector<float>({}, {1, 0, 2, 2})},
                              {"w", Tensor::FromVector<float>({}, {0, 2, 1, 1}), constant},
                              {"b", Tensor::FromVector<float>({1.5f, -2.0f}, {2})}},
                             {});
    ASSERT_TRUE(outputs.ok()) << outputs.status().message();
    ExpectNear(Tensor::FromVector<float>({1.5f, 1.5f, 1.5f, 1.5f, -2, -2, -2, -2}, {1, 2, 2, 2}), (*outputs)[0]);
  }
}

TEST(Convolution, ConvCachesPrimitivesPerShapeAcrossThreads) {
  // One session, inputs of two shapes alternating on four threads.
  TensorShape ws = {8, 3, 3, 3};
  std::vector<float> w = RandomFloats(core::ElementCount(ws), 14), b = RandomFloats(8, 15);
  std::vector<TestInput> declared = {{"x", Tensor::FromVector(RandomFloats(3 * 10 * 10, 16), {1, 3, 10, 10})},
                                     {"w", Tensor::FromVector(w, ws), true},
                                     {"b", Tensor::FromVector(b, {8}), true}};
  auto session = SingleNode("Conv", declared, {Ints("pads", {1, 1, 1, 1})}, 1, 17, /*dynamic=*/true).Load();
  ASSERT_TRUE(session.ok()) << session.status().message();
  std::vector<TensorShape> shapes = {{1, 3, 10, 10}, {2, 3, 7, 12}};
  std::vector<Tensor> inputs, expected;
  std::vector<double> bd = AsDouble(b);
  for (size_t i = 0; i < shapes.size(); ++i) {
    std::vector<float> x = RandomFloats(core::ElementCount(shapes[i]), 20 + i);
    inputs.push_back(Tensor::FromVector(x, shapes[i]));
    TensorShape shape;
    ConvCase c{"", shapes[i], ws, 1, {}, {}, {1, 1, 1, 1}};
    expected.push_back(
        FloatTensor(ReferenceConv(AsDouble(x), shapes[i], AsDouble(w), ws, &bd, ConvGeometry(c), &shape), shape));
  }
  EXPECT_EQ(CountConcurrentMismatches(**session, "x", inputs, expected), 0);
}

TEST(Convolution, ConvRejectsInconsistentInputsWithClearErrors) {
  auto x = Tensor::FromVector(RandomFloats(1 * 4 * 5 * 5, 1), {1, 4, 5, 5});
  auto w = Tensor::FromVector(RandomFloats(2 * 3 * 3 * 3, 2), {2, 3, 3, 3});
  auto outputs = RunNodeChecked("Conv", {{"x", x}, {"w", w}}, {});
  ASSERT_FALSE(outputs.ok());
  EXPECT_NE(outputs.status().message().find("channels"), std::string::npos) << outputs.status().message();

  auto w4 = Tensor::FromVector(RandomFloats(2 * 4 * 3 * 3, 2), {2, 4, 3, 3});
  outputs = RunNodeChecked("Conv", {{"x", x}, {"w", w4}, {"b", Tensor::FromVector(RandomFloats(3, 3), {3})}}, {});
  ASSERT_FALSE(outputs.ok());
  EXPECT_NE(outputs.status().message().find("bias"), std::string::npos) << outputs.status().message();

  outputs = RunNodeChecked("Conv", {{"x", x}, {"w", w4}}, {Ints("kernel_shape", {2, 2})});
  ASSERT_FALSE(outputs.ok());
  EXPECT_NE(outputs.status().message().find("kernel_shape"), std::string::npos) << outputs.status().message();

  outputs = RunNodeChecked("Conv", {{"x", x}, {"w", w4}}, {Ints("pads", {-1, 0, 0, 0})});
  ASSERT_FALSE(outputs.ok());
  EXPECT_NE(outputs.status().message().find("pads"), std::string::npos) << outputs.status().message();

  outputs = RunNodeChecked("Conv", {{"x", x}, {"w", w4}}, {Ints("strides", {0, 1})});
  ASSERT_FALSE(outputs.ok());

  outputs = RunNodeChecked("Conv", {{"x", x}, {"w", w4}}, {Int("group", 3)});
  ASSERT_FALSE(outputs.ok());

  // Kernel extent larger than the padded input.
  outputs = RunNodeChecked("Conv", {{"x", x}, {"w", w4}}, {Ints("dilations", {3, 3})});
  ASSERT_FALSE(outputs.ok());
  EXPECT_NE(outputs.status().message().find("exceeds"), std::string::npos) << outputs.status().message();
}

// ---------------------------------------------------------------------------
// ConvTranspose

struct TransposeCase {
  const char* name;
  TensorShape x, w;
  int64_t group = 1;
  std::vector<int64_t> strides = {}, dilations = {}, pads = {}, output_padding = {}, output_shape = {};
  const char* auto_pad = nullptr;
};

TEST(Convolution, ConvTransposeMatchesReference) {
  const std::vector<TransposeCase> cases = {
      {"plain", {2, 3, 4, 5}, {3, 2, 3, 3}},
      {"strided padded", {1, 2, 5, 4}, {2, 3, 3, 2}, 1, {2, 3}, {}, {1, 0, 1, 1}},
      {"output_padding beyond pads", {2, 3, 4, 5}, {3, 3, 3, 3}, 1, {3, 3}, {}, {1, 1, 1, 1}, {2, 2}},
      {"grouped dilated", {1, 4, 5, 5}, {4, 3, 2, 3}, 2, {2, 1}, {2, 2}, {0, 1, 1, 0}, {1, 0}},
      {"depthwise", {1, 6, 4, 4}, {6, 1, 3, 3}, 6, {2, 2}, {}, {1, 1, 1, 1}, {1, 1}},
      {"output_shape larger than full", {1, 1, 3, 3}, {1, 2, 3, 3}, 1, {3, 2}, {}, {}, {}, {12, 9}},
      {"output_shape smaller than full", {1, 2, 4, 4}, {2, 2, 3, 3}, 1, {2, 2}, {}, {}, {}, {7, 8}},
      {"SAME_UPPER", {1, 2, 3, 4}, {2, 2, 4, 3}, 1, {2, 2}, {}, {}, {}, {}, "SAME_UPPER"},
      {"SAME_LOWER", {1, 2, 3, 4}, {2, 2, 4, 3}, 1, {2, 2}, {}, {}, {}, {}, "SAME_LOWER"},
      {"1-D", {2, 2, 7}, {2, 3, 4}, 1, {3}, {2}, {1, 2}, {1}},
      {"3-D", {1, 2, 3, 4, 3}, {2, 2, 2, 3, 2}, 1, {2, 1, 2}, {1, 2, 1}, {0, 1, 1, 1, 0, 0}},
      {"4-D (portable)", {1, 2, 3, 2, 3, 2}, {2, 2, 2, 2, 2, 3}, 1, {2, 1, 1, 2}, {}, {1, 0, 0, 1, 0, 1, 0, 0}},
  };
  for (const TransposeCase& c : cases) {
    const size_t rank = c.x.size() - 2;
    std::vector<int64_t> strides = c.strides.empty() ? std::vector<int64_t>(rank, 1) : c.strides;
    std::vector<int64_t> dilations = c.dilations.empty() ? std::vector<int64_t>(rank, 1) : c.dilations;
    std::vector<int64_t> output_padding = c.output_padding.empty() ? std::vector<int64_t>(rank, 0) : c.output_padding;
    // The spec's equations for the output extent and begin pads.
    Geometry g;
    g.group = c.group;
    g.strides = strides;
    g.dilations = dilations;
    std::vector<int64_t> out(rank);
    for (size_t a = 0; a < rank; ++a) {
      const int64_t extent = (c.w[a + 2] - 1) * dilations[a] + 1;
      const int64_t full = strides[a] * (c.x[a + 2] - 1) + output_padding[a] + extent;
      if (!c.output_shape.empty() || c.auto_pad) {
        out[a] = c.output_shape.empty() ? c.x[a + 2] * strides[a] : c.output_shape[a];
        const int64_t total = full - out[a];
        const int64_t half = total >= 0 ? total / 2 : -((-total + 1) / 2);  // floor
        g.pad_begin.push_back(c.auto_pad && std::string(c.auto_pad) == "SAME_UPPER" ? half : total - half);
      } else {
        const int64_t begin = c.pads.empty() ? 0 : c.pads[a];
        const int64_t end = c.pads.empty() ? 0 : c.pads[a + rank];
        out[a] = full - begin - end;
        g.pad_begin.push_back(begin);
      }
    }
    std::vector<onnx::AttributeProto> attributes;
    if (c.group != 1) attributes.push_back(Int("group", c.group));
    if (!c.strides.empty()) attributes.push_back(Ints("strides", c.strides));
    if (!c.dilations.empty()) attributes.push_back(Ints("dilations", c.dilations));
    if (!c.pads.empty()) attributes.push_back(Ints("pads", c.pads));
    if (!c.output_padding.empty()) attributes.push_back(Ints("output_padding", c.output_padding));
    if (!c.output_shape.empty()) attributes.push_back(Ints("output_shape", c.output_shape));
    if (c.auto_pad) attributes.push_back(String("auto_pad", c.auto_pad));
    const int64_t m = c.w[1] * c.group;
    std::vector<float> x = RandomFloats(core::ElementCount(c.x), 30), w = RandomFloats(core::ElementCount(c.w), 31),
                       b = RandomFloats(m, 32);
    TensorShape shape;
    std::vector<double> bd = AsDouble(b);
    std::vector<double> expected = ReferenceConvTranspose(AsDouble(x), c.x, AsDouble(w), c.w, &bd, g, out, &shape);
    for (bool constant : {false, true}) {
      SCOPED_TRACE(std::string(c.name) + (constant ? " (constant W, B)" : " (W, B as inputs)"));
      auto outputs = RunNodeChecked("ConvTranspose",
                                    {{"x", Tensor::FromVector(x, c.x)},
                                     {"w", Tensor::FromVector(w, c.w), constant},
                                     {"b", Tensor::FromVector(b, {m}), constant}},
                                    attributes);
      ASSERT_TRUE(outputs.ok()) << outputs.status().message();
      ExpectNear(FloatTensor(expected, shape), (*outputs)[0]);
    }
    {
      // Half precision: inputs rounded to float16 on both sides.
      SCOPED_TRACE(std::string(c.name) + " (float16)");
      auto half = [](const std::vector<float>& v) {
        std::vector<core::Float16> h;
        for (float f : v) h.emplace_back(f);
        return h;
      };
      auto widen = [](const std::vector<core::Float16>& v) {
        std::vector<double> d;
        for (core::Float16 f : v) d.push_back(static_cast<float>(f));
        return d;
      };
      std::vector<core::Float16> xh = half(x), wh = half(w), bh = half(b);
      std::vector<double> bhd = widen(bh);
      TensorShape half_shape;
      std::vector<double> want = ReferenceConvTranspose(widen(xh), c.x, widen(wh), c.w, &bhd, g, out, &half_shape);
      auto outputs = RunNodeChecked("ConvTranspose",
                                    {{"x", Tensor::FromVector(xh, c.x)},
                                     {"w", Tensor::FromVector(wh, c.w), true},
                                     {"b", Tensor::FromVector(bh, {m}), true}},
                                    attributes);
      ASSERT_TRUE(outputs.ok()) << outputs.status().message();
      std::vector<core::Float16> want_half;
      for (double v : want) want_half.emplace_back(static_cast<float>(v));
      ExpectNear(Tensor::FromVector(want_half, half_shape), (*outputs)[0], 2e-3, 2e-3);
    }
    SCOPED_TRACE(std::string(c.name) + " (double)");
    auto dbl = RunNodeChecked("ConvTranspose",
                              {{"x", Tensor::FromVector(AsDouble(x), c.x)},
                               {"w", Tensor::FromVector(AsDouble(w), c.w)},
                               {"b", Tensor::FromVector(bd, {m})}},
                              attributes);
    ASSERT_TRUE(dbl.ok()) << dbl.status().message();
    ExpectNear(Tensor::FromVector(expected, shape), (*dbl)[0], 1e-12, 1e-12);
  }
}

TEST(Convolution, ConvTransposeRejectsBadShapes) {
  auto x = Tensor::FromVector(RandomFloats(1 * 3 * 4 * 4, 1), {1, 3, 4, 4});
  auto w = Tensor::FromVector(RandomFloats(2 * 2 * 3 * 3, 2), {2, 2, 3, 3});
  auto outputs = RunNodeChecked("ConvTranspose", {{"x", x}, {"w", w}}, {});
  ASSERT_FALSE(outputs.ok());
  EXPECT_NE(outputs.status().message().find("channels"), std::string::npos) << outputs.status().message();
  auto w3 = Tensor::FromVector(RandomFloats(3 * 2 * 3 * 3, 2), {3, 2, 3, 3});
  // Pads larger than the full output.
  outputs = RunNodeChecked("ConvTranspose", {{"x", x}, {"w", w3}}, {Ints("pads", {4, 0, 3, 0})});
  ASSERT_FALSE(outputs.ok());
  EXPECT_NE(outputs.status().message().find("negative output extent"), std::string::npos) << outputs.status().message();
}

// ---------------------------------------------------------------------------
// ConvInteger / QLinearConv

template <typename T>
std::vector<T> RandomInts(int64_t count, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> dist(std::numeric_limits<T>::min(), std::numeric_limits<T>::max());
  std::vector<T> values(static_cast<size_t>(count));
  for (auto& v : values) v = static_cast<T>(dist(rng));
  return values;
}

// Integer reference: sum (x - xz) * (w - wz[m]) with zero-point padding.
template <typename X, typename W>
std::vector<double> ReferenceIntegerConv(const std::vector<X>& x, int xz, const TensorShape& xs,
                                         const std::vector<W>& w, const std::vector<int>& wz, const TensorShape& ws,
                                         const Geometry& g, TensorShape* shape) {
  std::vector<double> xd, wd;
  for (X v : x) xd.push_back(static_cast<double>(v) - xz);
  const int64_t per = core::ElementCount(ws) / ws[0];
  for (size_t i = 0; i < w.size(); ++i) wd.push_back(static_cast<double>(w[i]) - wz[wz.size() == 1 ? 0 : i / per]);
  return ReferenceConv(xd, xs, wd, ws, nullptr, g, shape);
}

TEST(Convolution, ConvIntegerWithPerChannelZeroPointsAndMixedSigns) {
  TensorShape xs = {2, 4, 6, 5}, ws = {6, 2, 3, 2};
  ConvCase c{"", xs, ws, 2, {2, 1}, {1, 2}, {1, 0, 1, 1}};
  std::vector<int8_t> x = RandomInts<int8_t>(core::ElementCount(xs), 40);
  std::vector<uint8_t> w = RandomInts<uint8_t>(core::ElementCount(ws), 41);
  std::vector<uint8_t> wz = {3, 250, 128, 0, 7, 77};
  int8_t xz = -5;
  TensorShape shape;
  std::vector<double> expected =
      ReferenceIntegerConv(x, xz, xs, w, std::vector<int>(wz.begin(), wz.end()), ws, ConvGeometry(c), &shape);
  std::vector<int32_t> expected_int(expected.begin(), expected.end());
  for (bool constant : {false, true}) {
    SCOPED_TRACE(constant ? "constant w" : "w as input");
    auto outputs = RunNodeChecked("ConvInteger",
                                  {{"x", Tensor::FromVector(x, xs)},
                                   {"w", Tensor::FromVector(w, ws), constant},
                                   {"x_zero_point", Tensor::Scalar<int8_t>(xz)},
                                   {"w_zero_point", Tensor::FromVector(wz, {6}), constant}},
                                  ConvAttributes(c), 1, 10);
    ASSERT_TRUE(outputs.ok()) << outputs.status().message();
    EXPECT_TRUE(core::CompareTensors(Tensor::FromVector(expected_int, shape), (*outputs)[0]).ok());
  }
  // Zero points are optional.
  auto outputs = RunNodeChecked("ConvInteger", {{"x", Tensor::FromVector(x, xs)}, {"w", Tensor::FromVector(w, ws)}},
                                ConvAttributes(c), 1, 10);
  ASSERT_TRUE(outputs.ok()) << outputs.status().message();
  expected = ReferenceIntegerConv(x, 0, xs, w, {0}, ws, ConvGeometry(c), &shape);
  EXPECT_TRUE(core::CompareTensors(Tensor::FromVector(std::vector<int32_t>(expected.begin(), expected.end()), shape),
                                   (*outputs)[0])
                  .ok());
  // A per-channel x zero point is not allowed.
  outputs = RunNodeChecked("ConvInteger",
                           {{"x", Tensor::FromVector(x, xs)},
                            {"w", Tensor::FromVector(w, ws)},
                            {"x_zero_point", Tensor::FromVector<int8_t>({1, 2}, {2})}},
                           ConvAttributes(c), 1, 10);
  EXPECT_FALSE(outputs.ok());
}

TEST(Convolution, QLinearConvRequantizesPerChannelWithBiasAndSaturation) {
  TensorShape xs = {1, 3, 7, 6}, ws = {4, 3, 3, 3};
  ConvCase c{"", xs, ws, 1, {1, 2}, {}, {1, 1, 0, 1}};
  std::vector<uint8_t> x = RandomInts<uint8_t>(core::ElementCount(xs), 50);
  std::vector<int8_t> w = RandomInts<int8_t>(core::ElementCount(ws), 51);
  const float x_scale = 0.02f, y_scale = 0.15f;
  const std::vector<float> w_scale = {0.01f, 0.002f, 0.05f, 0.003f};
  const std::vector<int8_t> wz = {0, 1, -2, 3};
  const std::vector<int32_t> bias = {100, -2000, 5, 30000};
  const uint8_t xz = 120;
  for (DataType y_type : {DataType::kUInt8, DataType::kInt8}) {
    const int yz = y_type == DataType::kUInt8 ? 128 : -3;
    TensorShape shape;
    std::vector<double> acc =
        ReferenceIntegerConv(x, xz, xs, w, std::vector<int>(wz.begin(), wz.end()), ws, ConvGeometry(c), &shape);
    const int64_t plane = core::ElementCount(shape) / 4;
    std::vector<uint8_t> expected_u8;
    std::vector<int8_t> expected_s8;
    int saturated = 0;
    for (size_t i = 0; i < acc.size(); ++i) {
      const int64_t m = static_cast<int64_t>(i) / plane;
      double v = std::nearbyint((acc[i] + bias[m]) * (double(x_scale) * w_scale[m] / y_scale)) + yz;
      double lo = y_type == DataType::kUInt8 ? 0 : -128, hi = y_type == DataType::kUInt8 ? 255 : 127;
      if (v < lo || v > hi) ++saturated;
      v = std::clamp(v, lo, hi);
      expected_u8.push_back(static_cast<uint8_t>(v));
      expected_s8.push_back(static_cast<int8_t>(v));
    }
    EXPECT_GT(saturated, 0) << "the case should exercise saturation";
    Tensor y_zero = y_type == DataType::kUInt8 ? Tensor::Scalar<uint8_t>(yz) : Tensor::Scalar<int8_t>(yz);
    for (bool constant : {false, true}) {
      SCOPED_TRACE(constant ? "constant w" : "w as input");
      auto outputs = RunNodeChecked("QLinearConv",
                                    {{"x", Tensor::FromVector(x, xs)},
                                     {"x_scale", Tensor::Scalar<float>(x_scale)},
                                     {"x_zero_point", Tensor::Scalar<uint8_t>(xz)},
                                     {"w", Tensor::FromVector(w, ws), constant},
                                     {"w_scale", Tensor::FromVector(w_scale, {4})},
                                     {"w_zero_point", Tensor::FromVector(wz, {4}), constant},
                                     {"y_scale", Tensor::Scalar<float>(y_scale)},
                                     {"y_zero_point", y_zero},
                                     {"b", Tensor::FromVector(bias, {4})}},
                                    ConvAttributes(c), 1, 10);
      ASSERT_TRUE(outputs.ok()) << outputs.status().message();
      Tensor expected =
          y_type == DataType::kUInt8 ? Tensor::FromVector(expected_u8, shape) : Tensor::FromVector(expected_s8, shape);
      core::Status status = core::CompareTensors(expected, (*outputs)[0]);
      EXPECT_TRUE(status.ok()) << status.message();
    }
  }
}

}  // namespace
}  // namespace berth::engine::testing
