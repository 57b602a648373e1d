// Recurrent layers: RNN, GRU and LSTM (all directions, layouts, activations,
// clip, sequence_lens, peepholes, linear_before_reset, input_forget).
//
// The input projection X·W^T does not depend on the state, so it runs as one
// GEMM over every timestep (and both directions) before the recurrence; each
// step then only multiplies the [batch, hidden] state by R^T and applies the
// gates. float GEMMs go to oneDNN's sgemm; double uses a plain loop; half
// types compute in float. Weights that are initializers are converted and
// bias-folded once at load time.
#include <oneapi/dnnl/dnnl.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <variant>

#include "engine/kernels/builtin_kernels.h"
#include "engine/kernels/common/kernel_util.h"
#include "engine/kernels/recurrent/recurrent_math.h"
#include "engine/ops/op_registry.h"

namespace berth::engine {
namespace {

using core::DataType;
using core::Result;
using core::Status;
using core::Tensor;
using core::TensorShape;

enum class Cell { kRnn, kGru, kLstm };

constexpr int64_t GateCount(Cell cell) { return cell == Cell::kRnn ? 1 : cell == Cell::kGru ? 3 : 4; }
constexpr size_t ActivationsPerDirection(Cell cell) { return cell == Cell::kRnn ? 1 : cell == Cell::kGru ? 2 : 3; }
const char* CellName(Cell cell) { return cell == Cell::kRnn ? "RNN" : cell == Cell::kGru ? "GRU" : "LSTM"; }

// ---------------------------------------------------------------------------
// Activations

struct Activation {
  enum class Kind {
    kRelu,
    kTanh,
    kSigmoid,
    kAffine,
    kLeakyRelu,
    kThresholdedRelu,
    kScaledTanh,
    kHardSigmoid,
    kElu,
    kSoftsign,
    kSoftplus
  };
  Kind kind = Kind::kTanh;
  float alpha = 0;
  float beta = 0;
};

struct ActivationSpec {
  const char* name;  // lower case
  Activation::Kind kind;
  bool uses_alpha;
  bool uses_beta;
  float default_alpha;
  float default_beta;
};

constexpr ActivationSpec kActivationSpecs[] = {
    {"relu", Activation::Kind::kRelu, false, false, 0, 0},
    {"tanh", Activation::Kind::kTanh, false, false, 0, 0},
    {"sigmoid", Activation::Kind::kSigmoid, false, false, 0, 0},
    {"affine", Activation::Kind::kAffine, true, true, 1.0f, 0.0f},
    {"leakyrelu", Activation::Kind::kLeakyRelu, true, false, 0.01f, 0},
    {"thresholdedrelu", Activation::Kind::kThresholdedRelu, true, false, 1.0f, 0},
    {"scaledtanh", Activation::Kind::kScaledTanh, true, true, 1.0f, 1.0f},
    {"hardsigmoid", Activation::Kind::kHardSigmoid, true, true, 0.2f, 0.5f},
    {"elu", Activation::Kind::kElu, true, false, 1.0f, 0},
    {"softsign", Activation::Kind::kSoftsign, false, false, 0, 0},
    {"softplus", Activation::Kind::kSoftplus, false, false, 0, 0},
};

// x[i] = f(x[i]) for n values; one switch per call, not per element.
template <typename C>
void Activate(const Activation& f, C* x, int64_t n) {
  const C alpha = static_cast<C>(f.alpha);
  const C beta = static_cast<C>(f.beta);
  switch (f.kind) {
    case Activation::Kind::kRelu:
      for (int64_t i = 0; i < n; ++i) x[i] = std::max(x[i], C(0));
      break;
    case Activation::Kind::kTanh:
      if constexpr (std::is_same_v<C, float>) {
        recurrent_math::TanhInPlace(x, n);
      } else {
        for (int64_t i = 0; i < n; ++i) x[i] = std::tanh(x[i]);
      }
      break;
    case Activation::Kind::kSigmoid:
      if constexpr (std::is_same_v<C, float>) {
        recurrent_math::SigmoidInPlace(x, n);
      } else {
        for (int64_t i = 0; i < n; ++i) x[i] = C(1) / (C(1) + std::exp(-x[i]));
      }
      break;
    case Activation::Kind::kAffine:
      for (int64_t i = 0; i < n; ++i) x[i] = alpha * x[i] + beta;
      break;
    case Activation::Kind::kLeakyRelu:
      for (int64_t i = 0; i < n; ++i) x[i] = x[i] >= C(0) ? x[i] : alpha * x[i];
      break;
    case Activation::Kind::kThresholdedRelu:
      for (int64_t i = 0; i < n; ++i) x[i] = x[i] >= alpha ? x[i] : C(0);
      break;
    case Activation::Kind::kScaledTanh:
      for (int64_t i = 0; i < n; ++i) x[i] = alpha * std::tanh(beta * x[i]);
      break;
    case Activation::Kind::kHardSigmoid:
      for (int64_t i = 0; i < n; ++i) x[i] = std::min(std::max(alpha * x[i] + beta, C(0)), C(1));
      break;
    case Activation::Kind::kElu:
      for (int64_t i = 0; i < n; ++i) x[i] = x[i] >= C(0) ? x[i] : alpha * (std::exp(x[i]) - C(1));
      break;
    case Activation::Kind::kSoftsign:
      for (int64_t i = 0; i < n; ++i) x[i] = x[i] / (C(1) + std::abs(x[i]));
      break;
    case Activation::Kind::kSoftplus:
      // log(1 + e^x) without overflow for large x.
      for (int64_t i = 0; i < n; ++i)
        x[i] = x[i] > C(0) ? x[i] + std::log1p(std::exp(-x[i])) : std::log1p(std::exp(x[i]));
      break;
  }
}

// ---------------------------------------------------------------------------
// Attributes

struct RecurrentAttributes {
  Cell cell = Cell::kRnn;
  int64_t directions = 1;
  bool reverse = false;                 // direction == "reverse"
  int64_t hidden_size = -1;             // -1: take it from R
  std::vector<Activation> activations;  // ActivationsPerDirection(cell) per direction
  bool has_clip = false;
  float clip = 0;
  int64_t layout = 0;                // 0: [seq, batch, ...]; 1: [batch, seq, ...]
  bool linear_before_reset = false;  // GRU
  bool input_forget = false;         // LSTM
};

Result<int64_t> ParseDirections(const Node& node, bool* reverse) {
  std::string direction = node.GetString("direction", "forward");
  *reverse = direction == "reverse";
  if (direction == "forward" || direction == "reverse") return 1;
  if (direction == "bidirectional") return 2;
  return core::InvalidArgument("direction '{}' is not one of forward, reverse, bidirectional", direction);
}

// activation_alpha/beta are consumed in order by the activations that take
// them; an activation past the end of the list gets its default.
Result<std::vector<Activation>> ParseActivations(const Node& node, Cell cell, int64_t directions) {
  const size_t per_direction = ActivationsPerDirection(cell);
  std::vector<std::string> names = node.GetStrings("activations");
  if (names.empty()) {
    static const char* const kDefaults[] = {"Sigmoid", "Tanh", "Tanh"};
    if (cell == Cell::kRnn) {
      names = {"Tanh"};
    } else {
      names.assign(kDefaults, kDefaults + per_direction);
    }
  }
  const size_t wanted = per_direction * static_cast<size_t>(directions);
  // RNN's schema default is ["Tanh", "Tanh"], which exporters write out even
  // for one direction: the surplus direction is ignored.
  if (directions == 1 && names.size() == 2 * per_direction) names.resize(per_direction);
  if (names.size() != wanted && names.size() != per_direction) {
    return core::InvalidArgument("activations has {} entries; {} needs {} ({} per direction)", names.size(),
                                 CellName(cell), wanted, per_direction);
  }
  const std::vector<float> alphas = node.GetFloats("activation_alpha");
  const std::vector<float> betas = node.GetFloats("activation_beta");
  size_t next_alpha = 0;
  size_t next_beta = 0;
  std::vector<Activation> out;
  for (const auto& name : names) {
    std::string lower = name;
    std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
    const ActivationSpec* spec = nullptr;
    for (const auto& candidate : kActivationSpecs) {
      if (lower == candidate.name) spec = &candidate;
    }
    if (!spec) return core::Unimplemented("activation '{}' is not supported", name);
    Activation activation{spec->kind, spec->default_alpha, spec->default_beta};
    if (spec->uses_alpha && next_alpha < alphas.size()) activation.alpha = alphas[next_alpha++];
    if (spec->uses_beta && next_beta < betas.size()) activation.beta = betas[next_beta++];
    out.push_back(activation);
  }
  // One direction's list given for a bidirectional layer: both use it.
  if (out.size() != wanted) {
    std::vector<Activation> repeated = out;
    out.insert(out.end(), repeated.begin(), repeated.end());
  }
  return out;
}

Result<RecurrentAttributes> ParseAttributes(const Node& node, Cell cell) {
  RecurrentAttributes attributes;
  attributes.cell = cell;
  ASSIGN_OR_RETURN(attributes.directions, ParseDirections(node, &attributes.reverse));
  if (const Attribute* hidden = node.FindAttribute("hidden_size")) {
    if (hidden->i <= 0) return core::InvalidArgument("hidden_size {} must be positive", hidden->i);
    attributes.hidden_size = hidden->i;
  }
  ASSIGN_OR_RETURN(attributes.activations, ParseActivations(node, cell, attributes.directions));
  if (const Attribute* clip = node.FindAttribute("clip")) {
    if (!(clip->f >= 0)) return core::InvalidArgument("clip {} must be non-negative", clip->f);
    attributes.has_clip = true;
    attributes.clip = clip->f;
  }
  // layout arrived in opset 14; older models are always sequence-major.
  if (node.opset >= 14) attributes.layout = node.GetInt("layout", 0);
  if (attributes.layout != 0 && attributes.layout != 1) {
    return core::InvalidArgument("layout {} is not 0 or 1", attributes.layout);
  }
  attributes.linear_before_reset = cell == Cell::kGru && node.GetInt("linear_before_reset", 0) != 0;
  attributes.input_forget = cell == Cell::kLstm && node.GetInt("input_forget", 0) != 0;
  return attributes;
}

// ---------------------------------------------------------------------------
// Weights

// W, R, B and P converted to the compute type, with the biases that can be
// added to the input projection folded into one vector.
template <typename C>
struct Weights {
  int64_t directions = 0;
  int64_t hidden = 0;
  int64_t input = 0;
  int64_t gate_width = 0;           // gates * hidden
  std::vector<C> w;                 // [D, gate_width, input]
  std::vector<C> r;                 // [D, gate_width, hidden]
  std::vector<C> bias;              // [D, gate_width]: Wb + Rb (GRU with linear_before_reset: Rbh left out)
  std::vector<C> recurrent_bias_h;  // [D, hidden]: Rbh, GRU with linear_before_reset only
  std::vector<C> peephole;          // [D, 3 * hidden] (i, o, f), LSTM with P only
};

using AnyWeights = std::variant<std::monostate, Weights<float>, Weights<double>>;

template <typename C>
std::vector<C> ConvertAll(const Tensor& tensor) {
  std::vector<C> out(static_cast<size_t>(tensor.element_count()));
  core::VisitFloatType(tensor.dtype(), [&]<typename T>() {
    if constexpr (!std::is_void_v<T>) {
      const T* in = tensor.data<T>();
      for (size_t i = 0; i < out.size(); ++i) out[i] = static_cast<C>(in[i]);
    }
  });
  return out;
}

Status CheckShape(const Tensor& tensor, const char* what, const TensorShape& expected) {
  if (tensor.shape() != expected) {
    return core::InvalidArgument("{} must have shape {}, got {}", what, core::ShapeToString(expected),
                                 core::ShapeToString(tensor.shape()));
  }
  return Status::Ok();
}

template <typename C>
Result<Weights<C>> PrepareWeights(const RecurrentAttributes& attributes, const Tensor& w, const Tensor& r,
                                  const Tensor* b, const Tensor* p) {
  const int64_t gates = GateCount(attributes.cell);
  const int64_t directions = attributes.directions;
  if (r.rank() != 3) return core::InvalidArgument("R must have rank 3, got shape {}", core::ShapeToString(r.shape()));
  const int64_t hidden = attributes.hidden_size > 0 ? attributes.hidden_size : r.dim(2);
  if (hidden <= 0) return core::InvalidArgument("hidden size {} (from R) must be positive", hidden);
  if (w.rank() != 3) return core::InvalidArgument("W must have rank 3, got shape {}", core::ShapeToString(w.shape()));
  for (const Tensor* tensor : {&w, &r, b, p}) {
    if (tensor && tensor->dtype() != w.dtype()) {
      return core::InvalidArgument("W, R, B and P must share one type; got {} and {}", core::DataTypeName(w.dtype()),
                                   core::DataTypeName(tensor->dtype()));
    }
  }
  Weights<C> weights;
  weights.directions = directions;
  weights.hidden = hidden;
  weights.input = w.dim(2);
  weights.gate_width = gates * hidden;
  RETURN_IF_ERROR(CheckShape(w, "W", {directions, gates * hidden, weights.input}));
  RETURN_IF_ERROR(CheckShape(r, "R", {directions, gates * hidden, hidden}));
  weights.w = ConvertAll<C>(w);
  weights.r = ConvertAll<C>(r);
  weights.bias.assign(static_cast<size_t>(directions * weights.gate_width), C(0));
  if (b) {
    RETURN_IF_ERROR(CheckShape(*b, "B", {directions, 2 * gates * hidden}));
    std::vector<C> all = ConvertAll<C>(*b);
    const bool split_h = attributes.cell == Cell::kGru && attributes.linear_before_reset;
    if (split_h) weights.recurrent_bias_h.assign(static_cast<size_t>(directions * hidden), C(0));
    for (int64_t d = 0; d < directions; ++d) {
      const C* wb = &all[d * 2 * weights.gate_width];
      const C* rb = wb + weights.gate_width;
      C* folded = &weights.bias[d * weights.gate_width];
      for (int64_t i = 0; i < weights.gate_width; ++i) {
        // With linear_before_reset, Rbh sits inside r (.) (...) and cannot be folded.
        if (split_h && i >= 2 * hidden) {
          folded[i] = wb[i];
          weights.recurrent_bias_h[d * hidden + (i - 2 * hidden)] = rb[i];
        } else {
          folded[i] = wb[i] + rb[i];
        }
      }
    }
  }
  if (p) {
    if (attributes.cell != Cell::kLstm) return core::InvalidArgument("P is only an LSTM input");
    RETURN_IF_ERROR(CheckShape(*p, "P", {directions, 3 * hidden}));
    weights.peephole = ConvertAll<C>(*p);
  }
  return weights;
}

// ---------------------------------------------------------------------------
// GEMM: out[m, n] = sum_k a[m * lda + k] * b[n * ldb + k]  (A · B^T)

Status GemmABt(int64_t m, int64_t n, int64_t k, const float* a, int64_t lda, const float* b, int64_t ldb, float* out,
               int64_t ldc) {
  if (m == 0 || n == 0) return Status::Ok();
  if (k == 0) {
    for (int64_t i = 0; i < m; ++i) std::fill(out + i * ldc, out + i * ldc + n, 0.0f);
    return Status::Ok();
  }
  // The per-step H·R^T of a small batch is done sooner on one thread than an
  // OpenMP fork/join takes; oneDNN sizes its team from the calling thread's
  // max-threads setting, so cap that for the call.
  constexpr int64_t kParallelWork = int64_t{1} << 21;  // multiply-adds
  const int saved_threads = omp_get_max_threads();
  const bool single = saved_threads > 1 && m * n * k < kParallelWork;
  if (single) omp_set_num_threads(1);
  dnnl_status_t status = dnnl_sgemm('N', 'T', m, n, k, 1.0f, a, lda, b, ldb, 0.0f, out, ldc);
  if (single) omp_set_num_threads(saved_threads);
  if (status != dnnl_success) return core::Internal("oneDNN sgemm failed with status {}", static_cast<int>(status));
  return Status::Ok();
}

// oneDNN has no f64 GEMM; double RNNs are rare enough for a plain loop.
Status GemmABt(int64_t m, int64_t n, int64_t k, const double* a, int64_t lda, const double* b, int64_t ldb, double* out,
               int64_t ldc) {
  core::ParallelFor(m * n, std::max<int64_t>(1, 8192 / std::max<int64_t>(k, 1)), [&](int64_t begin, int64_t end) {
    for (int64_t index = begin; index < end; ++index) {
      const int64_t i = index / n;
      const int64_t j = index % n;
      const double* x = a + i * lda;
      const double* y = b + j * ldb;
      double sum = 0;
      for (int64_t p = 0; p < k; ++p) sum += x[p] * y[p];
      out[i * ldc + j] = sum;
    }
  });
  return Status::Ok();
}

// ---------------------------------------------------------------------------
// The recurrence

// Where things live for one run, in the caller's layout.
struct RunShape {
  int64_t seq = 0;
  int64_t batch = 0;
  int64_t input = 0;
  int64_t hidden = 0;
  int64_t directions = 1;
  int64_t layout = 0;

  // Row of X (and of the input projection) for (t, b).
  int64_t XRow(int64_t t, int64_t b) const { return layout == 0 ? t * batch + b : b * seq + t; }
  // Offset of Y[t, d, b, :] (layout 0) / Y[b, t, d, :] (layout 1).
  int64_t YOffset(int64_t t, int64_t d, int64_t b) const {
    return (layout == 0 ? (t * directions + d) * batch + b : (b * seq + t) * directions + d) * hidden;
  }
  // Offset of state[d, b, :] (layout 0) / state[b, d, :] (layout 1): initial_h/c, Y_h, Y_c.
  int64_t StateOffset(int64_t d, int64_t b) const {
    return (layout == 0 ? d * batch + b : b * directions + d) * hidden;
  }
};

// Per-run inputs and outputs shared by the direction loops, in compute type C
// except the outputs, which are written in the tensor type T.
template <typename T, typename C>
struct RunData {
  const RecurrentAttributes* attributes = nullptr;
  const Weights<C>* weights = nullptr;
  RunShape shape;
  const C* projection = nullptr;  // [seq * batch, D * gate_width] (rows in X's order), biases added
  std::vector<int64_t> lengths;   // per batch entry
  const C* initial_h = nullptr;   // state layout, or null for zeros
  const C* initial_c = nullptr;
  T* y = nullptr;  // outputs, null when not wanted
  T* y_h = nullptr;
  T* y_c = nullptr;
};

template <typename C>
void Clip(const RecurrentAttributes& attributes, C* x, int64_t n) {
  if (!attributes.has_clip) return;
  const C bound = static_cast<C>(attributes.clip);
  for (int64_t i = 0; i < n; ++i) x[i] = std::min(std::max(x[i], -bound), bound);
}

// One RNN step of one batch row: `g` holds H·R^T on entry.
template <typename C>
void RnnRow(const RecurrentAttributes& attributes, const Activation* f, int64_t hidden, C* g, const C* x, C* state) {
  for (int64_t j = 0; j < hidden; ++j) g[j] += x[j];
  Clip(attributes, g, hidden);
  Activate(f[0], g, hidden);
  std::copy_n(g, hidden, state);
}

// One LSTM step of one batch row, in place: `g` holds X·W^T + H·R^T (+
// biases) for the gates i, o, f, c on entry; `cell_state` and `state` are
// updated. Peepholes i, o, f; f[0] gates, f[1] cell input, f[2] output.
template <typename C>
void LstmRow(const RecurrentAttributes& attributes, const Activation* f, const C* peephole, int64_t hidden, C* g,
             const C* x, C* cell_state, C* state) {
  for (int64_t j = 0; j < 4 * hidden; ++j) g[j] += x[j];
  C* gi = g;
  C* go = g + hidden;
  C* gf = g + 2 * hidden;
  C* gc = g + 3 * hidden;
  if (peephole) {
    for (int64_t j = 0; j < hidden; ++j) {
      gi[j] += peephole[j] * cell_state[j];
      gf[j] += peephole[2 * hidden + j] * cell_state[j];
    }
  }
  Clip(attributes, gi, hidden);
  Activate(f[0], gi, hidden);
  if (attributes.input_forget) {
    // Coupled gates: forget what is let in.
    for (int64_t j = 0; j < hidden; ++j) gf[j] = C(1) - gi[j];
  } else {
    Clip(attributes, gf, hidden);
    Activate(f[0], gf, hidden);
  }
  Clip(attributes, gc, hidden);
  Activate(f[1], gc, hidden);
  for (int64_t j = 0; j < hidden; ++j) cell_state[j] = gf[j] * cell_state[j] + gi[j] * gc[j];
  if (peephole) {
    for (int64_t j = 0; j < hidden; ++j) go[j] += peephole[hidden + j] * cell_state[j];
  }
  Clip(attributes, go, hidden);
  Activate(f[0], go, hidden);
  // gc is free now: h(C_t) goes there.
  std::copy_n(cell_state, hidden, gc);
  Activate(f[2], gc, hidden);
  for (int64_t j = 0; j < hidden; ++j) state[j] = go[j] * gc[j];
}

// Writes step t of direction d into Y: the states, or zeros for the batch
// entries whose sequence has ended.
template <typename T, typename C>
void WriteStep(const RunData<T, C>& data, int64_t t, int64_t d, const std::vector<C>& h) {
  const int64_t hidden = data.shape.hidden;
  for (int64_t b = 0; b < data.shape.batch; ++b) {
    T* out = data.y + data.shape.YOffset(t, d, b);
    if (t < data.lengths[b]) {
      for (int64_t j = 0; j < hidden; ++j) out[j] = static_cast<T>(h[b * hidden + j]);
    } else {
      std::fill_n(out, hidden, static_cast<T>(C(0)));
    }
  }
}

// Runs one direction over all timesteps.
template <typename T, typename C>
Status RunDirection(const RunData<T, C>& data, int64_t d) {
  const RecurrentAttributes& attributes = *data.attributes;
  const Weights<C>& weights = *data.weights;
  const RunShape& shape = data.shape;
  const Cell cell = attributes.cell;
  const int64_t batch = shape.batch;
  const int64_t hidden = shape.hidden;
  const int64_t width = weights.gate_width;
  const int64_t projection_stride = shape.directions * width;
  const bool backward = attributes.reverse || d == 1;
  const Activation* f = &attributes.activations[d * ActivationsPerDirection(cell)];
  const C* r = &weights.r[d * width * hidden];
  const C* peephole = weights.peephole.empty() ? nullptr : &weights.peephole[d * 3 * hidden];
  const C* rbh = weights.recurrent_bias_h.empty() ? nullptr : &weights.recurrent_bias_h[d * hidden];

  // States are kept [batch, hidden] whatever the layout.
  std::vector<C> h(static_cast<size_t>(batch * hidden), C(0));
  std::vector<C> c(cell == Cell::kLstm ? static_cast<size_t>(batch * hidden) : 0, C(0));
  for (int64_t b = 0; b < batch; ++b) {
    if (data.initial_h) std::copy_n(data.initial_h + shape.StateOffset(d, b), hidden, &h[b * hidden]);
    if (data.initial_c && cell == Cell::kLstm) {
      std::copy_n(data.initial_c + shape.StateOffset(d, b), hidden, &c[b * hidden]);
    }
  }
  std::vector<C> gates(static_cast<size_t>(batch * width));  // H·R^T, then the gate values
  std::vector<C> reset_h(cell == Cell::kGru ? static_cast<size_t>(batch * hidden) : 0);
  // Rows per chunk so that a chunk holds ~16K gate values: smaller chunks cost
  // more in fork/join than they save.
  const int64_t row_grain = std::max<int64_t>(1, 16384 / std::max<int64_t>(width, 1));
  // GRU without linear_before_reset multiplies R_h by (r (.) H), known only
  // after r: the first GEMM of a step then covers z and r only.
  const bool split_gru = cell == Cell::kGru && !attributes.linear_before_reset;
  const int64_t first_width = split_gru ? 2 * hidden : width;

  for (int64_t s = 0; s < shape.seq; ++s) {
    const int64_t t = backward ? shape.seq - 1 - s : s;
    auto active = [&](int64_t b) { return t < data.lengths[b]; };
    RETURN_IF_ERROR(GemmABt(batch, first_width, hidden, h.data(), hidden, r, hidden, gates.data(), width));

    auto projection_row = [&](int64_t b) { return data.projection + shape.XRow(t, b) * projection_stride + d * width; };

    if (cell == Cell::kRnn) {
      core::ParallelFor(batch, row_grain, [&](int64_t begin, int64_t end) {
        for (int64_t b = begin; b < end; ++b) {
          if (active(b)) RnnRow(attributes, f, hidden, &gates[b * width], projection_row(b), &h[b * hidden]);
        }
      });
    } else if (cell == Cell::kGru) {
      // Gate order z, r, h; f[0] for z and r, f[1] for h.
      core::ParallelFor(batch, row_grain, [&](int64_t begin, int64_t end) {
        for (int64_t b = begin; b < end; ++b) {
          if (!active(b)) continue;
          C* g = &gates[b * width];
          const C* x = projection_row(b);
          for (int64_t j = 0; j < 2 * hidden; ++j) g[j] += x[j];
          Clip(attributes, g, 2 * hidden);
          Activate(f[0], g, 2 * hidden);
          if (split_gru) {
            const C* reset = g + hidden;
            for (int64_t j = 0; j < hidden; ++j) reset_h[b * hidden + j] = reset[j] * h[b * hidden + j];
          }
        }
      });
      if (split_gru) {
        RETURN_IF_ERROR(GemmABt(batch, hidden, hidden, reset_h.data(), hidden, r + 2 * hidden * hidden, hidden,
                                gates.data() + 2 * hidden, width));
      }
      core::ParallelFor(batch, row_grain, [&](int64_t begin, int64_t end) {
        for (int64_t b = begin; b < end; ++b) {
          if (!active(b)) continue;
          C* g = &gates[b * width];
          const C* x = projection_row(b);
          const C* z = g;
          const C* reset = g + hidden;
          C* candidate = g + 2 * hidden;
          if (split_gru) {
            for (int64_t j = 0; j < hidden; ++j) candidate[j] += x[2 * hidden + j];
          } else {
            for (int64_t j = 0; j < hidden; ++j) {
              candidate[j] = x[2 * hidden + j] + reset[j] * (candidate[j] + (rbh ? rbh[j] : C(0)));
            }
          }
          Clip(attributes, candidate, hidden);
          Activate(f[1], candidate, hidden);
          C* state = &h[b * hidden];
          for (int64_t j = 0; j < hidden; ++j) state[j] = (C(1) - z[j]) * candidate[j] + z[j] * state[j];
        }
      });
    } else {
      core::ParallelFor(batch, row_grain, [&](int64_t begin, int64_t end) {
        for (int64_t b = begin; b < end; ++b) {
          if (active(b)) {
            LstmRow(attributes, f, peephole, hidden, &gates[b * width], projection_row(b), &c[b * hidden],
                    &h[b * hidden]);
          }
        }
      });
    }

    if (data.y) WriteStep(data, t, d, h);
  }

  for (int64_t b = 0; b < batch; ++b) {
    if (data.y_h) {
      T* out = data.y_h + shape.StateOffset(d, b);
      for (int64_t j = 0; j < hidden; ++j) out[j] = static_cast<T>(h[b * hidden + j]);
    }
    if (data.y_c) {
      T* out = data.y_c + shape.StateOffset(d, b);
      for (int64_t j = 0; j < hidden; ++j) out[j] = static_cast<T>(c[b * hidden + j]);
    }
  }
  return Status::Ok();
}

class RecurrentKernel : public Kernel {
 public:
  RecurrentKernel(RecurrentAttributes attributes, AnyWeights prepared)
      : attributes_(std::move(attributes)), prepared_(std::move(prepared)) {}

  Status Compute(KernelContext& context) const override {
    ASSIGN_OR_RETURN(const Tensor* x, RequireTensor(context, 0, "X"));
    return core::VisitFloatType(x->dtype(), [&]<typename T>() -> Status {
      if constexpr (std::is_void_v<T>) {
        return core::Unimplemented("X type {} is not supported (expected a float type)",
                                   core::DataTypeName(x->dtype()));
      } else {
        return Run<T>(context, *x);
      }
    });
  }

 private:
  template <typename T>
  Status Run(KernelContext& context, const Tensor& x) const {
    using C = FloatOrDouble<T>;
    const Cell cell = attributes_.cell;
    if (x.rank() != 3) return core::InvalidArgument("X must have rank 3, got shape {}", core::ShapeToString(x.shape()));

    if (const Tensor* w = context.input_tensor(1); w && w->dtype() != x.dtype()) {
      return core::InvalidArgument("W type {} differs from X type {}", core::DataTypeName(w->dtype()),
                                   core::DataTypeName(x.dtype()));
    }
    // Weights: prepared at load time when they are initializers.
    Weights<C> local;
    const Weights<C>* weights = std::get_if<Weights<C>>(&prepared_);
    if (!weights) {
      ASSIGN_OR_RETURN(const Tensor* w, RequireTensor(context, 1, "W"));
      ASSIGN_OR_RETURN(const Tensor* r, RequireTensor(context, 2, "R"));
      const Tensor* p = cell == Cell::kLstm ? context.input_tensor(7) : nullptr;
      ASSIGN_OR_RETURN(local, PrepareWeights<C>(attributes_, *w, *r, context.input_tensor(3), p));
      weights = &local;
    }
    RunShape shape;
    shape.layout = attributes_.layout;
    shape.seq = x.dim(shape.layout == 0 ? 0 : 1);
    shape.batch = x.dim(shape.layout == 0 ? 1 : 0);
    shape.input = x.dim(2);
    shape.hidden = weights->hidden;
    shape.directions = attributes_.directions;
    if (shape.input != weights->input) {
      return core::InvalidArgument("X has input size {} but W expects {}", shape.input, weights->input);
    }
    const TensorShape state_shape = shape.layout == 0 ? TensorShape{shape.directions, shape.batch, shape.hidden}
                                                      : TensorShape{shape.batch, shape.directions, shape.hidden};

    RunData<T, C> data;
    data.attributes = &attributes_;
    data.weights = weights;
    data.shape = shape;
    data.lengths.assign(static_cast<size_t>(shape.batch), shape.seq);
    if (const Tensor* lengths = context.input_tensor(4)) {
      if (lengths->dtype() != DataType::kInt32 && lengths->dtype() != DataType::kInt64) {
        return core::InvalidArgument("sequence_lens must be int32, got {}", core::DataTypeName(lengths->dtype()));
      }
      RETURN_IF_ERROR(CheckShape(*lengths, "sequence_lens", {shape.batch}));
      for (int64_t b = 0; b < shape.batch; ++b) {
        const int64_t length = lengths->IntegerAt(b);
        if (length < 0 || length > shape.seq) {
          return core::InvalidArgument("sequence_lens[{}] = {} is outside [0, {}]", b, length, shape.seq);
        }
        data.lengths[b] = length;
      }
    }
    std::vector<C> initial_h;
    std::vector<C> initial_c;
    if (const Tensor* tensor = context.input_tensor(5)) {
      if (tensor->dtype() != x.dtype()) return core::InvalidArgument("initial_h type differs from X");
      RETURN_IF_ERROR(CheckShape(*tensor, "initial_h", state_shape));
      initial_h = ConvertAll<C>(*tensor);
      data.initial_h = initial_h.data();
    }
    if (const Tensor* tensor = cell == Cell::kLstm ? context.input_tensor(6) : nullptr) {
      if (tensor->dtype() != x.dtype()) return core::InvalidArgument("initial_c type differs from X");
      RETURN_IF_ERROR(CheckShape(*tensor, "initial_c", state_shape));
      initial_c = ConvertAll<C>(*tensor);
      data.initial_c = initial_c.data();
    }

    // Outputs (optional ones only when someone reads them).
    auto wanted = [&](int index) { return index < context.output_count() && context.output_wanted(index); };
    if (wanted(0)) {
      const TensorShape y_shape = shape.layout == 0
                                      ? TensorShape{shape.seq, shape.directions, shape.batch, shape.hidden}
                                      : TensorShape{shape.batch, shape.seq, shape.directions, shape.hidden};
      ASSIGN_OR_RETURN(Tensor * y, context.AllocateOutput(0, x.dtype(), y_shape));
      data.y = y->data<T>();
    }
    if (wanted(1)) {
      ASSIGN_OR_RETURN(Tensor * y_h, context.AllocateOutput(1, x.dtype(), state_shape));
      data.y_h = y_h->data<T>();
    }
    if (cell == Cell::kLstm && wanted(2)) {
      ASSIGN_OR_RETURN(Tensor * y_c, context.AllocateOutput(2, x.dtype(), state_shape));
      data.y_c = y_c->data<T>();
    }

    // Input projection for every timestep and direction in one GEMM:
    // [seq * batch, input] · [D * gate_width, input]^T.
    const int64_t rows = shape.seq * shape.batch;
    const int64_t columns = shape.directions * weights->gate_width;
    ASSIGN_OR_RETURN(int64_t projection_size, core::CheckedElementCount(TensorShape{rows, columns}, sizeof(C)));
    std::vector<C> projection(static_cast<size_t>(projection_size));
    std::vector<C> converted_x;
    const C* x_data;
    if constexpr (std::is_same_v<T, C>) {
      x_data = x.data<T>();
    } else {
      converted_x = ConvertAll<C>(x);
      x_data = converted_x.data();
    }
    RETURN_IF_ERROR(GemmABt(rows, columns, shape.input, x_data, shape.input, weights->w.data(), shape.input,
                            projection.data(), columns));
    core::ParallelFor(rows, std::max<int64_t>(1, 16384 / std::max<int64_t>(columns, 1)),
                      [&](int64_t begin, int64_t end) {
                        for (int64_t row = begin; row < end; ++row) {
                          C* out = &projection[row * columns];
                          for (int64_t j = 0; j < columns; ++j) out[j] += weights->bias[j];
                        }
                      });
    data.projection = projection.data();

    for (int64_t d = 0; d < shape.directions; ++d) RETURN_IF_ERROR((RunDirection<T, C>(data, d)));
    return Status::Ok();
  }

  RecurrentAttributes attributes_;
  AnyWeights prepared_;
};

// Input indices: X 0, W 1, R 2, B 3, sequence_lens 4, initial_h 5, initial_c 6, P 7.
template <Cell kCell>
Result<std::unique_ptr<Kernel>> CreateRecurrent(KernelBuildContext& build) {
  ASSIGN_OR_RETURN(RecurrentAttributes attributes, ParseAttributes(build.node(), kCell));
  // Prepare the weights now when every weight input is known.
  AnyWeights prepared;
  const Tensor* w = build.constant_input(1);
  const Tensor* r = build.constant_input(2);
  const bool has_b = build.node().HasInput(3);
  const bool has_p = kCell == Cell::kLstm && build.node().HasInput(7);
  const Tensor* b = has_b ? build.constant_input(3) : nullptr;
  const Tensor* p = has_p ? build.constant_input(7) : nullptr;
  if (w && r && (!has_b || b) && (!has_p || p)) {
    if (w->dtype() == DataType::kFloat64) {
      ASSIGN_OR_RETURN(prepared, PrepareWeights<double>(attributes, *w, *r, b, p));
    } else if (core::IsFloatingPoint(w->dtype())) {
      ASSIGN_OR_RETURN(prepared, PrepareWeights<float>(attributes, *w, *r, b, p));
    } else {
      return core::InvalidArgument("W has type {}; expected a float type", core::DataTypeName(w->dtype()));
    }
  }
  return std::unique_ptr<Kernel>(std::make_unique<RecurrentKernel>(std::move(attributes), std::move(prepared)));
}

// Y: [seq, D, batch, hidden] (layout 0) or [batch, seq, D, hidden] (layout 1);
// Y_h and Y_c: [D, batch, hidden] or [batch, D, hidden].
Status InferRecurrent(InferenceContext& context) {
  const Node& node = context.node();
  const DataType dtype = InputDtype(context, 0);
  bool reverse = false;
  auto directions = ParseDirections(node, &reverse);
  Dimension num_directions{directions.ok() ? *directions : -1, ""};
  Dimension hidden;
  if (const Attribute* attr = node.FindAttribute("hidden_size")) {
    hidden.value = attr->i > 0 ? attr->i : -1;
  } else {
    const ValueType& r = context.input_type(2);
    if (r.is_tensor() && r.has_shape && r.dims.size() == 3) hidden = r.dims[2];
  }
  const int64_t layout = node.opset >= 14 ? node.GetInt("layout", 0) : 0;
  Dimension seq;
  Dimension batch;
  const ValueType& x = context.input_type(0);
  if (x.is_tensor() && x.has_shape && x.dims.size() == 3) {
    seq = x.dims[layout == 0 ? 0 : 1];
    batch = x.dims[layout == 0 ? 1 : 0];
  }
  std::vector<Dimension> state = layout == 0 ? std::vector<Dimension>{num_directions, batch, hidden}
                                             : std::vector<Dimension>{batch, num_directions, hidden};
  std::vector<Dimension> y = layout == 0 ? std::vector<Dimension>{seq, num_directions, batch, hidden}
                                         : std::vector<Dimension>{batch, seq, num_directions, hidden};
  if (context.output_count() > 0) context.set_output_type(0, ValueType::Tensor(dtype, y));
  for (int o = 1; o < context.output_count() && o < 3; ++o) context.set_output_type(o, ValueType::Tensor(dtype, state));
  return Status::Ok();
}

}  // namespace

void RegisterRecurrentKernels(OpRegistry& registry) {
  // Opset 1 had output_sequence (Y is still output 0; it is produced when
  // read); GRU 3 added linear_before_reset; 7 dropped output_sequence; 14
  // added layout.
  registry.Register("", "RNN", {1, 7, 14}, InferRecurrent, CreateRecurrent<Cell::kRnn>);
  registry.Register("", "GRU", {1, 3, 7, 14}, InferRecurrent, CreateRecurrent<Cell::kGru>);
  registry.Register("", "LSTM", {1, 7, 14}, InferRecurrent, CreateRecurrent<Cell::kLstm>);
}

}  // namespace berth::engine
