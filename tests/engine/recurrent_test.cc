// RNN, GRU and LSTM against a plain reference written from the ONNX
// equations (double precision, one batch entry and one timestep at a time),
// over the combinations the conformance suite leaves out: both directions,
// reverse, layout 1, sequence_lens, initial states, clip, activation
// alpha/beta, linear_before_reset, peepholes, input_forget, weights as
// initializers or as run-time inputs, and double / float16.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "core/tensor_compare.h"
#include "engine/kernels/recurrent/recurrent_math.h"
#include "op_test_model.h"

namespace berth::engine::testing {
namespace {

using core::Tensor;

enum class Cell { kRnn, kGru, kLstm };

struct Act {
  std::string name;
  float alpha = 0;
  float beta = 0;
};

struct Config {
  Cell cell = Cell::kRnn;
  std::string direction = "forward";
  int64_t layout = 0;
  int64_t seq = 4;
  int64_t batch = 3;
  int64_t input = 5;
  int64_t hidden = 6;
  bool bias = true;
  bool peephole = false;
  bool initial_state = false;
  std::vector<int64_t> lengths;  // empty: all `seq`
  float clip = 0;                // 0: no clip
  bool linear_before_reset = false;
  bool input_forget = false;
  std::vector<Act> activations;  // empty: defaults; one list per direction when set
  bool weights_as_initializers = true;
};

int64_t Gates(Cell cell) { return cell == Cell::kRnn ? 1 : cell == Cell::kGru ? 3 : 4; }
const char* OpName(Cell cell) { return cell == Cell::kRnn ? "RNN" : cell == Cell::kGru ? "GRU" : "LSTM"; }

double Apply(const Act& act, double x) {
  const std::string& n = act.name;
  if (n == "Tanh") return std::tanh(x);
  if (n == "Sigmoid") return 1 / (1 + std::exp(-x));
  if (n == "Relu") return std::max(x, 0.0);
  if (n == "LeakyRelu") return x >= 0 ? x : act.alpha * x;
  if (n == "HardSigmoid") return std::min(std::max(act.alpha * x + act.beta, 0.0), 1.0);
  if (n == "ScaledTanh") return act.alpha * std::tanh(act.beta * x);
  if (n == "Affine") return act.alpha * x + act.beta;
  if (n == "Elu") return x >= 0 ? x : act.alpha * (std::exp(x) - 1);
  if (n == "Softsign") return x / (1 + std::abs(x));
  if (n == "Softplus") return std::log(1 + std::exp(x));
  if (n == "ThresholdedRelu") return x >= act.alpha ? x : 0;
  ADD_FAILURE() << "unknown activation " << n;
  return 0;
}

struct Data {
  std::vector<float> x, w, r, b, p, h0, c0;
};

struct Reference {
  std::vector<double> y, y_h, y_c;
};

// Straight from the operator documentation.
Reference RunReference(const Config& config, const Data& data, const std::vector<Act>& acts) {
  const int64_t dirs = config.direction == "bidirectional" ? 2 : 1;
  const int64_t S = config.seq, B = config.batch, I = config.input, H = config.hidden, G = Gates(config.cell);
  Reference out;
  out.y.assign(static_cast<size_t>(S * dirs * B * H), 0.0);
  out.y_h.assign(static_cast<size_t>(dirs * B * H), 0.0);
  out.y_c.assign(static_cast<size_t>(dirs * B * H), 0.0);
  auto x_at = [&](int64_t t, int64_t b, int64_t k) {
    return config.layout == 0 ? data.x[(t * B + b) * I + k] : data.x[(b * S + t) * I + k];
  };
  auto y_index = [&](int64_t t, int64_t d, int64_t b, int64_t j) {
    return config.layout == 0 ? ((t * dirs + d) * B + b) * H + j : ((b * S + t) * dirs + d) * H + j;
  };
  auto state_index = [&](int64_t d, int64_t b, int64_t j) {
    return config.layout == 0 ? (d * B + b) * H + j : (b * dirs + d) * H + j;
  };
  const size_t per_dir = config.cell == Cell::kRnn ? 1 : config.cell == Cell::kGru ? 2 : 3;
  for (int64_t d = 0; d < dirs; ++d) {
    const bool backward = config.direction == "reverse" || d == 1;
    const Act* f = &acts[d * per_dir];
    auto clip = [&](double v) {
      return config.clip > 0 ? std::min(std::max(v, -double(config.clip)), double(config.clip)) : v;
    };
    // Gate g's pre-activation part from x (with Wb) and from a hidden vector (with Rb).
    auto wx = [&](int64_t gate, int64_t j, int64_t t, int64_t b) {
      double s = config.bias ? data.b[d * 2 * G * H + gate * H + j] : 0.0;
      for (int64_t k = 0; k < I; ++k) s += data.w[(d * G * H + gate * H + j) * I + k] * x_at(t, b, k);
      return s;
    };
    auto rh = [&](int64_t gate, int64_t j, const std::vector<double>& h) {
      double s = config.bias ? data.b[d * 2 * G * H + G * H + gate * H + j] : 0.0;
      for (int64_t k = 0; k < H; ++k) s += data.r[(d * G * H + gate * H + j) * H + k] * h[k];
      return s;
    };
    for (int64_t b = 0; b < B; ++b) {
      const int64_t len = config.lengths.empty() ? S : config.lengths[b];
      std::vector<double> h(H, 0.0), c(H, 0.0);
      if (config.initial_state) {
        for (int64_t j = 0; j < H; ++j) {
          h[j] = data.h0[state_index(d, b, j)];
          if (config.cell == Cell::kLstm) c[j] = data.c0[state_index(d, b, j)];
        }
      }
      for (int64_t step = 0; step < len; ++step) {
        const int64_t t = backward ? len - 1 - step : step;
        std::vector<double> next(H);
        if (config.cell == Cell::kRnn) {
          for (int64_t j = 0; j < H; ++j) next[j] = Apply(f[0], clip(wx(0, j, t, b) + rh(0, j, h)));
        } else if (config.cell == Cell::kGru) {
          std::vector<double> z(H), r(H), rh_prod(H);
          for (int64_t j = 0; j < H; ++j) {
            z[j] = Apply(f[0], clip(wx(0, j, t, b) + rh(0, j, h)));
            r[j] = Apply(f[0], clip(wx(1, j, t, b) + rh(1, j, h)));
            rh_prod[j] = r[j] * h[j];
          }
          for (int64_t j = 0; j < H; ++j) {
            double pre =
                config.linear_before_reset ? wx(2, j, t, b) + r[j] * rh(2, j, h) : wx(2, j, t, b) + rh(2, j, rh_prod);
            double candidate = Apply(f[1], clip(pre));
            next[j] = (1 - z[j]) * candidate + z[j] * h[j];
          }
        } else {
          auto peep = [&](int64_t k, int64_t j) { return config.peephole ? data.p[d * 3 * H + k * H + j] : 0.0; };
          std::vector<double> c_next(H);
          for (int64_t j = 0; j < H; ++j) {
            double i = Apply(f[0], clip(wx(0, j, t, b) + rh(0, j, h) + peep(0, j) * c[j]));
            double fg =
                config.input_forget ? 1 - i : Apply(f[0], clip(wx(2, j, t, b) + rh(2, j, h) + peep(2, j) * c[j]));
            double cc = Apply(f[1], clip(wx(3, j, t, b) + rh(3, j, h)));
            c_next[j] = fg * c[j] + i * cc;
            double o = Apply(f[0], clip(wx(1, j, t, b) + rh(1, j, h) + peep(1, j) * c_next[j]));
            next[j] = o * Apply(f[2], c_next[j]);
          }
          c = c_next;
        }
        h = next;
        for (int64_t j = 0; j < H; ++j) out.y[y_index(t, d, b, j)] = h[j];
      }
      for (int64_t j = 0; j < H; ++j) {
        out.y_h[state_index(d, b, j)] = h[j];
        out.y_c[state_index(d, b, j)] = c[j];
      }
    }
  }
  return out;
}

std::vector<float> Random(std::mt19937& rng, int64_t n, float scale = 0.5f) {
  std::uniform_real_distribution<float> dist(-scale, scale);
  std::vector<float> v(static_cast<size_t>(n));
  for (float& x : v) x = dist(rng);
  return v;
}

template <typename T>
Tensor Make(const std::vector<float>& values, core::TensorShape shape) {
  std::vector<T> converted;
  for (float v : values) converted.push_back(static_cast<T>(v));
  return Tensor::FromVector<T>(converted, std::move(shape));
}

Tensor ToReferenceTensor(const std::vector<double>& values, core::TensorShape shape) {
  std::vector<float> f(values.begin(), values.end());
  return Tensor::FromVector<float>(f, std::move(shape));
}

// The float values of an output of any float type.
Tensor AsFloat(const Tensor& tensor) {
  std::vector<float> values(static_cast<size_t>(tensor.element_count()));
  core::VisitFloatType(tensor.dtype(), [&]<typename T>() {
    if constexpr (!std::is_void_v<T>) {
      for (size_t i = 0; i < values.size(); ++i) values[i] = static_cast<float>(tensor.data<T>()[i]);
    }
  });
  return Tensor::FromVector<float>(values, tensor.shape());
}

// Builds the model for `config`, runs it on random data with element type T,
// and compares Y, Y_h (and Y_c) with the reference.
template <typename T>
void CheckAgainstReference(const Config& config, double tolerance = 1e-4, int opset = 14) {
  SCOPED_TRACE(std::string(OpName(config.cell)) + " " + config.direction + " layout " + std::to_string(config.layout));
  std::mt19937 rng(1234);
  const int64_t dirs = config.direction == "bidirectional" ? 2 : 1;
  const int64_t S = config.seq, B = config.batch, I = config.input, H = config.hidden, G = Gates(config.cell);
  Data data;
  data.x = Random(rng, S * B * I, 1.0f);
  data.w = Random(rng, dirs * G * H * I);
  data.r = Random(rng, dirs * G * H * H);
  data.b = Random(rng, dirs * 2 * G * H);
  data.p = Random(rng, dirs * 3 * H);
  data.h0 = Random(rng, dirs * B * H);
  data.c0 = Random(rng, dirs * B * H);
  // Round the inputs through T so that the reference sees what the kernel sees.
  for (auto* v : {&data.x, &data.w, &data.r, &data.b, &data.p, &data.h0, &data.c0}) {
    for (float& x : *v) x = static_cast<float>(static_cast<T>(x));
  }

  std::vector<Act> acts = config.activations;
  if (acts.empty()) {
    std::vector<Act> one = config.cell == Cell::kRnn   ? std::vector<Act>{{"Tanh"}}
                           : config.cell == Cell::kGru ? std::vector<Act>{{"Sigmoid"}, {"Tanh"}}
                                                       : std::vector<Act>{{"Sigmoid"}, {"Tanh"}, {"Tanh"}};
    for (int64_t d = 0; d < dirs; ++d) acts.insert(acts.end(), one.begin(), one.end());
  }
  Reference expected = RunReference(config, data, acts);

  OpTestModel model(OpName(config.cell), opset);
  const core::TensorShape x_shape = config.layout == 0 ? core::TensorShape{S, B, I} : core::TensorShape{B, S, I};
  const core::TensorShape state_shape =
      config.layout == 0 ? core::TensorShape{dirs, B, H} : core::TensorShape{B, dirs, H};
  model.Input("X", Make<T>(data.x, x_shape));
  auto weight = [&](const std::string& name, const std::vector<float>& v, core::TensorShape shape) {
    if (config.weights_as_initializers) {
      model.Initializer(name, Make<T>(v, std::move(shape)));
    } else {
      model.Input(name, Make<T>(v, std::move(shape)));
    }
  };
  weight("W", data.w, {dirs, G * H, I});
  weight("R", data.r, {dirs, G * H, H});
  if (config.bias) {
    weight("B", data.b, {dirs, 2 * G * H});
  } else {
    model.Absent();
  }
  if (!config.lengths.empty()) {
    std::vector<int32_t> lengths(config.lengths.begin(), config.lengths.end());
    model.Input("sequence_lens", Tensor::FromVector<int32_t>(lengths, {B}));
  } else {
    model.Absent();
  }
  if (config.initial_state) {
    model.Input("initial_h", Make<T>(data.h0, state_shape));
  } else {
    model.Absent();
  }
  if (config.cell == Cell::kLstm) {
    if (config.initial_state) {
      model.Input("initial_c", Make<T>(data.c0, state_shape));
    } else {
      model.Absent();
    }
    if (config.peephole) weight("P", data.p, {dirs, 3 * H});
  }
  model.Output("Y").Output("Y_h");
  if (config.cell == Cell::kLstm) model.Output("Y_c");
  model.Int("hidden_size", H).String("direction", config.direction);
  if (opset >= 14) model.Int("layout", config.layout);
  if (config.clip > 0) model.Float("clip", config.clip);
  if (config.linear_before_reset) model.Int("linear_before_reset", 1);
  if (config.input_forget) model.Int("input_forget", 1);
  if (!config.activations.empty()) {
    std::vector<std::string> names;
    std::vector<float> alphas, betas;
    for (const auto& a : config.activations) {
      names.push_back(a.name);
      if (a.name == "LeakyRelu" || a.name == "HardSigmoid" || a.name == "ScaledTanh" || a.name == "Affine" ||
          a.name == "Elu" || a.name == "ThresholdedRelu") {
        alphas.push_back(a.alpha);
      }
      if (a.name == "HardSigmoid" || a.name == "ScaledTanh" || a.name == "Affine") betas.push_back(a.beta);
    }
    model.Strings("activations", names);
    if (!alphas.empty()) model.Floats("activation_alpha", alphas);
    if (!betas.empty()) model.Floats("activation_beta", betas);
  }

  auto session = model.Load();
  ASSERT_TRUE(session.ok()) << session.status().ToString();
  auto result = model.Run(**session);
  ASSERT_TRUE(result.ok()) << result.status().ToString();
  const std::vector<core::Value>& outputs = *result;
  const core::TensorShape y_shape =
      config.layout == 0 ? core::TensorShape{S, dirs, B, H} : core::TensorShape{B, S, dirs, H};
  core::Tolerance tol{tolerance, tolerance};
  EXPECT_TRUE(core::CompareTensors(ToReferenceTensor(expected.y, y_shape), AsFloat(outputs[0].tensor()), tol).ok())
      << core::CompareTensors(ToReferenceTensor(expected.y, y_shape), AsFloat(outputs[0].tensor()), tol).ToString();
  EXPECT_TRUE(
      core::CompareTensors(ToReferenceTensor(expected.y_h, state_shape), AsFloat(outputs[1].tensor()), tol).ok())
      << core::CompareTensors(ToReferenceTensor(expected.y_h, state_shape), AsFloat(outputs[1].tensor()), tol)
             .ToString();
  if (config.cell == Cell::kLstm) {
    EXPECT_TRUE(
        core::CompareTensors(ToReferenceTensor(expected.y_c, state_shape), AsFloat(outputs[2].tensor()), tol).ok());
  }
  // Static inference agrees with what ran.
  const auto& declared = (*session)->outputs();
  for (size_t o = 0; o < declared.size() && o < outputs.size(); ++o) {
    ASSERT_TRUE(declared[o].type.is_tensor());
    EXPECT_EQ(declared[o].type.dtype, outputs[o].tensor().dtype());
    EXPECT_EQ(declared[o].type.Shape(), outputs[o].tensor().shape()) << declared[o].name;
  }
}

class RecurrentSweep : public ::testing::TestWithParam<std::tuple<Cell, std::string, int64_t>> {};

TEST_P(RecurrentSweep, MatchesReference) {
  auto [cell, direction, layout] = GetParam();
  Config config;
  config.cell = cell;
  config.direction = direction;
  config.layout = layout;
  CheckAgainstReference<float>(config);
  // Ragged batch with initial states: steps past a length are zero in Y and
  // the reverse direction starts at each sequence's own end.
  config.lengths = {4, 2, 0};
  config.initial_state = true;
  CheckAgainstReference<float>(config);
  // Weights fed at run time take the same path as prepared ones.
  config.weights_as_initializers = false;
  config.bias = false;
  CheckAgainstReference<float>(config);
}

INSTANTIATE_TEST_SUITE_P(AllCells, RecurrentSweep,
                         ::testing::Combine(::testing::Values(Cell::kRnn, Cell::kGru, Cell::kLstm),
                                            ::testing::Values("forward", "reverse", "bidirectional"),
                                            ::testing::Values(0, 1)),
                         [](const auto& info) {
                           return std::string(OpName(std::get<0>(info.param))) + "_" + std::get<1>(info.param) +
                                  "_layout" + std::to_string(std::get<2>(info.param));
                         });

TEST(Recurrent, GruLinearBeforeReset) {
  Config config;
  config.cell = Cell::kGru;
  config.direction = "bidirectional";
  config.linear_before_reset = true;
  config.initial_state = true;
  CheckAgainstReference<float>(config);
}

TEST(Recurrent, LstmPeepholesClipAndInputForget) {
  Config config;
  config.cell = Cell::kLstm;
  config.direction = "bidirectional";
  config.peephole = true;
  config.initial_state = true;
  config.clip = 0.3f;
  CheckAgainstReference<float>(config);
  config.input_forget = true;
  config.lengths = {1, 4, 3};
  CheckAgainstReference<float>(config);
}

TEST(Recurrent, ActivationAlphaBetaAreConsumedInOrder) {
  // alpha goes to LeakyRelu, HardSigmoid, ScaledTanh in turn; beta to
  // HardSigmoid and ScaledTanh; Tanh/Softsign take none.
  Config config;
  config.cell = Cell::kLstm;
  config.direction = "bidirectional";
  config.activations = {{"LeakyRelu", 0.2f},        {"Tanh"},     {"HardSigmoid", 0.3f, 0.4f},
                        {"ScaledTanh", 0.9f, 1.1f}, {"Softsign"}, {"Affine", 0.5f, 0.1f}};
  CheckAgainstReference<float>(config);
  Config rnn;
  rnn.direction = "bidirectional";
  rnn.clip = 0.8f;
  rnn.activations = {{"Elu", 0.7f}, {"Softplus"}};
  CheckAgainstReference<float>(rnn);
}

TEST(Recurrent, DoubleAndFloat16) {
  Config config;
  config.cell = Cell::kGru;
  config.direction = "bidirectional";
  config.initial_state = true;
  CheckAgainstReference<double>(config, 1e-6);
  config.cell = Cell::kLstm;
  config.peephole = true;
  CheckAgainstReference<core::Float16>(config, 2e-2);
}

TEST(Recurrent, OlderOpsetsIgnoreLayout) {
  Config config;
  config.cell = Cell::kGru;
  CheckAgainstReference<float>(config, 1e-4, 7);
  config.cell = Cell::kLstm;
  CheckAgainstReference<float>(config, 1e-4, 1);
}

TEST(Recurrent, LargerShapesUseTheBlockedPath) {
  Config config;
  config.cell = Cell::kLstm;
  config.direction = "bidirectional";
  config.seq = 7;
  config.batch = 9;
  config.input = 37;
  config.hidden = 33;
  config.lengths = {7, 6, 5, 4, 3, 2, 1, 0, 7};
  CheckAgainstReference<float>(config, 2e-4);
}

// The vectorised gate functions against libm over the whole useful range,
// plus the tails and a ragged length (the scalar remainder path).
TEST(RecurrentMath, MatchesLibm) {
  std::vector<float> x;
  for (float v = -100.0f; v <= 100.0f; v += 0.0037f) x.push_back(v);
  for (float v : {0.0f, -0.0f, 1e-30f, -1e-30f, 1e-6f, 0.625f, -0.625f, 88.5f, -88.5f, 1e30f, -1e30f}) x.push_back(v);
  std::vector<float> sigmoid = x;
  std::vector<float> tanh = x;
  recurrent_math::SigmoidInPlace(sigmoid.data(), static_cast<int64_t>(sigmoid.size()));
  recurrent_math::TanhInPlace(tanh.data(), static_cast<int64_t>(tanh.size()));
  for (size_t i = 0; i < x.size(); ++i) {
    const double s = 1.0 / (1.0 + std::exp(-static_cast<double>(x[i])));
    const double t = std::tanh(static_cast<double>(x[i]));
    ASSERT_NEAR(sigmoid[i], s, 2e-7) << x[i];
    ASSERT_NEAR(tanh[i], t, 2e-7 * std::max(1e-30, std::abs(t)) + 1e-38) << x[i];
  }
  std::vector<float> nan = {std::nanf(""), 1.0f, 2.0f};
  recurrent_math::TanhInPlace(nan.data(), 3);
  EXPECT_TRUE(std::isnan(nan[0]));
  EXPECT_NEAR(nan[2], std::tanh(2.0), 2e-7);
}

// ---------------------------------------------------------------------------
// Errors: clear statuses, no crashes.

OpTestModel SmallRnn(const Tensor& x, const Tensor& w, const Tensor& r) {
  OpTestModel model("RNN", 14);
  model.Input("X", x).Initializer("W", w).Initializer("R", r).Output("Y").Output("Y_h");
  model.Int("hidden_size", 2);
  return model;
}

Tensor Zeros(core::TensorShape shape) { return *Tensor::CreateZeroed(core::DataType::kFloat32, std::move(shape)); }

TEST(RecurrentErrors, SequenceLengthOutOfRange) {
  OpTestModel model("RNN", 14);
  model.Input("X", Zeros({3, 1, 2})).Initializer("W", Zeros({1, 2, 2})).Initializer("R", Zeros({1, 2, 2}));
  model.Absent().Input("sequence_lens", Tensor::FromVector<int32_t>({4}, {1})).Output("Y");
  model.Int("hidden_size", 2);
  auto result = model.Run();
  ASSERT_FALSE(result.ok());
  EXPECT_NE(result.status().message().find("sequence_lens[0] = 4"), std::string::npos) << result.status().message();
}

TEST(RecurrentErrors, WeightShapeMismatchFailsAtLoad) {
  auto model = SmallRnn(Zeros({3, 1, 2}), Zeros({1, 3, 2}), Zeros({1, 2, 2}));
  auto session = model.Load();
  ASSERT_FALSE(session.ok());
  EXPECT_NE(session.status().message().find("W must have shape [1,2,2]"), std::string::npos)
      << session.status().message();
}

TEST(RecurrentErrors, InputSizeMismatchAtRun) {
  auto result = SmallRnn(Zeros({3, 1, 5}), Zeros({1, 2, 2}), Zeros({1, 2, 2})).Run();
  ASSERT_FALSE(result.ok());
  EXPECT_NE(result.status().message().find("input size 5"), std::string::npos) << result.status().message();
}

TEST(RecurrentErrors, BadAttributes) {
  auto unknown = SmallRnn(Zeros({3, 1, 2}), Zeros({1, 2, 2}), Zeros({1, 2, 2}));
  unknown.Strings("activations", {"Swish"});
  auto session = unknown.Load();
  ASSERT_FALSE(session.ok());
  EXPECT_EQ(session.status().code(), core::StatusCode::kUnimplemented);

  auto direction = SmallRnn(Zeros({3, 1, 2}), Zeros({1, 2, 2}), Zeros({1, 2, 2}));
  direction.String("direction", "sideways");
  EXPECT_FALSE(direction.Load().ok());

  auto count = SmallRnn(Zeros({3, 1, 2}), Zeros({1, 2, 2}), Zeros({1, 2, 2}));
  count.Strings("activations", {"Tanh", "Tanh", "Tanh"});
  EXPECT_FALSE(count.Load().ok());
}

TEST(RecurrentErrors, EmptySequenceGivesInitialState) {
  OpTestModel model("GRU", 14);
  Tensor h0 = Tensor::FromVector<float>({0.5f, -0.25f}, {1, 1, 2});
  model.Input("X", Zeros({0, 1, 2})).Initializer("W", Zeros({1, 6, 2})).Initializer("R", Zeros({1, 6, 2}));
  model.Absent().Absent().Input("initial_h", h0).Output("Y").Output("Y_h");
  model.Int("hidden_size", 2);
  auto result = model.Run();
  ASSERT_TRUE(result.ok()) << result.status().ToString();
  EXPECT_EQ((*result)[0].tensor().shape(), (core::TensorShape{0, 1, 1, 2}));
  EXPECT_TRUE(core::CompareTensors(h0, (*result)[1].tensor()).ok());
}

}  // namespace
}  // namespace berth::engine::testing
