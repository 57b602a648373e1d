// ai.onnx.preview.training ops: Gradient checked against central finite
// differences of the same forward graph (in double), and the optimizer steps
// (Adagrad, Momentum, Adam) on several tensors at once, plus their errors.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <random>

#include "core/tensor_compare.h"
#include "op_test_model.h"

namespace berth::engine::testing {
namespace {

using core::Tensor;

constexpr const char* kTraining = "ai.onnx.preview.training";

void AddNode(onnx::GraphProto* graph, const std::string& op, std::vector<std::string> inputs,
             std::vector<std::string> outputs) {
  auto* node = graph->add_node();
  node->set_op_type(op);
  for (const auto& i : inputs) node->add_input(i);
  for (const auto& o : outputs) node->add_output(o);
}

Tensor RandomDoubles(std::mt19937& rng, core::TensorShape shape, double low, double high) {
  std::uniform_real_distribution<double> dist(low, high);
  std::vector<double> values(static_cast<size_t>(core::ElementCount(shape)));
  for (double& v : values) v = dist(rng);
  return Tensor::FromVector<double>(values, std::move(shape));
}

struct NamedTensor {
  std::string name;
  Tensor value;
};

// Builds forward(graph) + Gradient(xs, zs, y) and compares each dy/dx with
// central differences of sum(y), evaluated through a model of the forward
// graph alone.
void CheckGradient(const std::function<void(onnx::GraphProto*)>& forward, const std::vector<NamedTensor>& xs,
                   const std::vector<NamedTensor>& zs, const std::string& y) {
  OpTestModel gradient("Gradient", 1, kTraining);
  std::vector<std::string> x_names;
  std::vector<std::string> z_names;
  for (const auto& x : xs) {
    gradient.Input(x.name, x.value).Output("d_" + x.name);
    x_names.push_back(x.name);
  }
  for (const auto& z : zs) {
    gradient.Input(z.name, z.value);
    z_names.push_back(z.name);
  }
  gradient.Strings("xs", x_names).String("y", y);
  if (!z_names.empty()) gradient.Strings("zs", z_names);
  forward(gradient.graph());
  auto grads = gradient.Run();
  ASSERT_TRUE(grads.ok()) << grads.status().ToString();

  OpTestModel plain("Identity", 17);
  plain.node().add_input(y);
  plain.Output("y_out");
  for (const auto& x : xs) plain.GraphInput(x.name, x.value);
  for (const auto& z : zs) plain.GraphInput(z.name, z.value);
  forward(plain.graph());
  auto session = plain.Load();
  ASSERT_TRUE(session.ok()) << session.status().ToString();
  auto total = [&]() {
    auto out = plain.Run(**session);
    EXPECT_TRUE(out.ok()) << out.status().ToString();
    double sum = 0;
    for (double v : (*out)[0].tensor().values<double>()) sum += v;
    return sum;
  };

  const double eps = 1e-6;
  for (size_t i = 0; i < xs.size(); ++i) {
    SCOPED_TRACE("d" + y + "/d" + xs[i].name);
    const Tensor& analytic = (*grads)[i].tensor();
    ASSERT_EQ(analytic.shape(), xs[i].value.shape());
    Tensor probe = *xs[i].value.Clone();
    for (int64_t e = 0; e < probe.element_count(); ++e) {
      const double saved = probe.data<double>()[e];
      probe.data<double>()[e] = saved + eps;
      plain.SetFeed(xs[i].name, probe);
      const double up = total();
      probe.data<double>()[e] = saved - eps;
      plain.SetFeed(xs[i].name, probe);
      const double down = total();
      probe.data<double>()[e] = saved;
      plain.SetFeed(xs[i].name, xs[i].value);
      EXPECT_NEAR(analytic.data<double>()[e], (up - down) / (2 * eps), 1e-5) << "element " << e;
    }
  }
}

TEST(Gradient, CompositeGraphMatchesFiniteDifferences) {
  std::mt19937 rng(11);
  std::vector<NamedTensor> xs = {{"A", RandomDoubles(rng, {2, 2, 3}, -1, 1)},
                                 {"B", RandomDoubles(rng, {3, 4}, -1, 1)},
                                 {"C", RandomDoubles(rng, {4}, 0.5, 1.5)}};
  std::vector<NamedTensor> zs = {{"D", RandomDoubles(rng, {1, 4}, 1, 2)}};
  auto forward = [](onnx::GraphProto* g) {
    AddNode(g, "MatMul", {"A", "B"}, {"M"});  // [2,2,4], B broadcast over the batch
    AddNode(g, "Mul", {"M", "C"}, {"P"});     // C broadcast
    AddNode(g, "Div", {"P", "D"}, {"Q"});     // D from zs: no gradient wanted
    AddNode(g, "Tanh", {"Q"}, {"T"});
    AddNode(g, "Sigmoid", {"P"}, {"S"});
    AddNode(g, "Sub", {"T", "S"}, {"R"});
    AddNode(g, "Relu", {"R"}, {"U"});
    AddNode(g, "Neg", {"P"}, {"N"});
    AddNode(g, "Exp", {"N"}, {"E"});
    AddNode(g, "Identity", {"E"}, {"I"});
    AddNode(g, "Add", {"U", "I"}, {"V"});
    AddNode(g, "Mul", {"V", "C"}, {"W"});  // C used twice: gradients add up
    AddNode(g, "Div", {"W", "C"}, {"X"});  // and in a denominator
    AddNode(g, "Mul", {"C", "C"}, {"C2"});
    AddNode(g, "Add", {"C2", "D"}, {"C3"});  // positive
    AddNode(g, "Sqrt", {"C3"}, {"C4"});
    AddNode(g, "Log", {"C4"}, {"C5"});
    AddNode(g, "Add", {"X", "C5"}, {"Y"});
  };
  CheckGradient(forward, xs, zs, "Y");
}

TEST(Gradient, OneDimensionalMatMulOperands) {
  std::mt19937 rng(5);
  std::vector<NamedTensor> xs = {{"a", RandomDoubles(rng, {3}, -1, 1)}, {"B", RandomDoubles(rng, {2, 3, 4}, -1, 1)}};
  auto forward = [](onnx::GraphProto* g) { AddNode(g, "MatMul", {"a", "B"}, {"y"}); };  // [2,4]
  CheckGradient(forward, xs, {}, "y");
  std::vector<NamedTensor> xs2 = {{"A", RandomDoubles(rng, {2, 3}, -1, 1)}, {"b", RandomDoubles(rng, {3}, -1, 1)}};
  auto forward2 = [](onnx::GraphProto* g) { AddNode(g, "MatMul", {"A", "b"}, {"y"}); };  // [2]
  CheckGradient(forward2, xs2, {}, "y");
}

TEST(Gradient, IndependentXGetsZerosAndYEqualToXGetsOnes) {
  OpTestModel model("Gradient", 1, kTraining);
  Tensor a = Tensor::FromVector<float>({1, 2}, {2});
  Tensor b = Tensor::FromVector<float>({3, 4}, {2});
  model.Input("a", a).Input("b", b).Output("da").Output("db");
  model.Strings("xs", {"a", "b"}).String("y", "c");
  AddNode(model.graph(), "Neg", {"a"}, {"c"});
  auto result = model.Run();
  ASSERT_TRUE(result.ok()) << result.status().ToString();
  EXPECT_TRUE(core::CompareTensors(Tensor::FromVector<float>({-1, -1}, {2}), (*result)[0].tensor()).ok());
  EXPECT_TRUE(core::CompareTensors(Tensor::FromVector<float>({0, 0}, {2}), (*result)[1].tensor()).ok());

  OpTestModel identity("Gradient", 1, kTraining);
  identity.Input("a", a).Output("da").Strings("xs", {"a"}).String("y", "a");
  auto ones = identity.Run();
  ASSERT_TRUE(ones.ok()) << ones.status().ToString();
  EXPECT_TRUE(core::CompareTensors(Tensor::FromVector<float>({1, 1}, {2}), (*ones)[0].tensor()).ok());
}

TEST(Gradient, Errors) {
  Tensor a = Tensor::FromVector<float>({1, 2}, {1, 2});
  {
    // An op without a derivative rule on the path from xs to y.
    OpTestModel model("Gradient", 1, kTraining);
    model.Input("a", a).Output("da").Strings("xs", {"a"}).String("y", "s");
    AddNode(model.graph(), "Softmax", {"a"}, {"s"});
    auto session = model.Load();
    ASSERT_FALSE(session.ok());
    EXPECT_EQ(session.status().code(), core::StatusCode::kUnimplemented);
    EXPECT_NE(session.status().message().find("no derivative rule for op 'Softmax'"), std::string::npos)
        << session.status().message();
  }
  {
    // y reads a graph input that is neither in xs nor zs.
    OpTestModel model("Gradient", 1, kTraining);
    model.Input("a", a).GraphInput("other", a).Output("da").Strings("xs", {"a"}).String("y", "c");
    AddNode(model.graph(), "Add", {"a", "other"}, {"c"});
    auto session = model.Load();
    ASSERT_FALSE(session.ok());
    EXPECT_NE(session.status().message().find("depends on 'other'"), std::string::npos) << session.status().message();
  }
  {
    OpTestModel model("Gradient", 1, kTraining);
    model.Input("a", a).Output("da").Output("db").Strings("xs", {"a"}).String("y", "a");
    EXPECT_FALSE(model.Load().ok());  // more outputs than xs
  }
}

// ---------------------------------------------------------------------------
// Optimizers

Tensor D(std::vector<double> values) {
  const int64_t n = static_cast<int64_t>(values.size());
  return Tensor::FromVector<double>(values, {n});
}

void ExpectValues(const Tensor& actual, const std::vector<double>& expected) {
  ASSERT_EQ(actual.element_count(), static_cast<int64_t>(expected.size()));
  for (size_t i = 0; i < expected.size(); ++i) EXPECT_NEAR(actual.data<double>()[i], expected[i], 1e-12) << i;
}

TEST(Optimizers, AdagradOnTwoDoubleTensors) {
  const double r = 0.1, decay = 0.1, eps = 1e-5, norm = 0.001;
  const int64_t t = 3;
  OpTestModel model("Adagrad", 1, kTraining);
  model.Input("R", Tensor::Scalar<double>(r)).Input("T", Tensor::Scalar<int64_t>(t));
  model.Input("X1", D({1.0})).Input("X2", D({1.0, 2.0})).Input("G1", D({-1.0})).Input("G2", D({-1.0, -3.0}));
  model.Input("H1", D({2.0})).Input("H2", D({4.0, 1.0}));
  model.Output("X1n").Output("X2n").Output("H1n").Output("H2n");
  model.Float("decay_factor", static_cast<float>(decay)).Float("epsilon", static_cast<float>(eps));
  model.Float("norm_coefficient", static_cast<float>(norm));
  auto result = model.Run();
  ASSERT_TRUE(result.ok()) << result.status().ToString();
  auto step = [&](double x, double g, double h, double* h_new) {
    const double lr = r / (1 + static_cast<double>(t) * static_cast<float>(decay));
    const double gr = static_cast<float>(norm) * x + g;
    *h_new = h + gr * gr;
    return x - lr * gr / (std::sqrt(*h_new) + static_cast<float>(eps));
  };
  double h1, h2a, h2b;
  const double x1 = step(1, -1, 2, &h1), x2a = step(1, -1, 4, &h2a), x2b = step(2, -3, 1, &h2b);
  ExpectValues((*result)[0].tensor(), {x1});
  ExpectValues((*result)[1].tensor(), {x2a, x2b});
  ExpectValues((*result)[2].tensor(), {h1});
  ExpectValues((*result)[3].tensor(), {h2a, h2b});
}

TEST(Optimizers, MomentumStandardNesterovAndFirstStep) {
  for (const char* mode : {"standard", "nesterov"}) {
    for (int64_t t : {0, 5}) {
      const float alpha = 0.9f, beta = 0.5f, norm = 0.01f;
      const double r = 0.2;
      OpTestModel model("Momentum", 1, kTraining);
      model.Input("R", Tensor::Scalar<double>(r)).Input("T", Tensor::Scalar<int64_t>(t));
      model.Input("X", D({1.0, -2.0})).Input("G", D({0.5, 0.25})).Input("V", D({0.1, -0.1}));
      model.Output("Xn").Output("Vn").Float("alpha", alpha).Float("beta", beta).Float("norm_coefficient", norm);
      model.String("mode", mode);
      auto result = model.Run();
      ASSERT_TRUE(result.ok()) << result.status().ToString();
      std::vector<double> x_new, v_new;
      const double x[] = {1.0, -2.0}, g[] = {0.5, 0.25}, v[] = {0.1, -0.1};
      for (int i = 0; i < 2; ++i) {
        const double gr = double(norm) * x[i] + g[i];
        const double vn = double(alpha) * v[i] + (t > 0 ? double(beta) : 1.0) * gr;
        v_new.push_back(vn);
        x_new.push_back(std::string(mode) == "nesterov" ? x[i] - r * (gr + double(alpha) * vn) : x[i] - r * vn);
      }
      ExpectValues((*result)[0].tensor(), x_new);
      ExpectValues((*result)[1].tensor(), v_new);
    }
  }
}

TEST(Optimizers, AdamWithPostNormAndOnlySomeOutputsRead) {
  const float alpha = 0.8f, beta = 0.7f, eps = 1e-3f, norm = 0.01f, post = 0.1f;
  const double r = 0.05;
  const int64_t t = 2;
  OpTestModel model("Adam", 1, kTraining);
  model.Input("R", Tensor::Scalar<double>(r)).Input("T", Tensor::Scalar<int64_t>(t));
  model.Input("X", D({1.5})).Input("G", D({-0.5})).Input("V", D({0.2})).Input("H", D({0.3}));
  // Only X_new is read; V_new and H_new are computed into scratch.
  model.Output("Xn").Output("").Output("");
  model.Float("alpha", alpha).Float("beta", beta).Float("epsilon", eps).Float("norm_coefficient", norm);
  model.Float("norm_coefficient_post", post);
  auto result = model.Run();
  ASSERT_TRUE(result.ok()) << result.status().ToString();
  const double gr = double(norm) * 1.5 - 0.5;
  const double vn = double(alpha) * 0.2 + (1 - double(alpha)) * gr;
  const double hn = double(beta) * 0.3 + (1 - double(beta)) * gr * gr;
  const double lr = r * std::sqrt(1 - std::pow(double(beta), t)) / (1 - std::pow(double(alpha), t));
  const double xn = (1 - double(post)) * (1.5 - lr * vn / (std::sqrt(hn) + double(eps)));
  ExpectValues((*result)[0].tensor(), {xn});
}

TEST(Optimizers, Errors) {
  {
    OpTestModel model("Adagrad", 1, kTraining);
    model.Input("R", Tensor::Scalar<double>(0.1)).Input("T", Tensor::Scalar<int64_t>(0));
    model.Input("X", D({1.0})).Input("G", D({1.0, 2.0})).Input("H", D({1.0})).Output("Xn").Output("Hn");
    auto result = model.Run();
    ASSERT_FALSE(result.ok());
    EXPECT_NE(result.status().message().find("G of tensor 0"), std::string::npos) << result.status().message();
  }
  {
    OpTestModel model("Adam", 1, kTraining);
    model.Input("R", Tensor::Scalar<double>(0.1)).Input("T", Tensor::Scalar<int64_t>(0));
    model.Input("X", D({1.0})).Input("G", D({1.0})).Input("V", D({1.0})).Output("Xn");
    auto result = model.Run();
    ASSERT_FALSE(result.ok());
    EXPECT_NE(result.status().message().find("groups of tensors"), std::string::npos) << result.status().message();
  }
  {
    OpTestModel model("Momentum", 1, kTraining);
    model.Input("R", Tensor::Scalar<double>(0.1)).Input("T", Tensor::Scalar<int64_t>(0));
    model.Input("X", D({1.0})).Input("G", D({1.0})).Input("V", D({1.0})).Output("Xn").Output("Vn");
    model.Float("alpha", 0.9f).Float("beta", 0.1f).Float("norm_coefficient", 0).String("mode", "heavy-ball");
    auto session = model.Load();
    ASSERT_FALSE(session.ok());
    EXPECT_NE(session.status().message().find("mode 'heavy-ball'"), std::string::npos);
  }
  {
    OpTestModel model("Adagrad", 1, kTraining);
    model.Input("R", Tensor::Scalar<double>(0.1)).Input("T", Tensor::Scalar<int32_t>(0));
    model.Input("X", D({1.0})).Input("G", D({1.0})).Input("H", D({1.0})).Output("Xn");
    auto result = model.Run();
    ASSERT_FALSE(result.ok());
    EXPECT_NE(result.status().message().find("T must be an int64 scalar"), std::string::npos);
  }
}

}  // namespace
}  // namespace berth::engine::testing
