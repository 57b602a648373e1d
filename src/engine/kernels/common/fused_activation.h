// Activations that the optimizer fuses into the kernel before them (oneDNN
// post-ops on Conv and MatMul): their names on fused nodes, their oneDNN
// algorithm, and a scalar form for kernels' portable paths.
//
// A fused node carries string attribute "activation" (one of the names
// below) and float attributes "activation_alpha" / "activation_beta"; a
// second fused stage names its own with a prefix ("depthwise_activation").
#pragma once

#include <algorithm>
#include <cmath>
#include <oneapi/dnnl/dnnl.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "core/status.h"
#include "engine/onnx/graph.h"

namespace berth::engine {

struct FusedActivation {
  enum class Kind { kNone, kRelu, kLeakyRelu, kClip, kSigmoid, kTanh, kElu, kHardSwish, kGeluErf };
  Kind kind = Kind::kNone;
  float alpha = 0;  // LeakyRelu slope, Clip min, Elu alpha
  float beta = 0;   // Clip max

  bool active() const { return kind != Kind::kNone; }

  // Reads the fused-activation attributes of a node, each name preceded by
  // `prefix` (none when absent).
  static core::Result<FusedActivation> FromNode(const Node& node, std::string_view prefix = "") {
    FusedActivation a;
    const std::string base(prefix);
    std::string name = node.GetString(base + "activation", "");
    a.alpha = node.GetFloat(base + "activation_alpha", 0);
    a.beta = node.GetFloat(base + "activation_beta", 0);
    if (name.empty()) return a;
    if (name == "Relu")
      a.kind = Kind::kRelu;
    else if (name == "LeakyRelu")
      a.kind = Kind::kLeakyRelu;
    else if (name == "Clip")
      a.kind = Kind::kClip;
    else if (name == "Sigmoid")
      a.kind = Kind::kSigmoid;
    else if (name == "Tanh")
      a.kind = Kind::kTanh;
    else if (name == "Elu")
      a.kind = Kind::kElu;
    else if (name == "HardSwish")
      a.kind = Kind::kHardSwish;
    else if (name == "GeluErf")
      a.kind = Kind::kGeluErf;
    else
      return core::InvalidArgument("unknown fused activation '{}'", name);
    return a;
  }

  // Appends this activation to oneDNN post-ops.
  void AppendTo(dnnl::post_ops& ops) const {
    using alg = dnnl::algorithm;
    switch (kind) {
      case Kind::kNone:
        return;
      case Kind::kRelu:
        ops.append_eltwise(1.f, alg::eltwise_relu, 0.f, 0.f);
        return;
      case Kind::kLeakyRelu:
        ops.append_eltwise(1.f, alg::eltwise_relu, alpha, 0.f);
        return;
      case Kind::kClip:
        ops.append_eltwise(1.f, alg::eltwise_clip, alpha, beta);
        return;
      case Kind::kSigmoid:
        ops.append_eltwise(1.f, alg::eltwise_logistic, 0.f, 0.f);
        return;
      case Kind::kTanh:
        ops.append_eltwise(1.f, alg::eltwise_tanh, 0.f, 0.f);
        return;
      case Kind::kElu:
        ops.append_eltwise(1.f, alg::eltwise_elu, alpha, 0.f);
        return;
      case Kind::kHardSwish:
        ops.append_eltwise(1.f, alg::eltwise_hardswish, 0.f, 0.f);
        return;
      case Kind::kGeluErf:
        ops.append_eltwise(1.f, alg::eltwise_gelu_erf, 0.f, 0.f);
        return;
    }
  }

  // The activation on one value (ONNX semantics), for portable paths.
  template <typename T>
  T Apply(T x) const {
    switch (kind) {
      case Kind::kNone:
        return x;
      case Kind::kRelu:
        return x > T(0) ? x : T(0);
      case Kind::kLeakyRelu:
        return x >= T(0) ? x : static_cast<T>(alpha) * x;
      case Kind::kClip:
        return std::min(std::max(x, static_cast<T>(alpha)), static_cast<T>(beta));
      case Kind::kSigmoid:
        return T(1) / (T(1) + std::exp(-x));
      case Kind::kTanh:
        return std::tanh(x);
      case Kind::kElu:
        return x >= T(0) ? x : static_cast<T>(alpha) * (std::exp(x) - T(1));
      case Kind::kHardSwish:
        return x * std::min(std::max(x / T(6) + T(0.5), T(0)), T(1));
      case Kind::kGeluErf:
        return T(0.5) * x * (T(1) + std::erf(x / std::sqrt(T(2))));
    }
    return x;
  }
};

}  // namespace berth::engine
