// MaxPool, AveragePool, LpPool, the Global pools and MaxUnpool checked
// against direct reference loops written from the ONNX definitions, for what
// the conformance suite does not reach: ceil_mode with counted padding (which
// oneDNN cannot express), the ceil-mode rule for windows starting in the
// right padding, indices in both storage orders over several planes, 8-bit
// and half types, Lp norms, unpooling round trips, the primitive cache under
// concurrency, and bad inputs.
#include <gtest/gtest.h>
#include <onnx/onnx_pb.h>

#include <cmath>
#include <limits>
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

void ExpectNear(const Tensor& expected, const Tensor& actual, double rtol = 1e-4, double atol = 1e-5) {
  core::Status status = core::CompareTensors(expected, actual, core::Tolerance{rtol, atol});
  EXPECT_TRUE(status.ok()) << status.message();
}

// ---------------------------------------------------------------------------
// Reference pooling, from the definition, in double.

enum class Kind { kMax, kAverage, kLp };

struct PoolCase {
  const char* name;
  TensorShape x;
  std::vector<int64_t> kernel;
  std::vector<int64_t> strides = {}, dilations = {}, pads = {};
  bool ceil_mode = false;
  bool count_include_pad = false;
};

struct PoolResult {
  TensorShape shape;
  std::vector<double> values;
  std::vector<int64_t> indices;
};

PoolResult ReferencePool(Kind kind, const PoolCase& c, const std::vector<double>& x, int storage_order = 0,
                         double p = 2) {
  const size_t rank = c.x.size() - 2;
  std::vector<int64_t> in(c.x.begin() + 2, c.x.end()), out(rank), strides(rank, 1), dilations(rank, 1), begin(rank, 0),
      end(rank, 0);
  for (size_t a = 0; a < rank; ++a) {
    if (!c.strides.empty()) strides[a] = c.strides[a];
    if (!c.dilations.empty()) dilations[a] = c.dilations[a];
    if (!c.pads.empty()) {
      begin[a] = c.pads[a];
      end[a] = c.pads[a + rank];
    }
    const int64_t span = in[a] + begin[a] + end[a] - ((c.kernel[a] - 1) * dilations[a] + 1);
    out[a] = c.ceil_mode ? (span + strides[a] - 1) / strides[a] + 1 : span / strides[a] + 1;
    if (c.ceil_mode && (out[a] - 1) * strides[a] >= in[a] + begin[a]) --out[a];
  }
  PoolResult result;
  result.shape = {c.x[0], c.x[1]};
  result.shape.insert(result.shape.end(), out.begin(), out.end());
  const int64_t n_in = core::ElementCount(in), n_out = core::ElementCount(out), n_k = core::ElementCount(c.kernel);
  for (int64_t plane = 0; plane < c.x[0] * c.x[1]; ++plane) {
    for (int64_t o = 0; o < n_out; ++o) {
      std::vector<int64_t> oi(rank), ki(rank);
      for (int64_t r = o, a = rank - 1; a >= 0; --a) {
        oi[a] = r % out[a];
        r /= out[a];
      }
      double best = -std::numeric_limits<double>::infinity(), sum = 0;
      int64_t best_index = -1, counted = 0, valid = 0;
      for (int64_t k = 0; k < n_k; ++k) {
        for (int64_t r = k, a = rank - 1; a >= 0; --a) {
          ki[a] = r % c.kernel[a];
          r /= c.kernel[a];
        }
        bool inside = true, in_padded = true;
        int64_t row = 0, col = 0, col_stride = 1;
        for (size_t a = 0; a < rank; ++a) {
          const int64_t i = oi[a] * strides[a] - begin[a] + ki[a] * dilations[a];
          if (i < 0 || i >= in[a]) inside = false;
          if (i < -begin[a] || i >= in[a] + end[a]) in_padded = false;
          row = row * in[a] + i;
          col += i * col_stride;
          col_stride *= in[a];
        }
        if (in_padded) ++counted;
        if (!inside) continue;
        ++valid;
        const double v = x[plane * n_in + row];
        if (v > best) {
          best = v;
          best_index = plane * n_in + (storage_order == 1 ? col : row);
        }
        sum += kind == Kind::kLp ? std::pow(std::abs(v), p) : v;
      }
      if (kind == Kind::kMax) {
        result.values.push_back(best);
        result.indices.push_back(best_index);
      } else if (kind == Kind::kAverage) {
        result.values.push_back(sum / (c.count_include_pad ? counted : valid));
      } else {
        result.values.push_back(std::pow(sum, 1 / p));
      }
    }
  }
  return result;
}

std::vector<onnx::AttributeProto> PoolAttributes(const PoolCase& c) {
  std::vector<onnx::AttributeProto> attributes = {Ints("kernel_shape", c.kernel)};
  if (!c.strides.empty()) attributes.push_back(Ints("strides", c.strides));
  if (!c.dilations.empty()) attributes.push_back(Ints("dilations", c.dilations));
  if (!c.pads.empty()) attributes.push_back(Ints("pads", c.pads));
  if (c.ceil_mode) attributes.push_back(Int("ceil_mode", 1));
  if (c.count_include_pad) attributes.push_back(Int("count_include_pad", 1));
  return attributes;
}

template <typename T>
Tensor Typed(const std::vector<double>& values, const TensorShape& shape) {
  std::vector<T> converted;
  for (double v : values) converted.push_back(static_cast<T>(static_cast<float>(v)));
  return Tensor::FromVector(converted, shape);
}

template <>
Tensor Typed<double>(const std::vector<double>& values, const TensorShape& shape) {
  return Tensor::FromVector(values, shape);
}

const std::vector<PoolCase>& PoolCases() {
  static const std::vector<PoolCase> cases = {
      {"3x3 s2 pad 1", {2, 3, 9, 8}, {3, 3}, {2, 2}, {}, {1, 1, 1, 1}},
      {"ceil", {1, 2, 10, 7}, {3, 2}, {2, 3}, {}, {0, 1, 1, 0}, true},
      {"ceil counting pads", {1, 2, 10, 7}, {3, 2}, {2, 3}, {}, {1, 1, 0, 0}, true, true},
      {"counting pads", {2, 2, 6, 6}, {3, 3}, {1, 1}, {}, {2, 1, 1, 2}, false, true},
      {"ceil drops a window starting in the right padding", {1, 1, 5, 5}, {3, 3}, {3, 3}, {}, {0, 0, 2, 2}, true},
      {"1-D", {2, 3, 17}, {4}, {3}, {}, {2, 1}},
      {"3-D", {1, 2, 5, 6, 7}, {2, 3, 2}, {2, 1, 2}, {}, {1, 0, 1, 0, 1, 1}, true},
      {"4-D (portable)", {1, 2, 4, 3, 5, 4}, {2, 2, 3, 2}, {2, 1, 2, 2}, {}, {1, 0, 0, 1, 0, 1, 1, 0}},
      {"global-sized kernel", {2, 4, 7, 7}, {7, 7}},
  };
  return cases;
}

TEST(Pooling, MaxAndAveragePoolMatchReferenceForEveryFloatType) {
  for (const PoolCase& c : PoolCases()) {
    std::vector<float> xf = RandomFloats(core::ElementCount(c.x), 1, -2, 2);
    // Values that half precision holds exactly keep all types comparable.
    for (auto& v : xf) v = std::round(v * 64) / 64;
    std::vector<double> x(xf.begin(), xf.end());
    for (Kind kind : {Kind::kMax, Kind::kAverage}) {
      PoolResult expected = ReferencePool(kind, c, x);
      const char* op = kind == Kind::kMax ? "MaxPool" : "AveragePool";
      for (DataType type : {DataType::kFloat32, DataType::kFloat64, DataType::kFloat16}) {
        SCOPED_TRACE(std::string(op) + " " + c.name + " " + std::string(core::DataTypeName(type)));
        Tensor input = type == DataType::kFloat32   ? Typed<float>(x, c.x)
                       : type == DataType::kFloat64 ? Typed<double>(x, c.x)
                                                    : Typed<core::Float16>(x, c.x);
        auto outputs = RunNodeChecked(op, {{"x", input}}, PoolAttributes(c));
        ASSERT_TRUE(outputs.ok()) << outputs.status().message();
        Tensor want = type == DataType::kFloat32   ? Typed<float>(expected.values, expected.shape)
                      : type == DataType::kFloat64 ? Typed<double>(expected.values, expected.shape)
                                                   : Typed<core::Float16>(expected.values, expected.shape);
        ExpectNear(want, (*outputs)[0], type == DataType::kFloat16 ? 2e-3 : 1e-5);
      }
    }
  }
}

TEST(Pooling, DilatedPooling) {
  PoolCase c{"dilated", {1, 3, 11, 10}, {3, 2}, {2, 1}, {2, 3}, {1, 2, 2, 0}, true};
  std::vector<float> xf = RandomFloats(core::ElementCount(c.x), 2, -2, 2);
  std::vector<double> x(xf.begin(), xf.end());
  auto outputs = RunNodeChecked("MaxPool", {{"x", Tensor::FromVector(xf, c.x)}}, PoolAttributes(c), 1, 12);
  ASSERT_TRUE(outputs.ok()) << outputs.status().message();
  PoolResult expected = ReferencePool(Kind::kMax, c, x);
  ExpectNear(Typed<float>(expected.values, expected.shape), (*outputs)[0]);
  // AveragePool takes dilations from opset 19.
  for (bool count_pads : {false, true}) {
    c.count_include_pad = count_pads;
    outputs = RunNodeChecked("AveragePool", {{"x", Tensor::FromVector(xf, c.x)}}, PoolAttributes(c), 1, 19);
    ASSERT_TRUE(outputs.ok()) << outputs.status().message();
    expected = ReferencePool(Kind::kAverage, c, x);
    ExpectNear(Typed<float>(expected.values, expected.shape), (*outputs)[0]);
  }
}

TEST(Pooling, CeilModeAverageCountsOnlyExplicitPads) {
  // Windows [1,2] [3,4] [5, ceil padding]: the last divides by 1 (the ceil
  // padding is not counted), and with pads [1, 0]: [pad,1] [2,3] [4,5].
  auto outputs = RunNodeChecked(
      "AveragePool", {{"x", Tensor::FromVector<float>({1, 2, 3, 4, 5}, {1, 1, 5})}},
      {Ints("kernel_shape", {2}), Ints("strides", {2}), Int("ceil_mode", 1), Int("count_include_pad", 1)});
  ASSERT_TRUE(outputs.ok()) << outputs.status().message();
  ExpectNear(Tensor::FromVector<float>({1.5f, 3.5f, 5.0f}, {1, 1, 3}), (*outputs)[0]);
  outputs = RunNodeChecked("AveragePool", {{"x", Tensor::FromVector<float>({1, 2, 3, 4, 5}, {1, 1, 5})}},
                           {Ints("kernel_shape", {2}), Ints("strides", {2}), Ints("pads", {1, 0}), Int("ceil_mode", 1),
                            Int("count_include_pad", 1)});
  ASSERT_TRUE(outputs.ok()) << outputs.status().message();
  ExpectNear(Tensor::FromVector<float>({0.5f, 2.5f, 4.5f}, {1, 1, 3}), (*outputs)[0]);
}

TEST(Pooling, MaxPoolIndicesInBothStorageOrders) {
  PoolCase c{"indices", {2, 3, 7, 6}, {3, 2}, {2, 2}, {1, 1}, {1, 0, 1, 1}, true};
  std::vector<float> xf = RandomFloats(core::ElementCount(c.x), 3, -2, 2);
  std::vector<double> x(xf.begin(), xf.end());
  for (int order : {0, 1}) {
    SCOPED_TRACE("storage_order " + std::to_string(order));
    std::vector<onnx::AttributeProto> attributes = PoolAttributes(c);
    attributes.push_back(Int("storage_order", order));
    PoolResult expected = ReferencePool(Kind::kMax, c, x, order);
    for (DataType type : {DataType::kFloat32, DataType::kFloat64}) {
      Tensor input = type == DataType::kFloat32 ? Tensor::FromVector(xf, c.x) : Tensor::FromVector(x, c.x);
      auto outputs = RunNodeChecked("MaxPool", {{"x", input}}, attributes, 2, 12);
      ASSERT_TRUE(outputs.ok()) << outputs.status().message();
      ExpectNear(type == DataType::kFloat32 ? Typed<float>(expected.values, expected.shape)
                                            : Typed<double>(expected.values, expected.shape),
                 (*outputs)[0]);
      EXPECT_TRUE(core::CompareTensors(Tensor::FromVector(expected.indices, expected.shape), (*outputs)[1]).ok());
    }
  }
}

TEST(Pooling, EightBitMaxPool) {
  PoolCase c{"int8", {2, 3, 8, 9}, {3, 3}, {2, 2}, {}, {1, 1, 1, 1}, true};
  std::mt19937 rng(4);
  std::vector<int8_t> xs8;
  std::vector<uint8_t> xu8;
  std::vector<double> xd8, xdu;
  for (int64_t i = 0; i < core::ElementCount(c.x); ++i) {
    int v = static_cast<int>(rng() % 256);
    xu8.push_back(static_cast<uint8_t>(v));
    xs8.push_back(static_cast<int8_t>(v - 128));
    xdu.push_back(v);
    xd8.push_back(v - 128);
  }
  PoolResult expected_s8 = ReferencePool(Kind::kMax, c, xd8);
  PoolResult expected_u8 = ReferencePool(Kind::kMax, c, xdu);
  for (int outputs_wanted : {1, 2}) {
    SCOPED_TRACE(outputs_wanted == 2 ? "with indices" : "values only");
    auto s8 = RunNodeChecked("MaxPool", {{"x", Tensor::FromVector(xs8, c.x)}}, PoolAttributes(c), outputs_wanted, 12);
    ASSERT_TRUE(s8.ok()) << s8.status().message();
    std::vector<int8_t> want_s8(expected_s8.values.begin(), expected_s8.values.end());
    EXPECT_TRUE(core::CompareTensors(Tensor::FromVector(want_s8, expected_s8.shape), (*s8)[0]).ok());
    auto u8 = RunNodeChecked("MaxPool", {{"x", Tensor::FromVector(xu8, c.x)}}, PoolAttributes(c), outputs_wanted, 12);
    ASSERT_TRUE(u8.ok()) << u8.status().message();
    std::vector<uint8_t> want_u8(expected_u8.values.begin(), expected_u8.values.end());
    EXPECT_TRUE(core::CompareTensors(Tensor::FromVector(want_u8, expected_u8.shape), (*u8)[0]).ok());
    if (outputs_wanted == 2) {
      // Ties may pick any maximal element: check the index names one.
      const int64_t* indices = (*u8)[1].data<int64_t>();
      for (size_t i = 0; i < want_u8.size(); ++i) EXPECT_EQ(xu8[indices[i]], want_u8[i]);
    }
  }
}

TEST(Pooling, LpPoolNorms) {
  PoolCase c{"lp", {1, 2, 7, 6}, {3, 2}, {2, 1}, {}, {1, 0, 0, 1}};
  std::vector<float> xf = RandomFloats(core::ElementCount(c.x), 5, -2, 2);
  std::vector<double> x(xf.begin(), xf.end());
  for (int p : {1, 2, 3}) {
    SCOPED_TRACE("p = " + std::to_string(p));
    std::vector<onnx::AttributeProto> attributes = PoolAttributes(c);
    attributes.push_back(Int("p", p));
    auto outputs = RunNodeChecked("LpPool", {{"x", Tensor::FromVector(xf, c.x)}}, attributes, 1, 11);
    ASSERT_TRUE(outputs.ok()) << outputs.status().message();
    PoolResult expected = ReferencePool(Kind::kLp, c, x, 0, p);
    ExpectNear(Typed<float>(expected.values, expected.shape), (*outputs)[0]);
  }
  // LpPool-1 declares p as a float.
  std::vector<onnx::AttributeProto> attributes = PoolAttributes(c);
  attributes.push_back(Float("p", 3.0f));
  auto outputs = RunNodeChecked("LpPool", {{"x", Tensor::FromVector(xf, c.x)}}, attributes, 1, 1);
  ASSERT_TRUE(outputs.ok()) << outputs.status().message();
  PoolResult expected = ReferencePool(Kind::kLp, c, x, 0, 3);
  ExpectNear(Typed<float>(expected.values, expected.shape), (*outputs)[0]);
}

TEST(Pooling, GlobalPools) {
  for (TensorShape shape : {TensorShape{2, 3, 5}, TensorShape{2, 3, 4, 5}, TensorShape{1, 2, 3, 4, 5}}) {
    std::vector<float> xf = RandomFloats(core::ElementCount(shape), 6, -2, 2);
    std::vector<double> x(xf.begin(), xf.end());
    PoolCase c{"global", shape, std::vector<int64_t>(shape.begin() + 2, shape.end())};
    struct Op {
      const char* name;
      Kind kind;
    };
    for (Op op :
         {Op{"GlobalMaxPool", Kind::kMax}, Op{"GlobalAveragePool", Kind::kAverage}, Op{"GlobalLpPool", Kind::kLp}}) {
      SCOPED_TRACE(std::string(op.name) + " " + core::ShapeToString(shape));
      PoolResult expected = ReferencePool(op.kind, c, x);
      auto outputs = RunNodeChecked(op.name, {{"x", Tensor::FromVector(xf, shape)}}, {}, 1, 2);
      ASSERT_TRUE(outputs.ok()) << outputs.status().message();
      ExpectNear(Typed<float>(expected.values, expected.shape), (*outputs)[0]);
      auto dbl = RunNodeChecked(op.name, {{"x", Tensor::FromVector(x, shape)}}, {}, 1, 2);
      ASSERT_TRUE(dbl.ok()) << dbl.status().message();
      ExpectNear(Typed<double>(expected.values, expected.shape), (*dbl)[0], 1e-12, 1e-12);
    }
  }
}

TEST(Pooling, MaxUnpoolInvertsMaxPool) {
  PoolCase c{"unpool", {2, 2, 6, 6}, {2, 2}, {2, 2}};
  std::vector<float> xf = RandomFloats(core::ElementCount(c.x), 7, -2, 2);
  auto pooled = RunNodeChecked("MaxPool", {{"x", Tensor::FromVector(xf, c.x)}}, PoolAttributes(c), 2, 12);
  ASSERT_TRUE(pooled.ok()) << pooled.status().message();
  auto unpooled = RunNodeChecked("MaxUnpool", {{"x", (*pooled)[0]}, {"i", (*pooled)[1]}},
                                 {Ints("kernel_shape", {2, 2}), Ints("strides", {2, 2})}, 1, 11);
  ASSERT_TRUE(unpooled.ok()) << unpooled.status().message();
  const Tensor& y = (*unpooled)[0];
  ASSERT_EQ(y.shape(), c.x);
  // Every maximum is back in place; everything else is zero.
  std::vector<float> expected(xf.size(), 0.0f);
  const int64_t* indices = (*pooled)[1].data<int64_t>();
  for (int64_t i = 0; i < (*pooled)[1].element_count(); ++i) expected[indices[i]] = xf[indices[i]];
  ExpectNear(Tensor::FromVector(expected, c.x), y);

  // A larger output_shape puts the unpooled tensor at its start.
  auto padded = RunNodeChecked(
      "MaxUnpool",
      {{"x", (*pooled)[0]}, {"i", (*pooled)[1]}, {"shape", Tensor::FromVector<int64_t>({2, 2, 7, 8}, {4}), true}},
      {Ints("kernel_shape", {2, 2}), Ints("strides", {2, 2})}, 1, 11);
  ASSERT_TRUE(padded.ok()) << padded.status().message();
  ASSERT_EQ((*padded)[0].shape(), (TensorShape{2, 2, 7, 8}));
  const float* p = (*padded)[0].data<float>();
  for (int64_t plane = 0; plane < 4; ++plane) {
    for (int64_t h = 0; h < 7; ++h) {
      for (int64_t w = 0; w < 8; ++w) {
        float want = h < 6 && w < 6 ? expected[(plane * 6 + h) * 6 + w] : 0.0f;
        EXPECT_EQ(p[(plane * 7 + h) * 8 + w], want);
      }
    }
  }
}

TEST(Pooling, MaxUnpoolRejectsBadIndicesAndShapes) {
  auto x = Tensor::FromVector<float>({1, 2, 3, 4}, {1, 1, 2, 2});
  std::vector<onnx::AttributeProto> attributes = {Ints("kernel_shape", {2, 2}), Ints("strides", {2, 2})};
  const Tensor indices = Tensor::FromVector<int64_t>({0, 5, 16, 3}, {1, 1, 2, 2});
  auto outputs = RunNodeChecked("MaxUnpool", {{"x", x}, {"i", indices}}, attributes, 1, 11);
  ASSERT_FALSE(outputs.ok());
  EXPECT_NE(outputs.status().message().find("index 16"), std::string::npos) << outputs.status().message();
  outputs = RunNodeChecked("MaxUnpool", {{"x", x}, {"i", Tensor::FromVector<int64_t>({0, -1, 2, 3}, {1, 1, 2, 2})}},
                           attributes, 1, 11);
  ASSERT_FALSE(outputs.ok());
  outputs = RunNodeChecked("MaxUnpool", {{"x", x}, {"i", Tensor::FromVector<int64_t>({0, 1, 2}, {1, 1, 3})}},
                           attributes, 1, 11);
  ASSERT_FALSE(outputs.ok());
  outputs = RunNodeChecked("MaxUnpool",
                           {{"x", x},
                            {"i", Tensor::FromVector<int64_t>({0, 1, 2, 3}, {1, 1, 2, 2})},
                            {"shape", Tensor::FromVector<int64_t>({1, 1, 3, 3}, {4})}},
                           attributes, 1, 11);
  ASSERT_FALSE(outputs.ok());
  EXPECT_NE(outputs.status().message().find("output_shape"), std::string::npos) << outputs.status().message();
}

TEST(Pooling, RejectsBadAttributes) {
  auto x = Tensor::FromVector(RandomFloats(16, 8, -2, 2), {1, 1, 4, 4});
  EXPECT_FALSE(RunNodeChecked("MaxPool", {{"x", x}}, {}).ok());  // kernel_shape is required
  EXPECT_FALSE(RunNodeChecked("MaxPool", {{"x", x}}, {Ints("kernel_shape", {2})}).ok());
  EXPECT_FALSE(
      RunNodeChecked("MaxPool", {{"x", x}}, {Ints("kernel_shape", {2, 2}), Int("storage_order", 2)}, 2, 12).ok());
  EXPECT_FALSE(RunNodeChecked("AveragePool", {{"x", x}}, {Ints("kernel_shape", {5, 5})}).ok());
  EXPECT_FALSE(RunNodeChecked("AveragePool", {{"x", x}}, {Ints("kernel_shape", {2, 2}), Ints("pads", {1, 1, 1})}).ok());
  EXPECT_FALSE(RunNodeChecked("LpPool", {{"x", x}}, {Ints("kernel_shape", {2, 2}), Int("p", 0)}, 1, 11).ok());
  auto ints = Tensor::FromVector<int32_t>(std::vector<int32_t>(16, 1), {1, 1, 4, 4});
  auto status = RunNodeChecked("AveragePool", {{"x", ints}}, {Ints("kernel_shape", {2, 2})});
  ASSERT_FALSE(status.ok());
}

TEST(Pooling, CachesPrimitivesPerShapeAcrossThreads) {
  PoolCase c{"cache", {1, 3, 10, 10}, {3, 3}, {2, 2}, {}, {1, 1, 1, 1}, true};
  auto session =
      SingleNode("MaxPool", {{"x", Tensor::FromVector(RandomFloats(300, 9, -2, 2), c.x)}}, PoolAttributes(c), 1, 12,
                 /*dynamic=*/true)
          .Load();
  ASSERT_TRUE(session.ok()) << session.status().message();
  std::vector<TensorShape> shapes = {{1, 3, 10, 10}, {2, 5, 9, 13}};
  std::vector<Tensor> inputs, expected;
  for (size_t i = 0; i < shapes.size(); ++i) {
    std::vector<float> xf = RandomFloats(core::ElementCount(shapes[i]), 10 + i, -2, 2);
    inputs.push_back(Tensor::FromVector(xf, shapes[i]));
    PoolCase shaped = c;
    shaped.x = shapes[i];
    PoolResult r = ReferencePool(Kind::kMax, shaped, std::vector<double>(xf.begin(), xf.end()));
    expected.push_back(Typed<float>(r.values, r.shape));
  }
  EXPECT_EQ(CountConcurrentMismatches(**session, "x", inputs, expected), 0);
}

}  // namespace
}  // namespace berth::engine::testing
