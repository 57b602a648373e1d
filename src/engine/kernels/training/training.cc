// Optimizer steps of the ai.onnx.preview.training domain: Adagrad, Momentum
// (standard and Nesterov) and Adam. Each updates several tensors at once;
// inputs are [R, T, X_1..X_k, G_1..G_k, <state groups>] and outputs are the
// new X's followed by the new states. Gradient lives in training_gradient.cc.
#include <cmath>

#include "engine/kernels/builtin_kernels.h"
#include "engine/kernels/common/kernel_util.h"
#include "engine/ops/op_registry.h"

namespace berth::engine {

void RegisterGradientKernel(OpRegistry& registry);  // training_gradient.cc

namespace {

using core::DataType;
using core::Result;
using core::Status;
using core::Tensor;

// Output types: group g of outputs copies the types of input group
// `input_groups[g]` (input group 0 is X, 1 is G, 2.. are the states).
Status InferOptimizer(InferenceContext& context, int groups, std::initializer_list<int> input_groups) {
  const int tensors = context.input_count() - 2;
  if (tensors < 0 || tensors % groups != 0) return Status::Ok();  // the kernel reports it
  const int k = tensors / groups;
  int output_group = 0;
  for (int input_group : input_groups) {
    for (int i = 0; i < k; ++i) {
      int out = output_group * k + i;
      if (out < context.output_count()) context.set_output_type(out, context.input_type(2 + input_group * k + i));
    }
    ++output_group;
  }
  return Status::Ok();
}

// R (learning rate, float scalar) and T (update count, int64 scalar).
struct StepScalars {
  double rate = 0;
  int64_t count = 0;
};

Result<StepScalars> ReadStepScalars(const KernelContext& context) {
  ASSIGN_OR_RETURN(const Tensor* r, RequireTensor(context, 0, "R"));
  ASSIGN_OR_RETURN(const Tensor* t, RequireTensor(context, 1, "T"));
  if (r->element_count() != 1 || !core::IsFloatingPoint(r->dtype())) {
    return core::InvalidArgument("R must be a float scalar, got {}", r->DebugString());
  }
  if (t->element_count() != 1 || t->dtype() != DataType::kInt64) {
    return core::InvalidArgument("T must be an int64 scalar, got {}", t->DebugString());
  }
  return StepScalars{r->NumberAt(0), t->IntegerAt(0)};
}

// The tensors of one optimized variable: X and its gradient and states, all of
// X's shape and type (broadcasting between them is not supported).
Result<std::vector<const Tensor*>> ReadGroup(const KernelContext& context, int k, int index, int groups,
                                             const char* const* names) {
  std::vector<const Tensor*> tensors;
  for (int g = 0; g < groups; ++g) {
    ASSIGN_OR_RETURN(const Tensor* tensor, RequireTensor(context, 2 + g * k + index, names[g]));
    if (g > 0 && (tensor->dtype() != tensors[0]->dtype() || tensor->shape() != tensors[0]->shape())) {
      return core::InvalidArgument("{} of tensor {} is {}, expected {} like {}", names[g], index, tensor->DebugString(),
                                   tensors[0]->DebugString(), names[0]);
    }
    tensors.push_back(tensor);
  }
  if (tensors[0]->dtype() != DataType::kFloat32 && tensors[0]->dtype() != DataType::kFloat64) {
    return core::Unimplemented("optimized tensor {} has type {}; float32 and float64 are supported", index,
                               core::DataTypeName(tensors[0]->dtype()));
  }
  return tensors;
}

// Shared driver: checks the input count, then for each optimized variable
// allocates the outputs (X_new, states...) and calls
// update.template operator()<C>(count, inputs..., outputs...).
// `Update` gets spans: in[groups], out[groups - 1] (G has no output).
template <typename Update>
Status RunOptimizer(KernelContext& context, int groups, const char* const* names, const Update& update) {
  const int tensors = context.input_count() - 2;
  if (tensors <= 0 || tensors % groups != 0) {
    return core::InvalidArgument("expected R, T and {} groups of tensors, got {} inputs", groups,
                                 context.input_count());
  }
  const int k = tensors / groups;
  if (context.output_count() > (groups - 1) * k) {
    return core::InvalidArgument("{} outputs for {} optimized tensors; at most {}", context.output_count(), k,
                                 (groups - 1) * k);
  }
  ASSIGN_OR_RETURN(StepScalars scalars, ReadStepScalars(context));
  for (int i = 0; i < k; ++i) {
    ASSIGN_OR_RETURN(std::vector<const Tensor*> in, ReadGroup(context, k, i, groups, names));
    // Outputs nobody reads still get computed, into local scratch, so that one
    // loop serves every combination of wanted outputs.
    std::vector<Tensor*> out;
    std::vector<Tensor> scratch(static_cast<size_t>(groups - 1));
    for (int g = 0; g + 1 < groups; ++g) {
      const int index = g * k + i;
      if (index < context.output_count() && context.output_wanted(index)) {
        ASSIGN_OR_RETURN(Tensor * tensor, context.AllocateOutput(index, in[0]->dtype(), in[0]->shape()));
        out.push_back(tensor);
      } else {
        ASSIGN_OR_RETURN(scratch[g], Tensor::Create(in[0]->dtype(), in[0]->shape(), context.allocator()));
        out.push_back(&scratch[g]);
      }
    }
    if (in[0]->dtype() == DataType::kFloat32) {
      update.template operator()<float>(scalars, in, out);
    } else {
      update.template operator()<double>(scalars, in, out);
    }
  }
  return Status::Ok();
}

template <typename Fn>
void ParallelElements(int64_t count, Fn&& fn) {
  core::ParallelFor(count, 16384, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) fn(i);
  });
}

Result<float> RequiredFloat(const Node& node, const char* name) {
  const Attribute* attr = node.FindAttribute(name);
  if (!attr) return core::InvalidArgument("attribute '{}' is required", name);
  return attr->f;
}

Result<std::unique_ptr<Kernel>> CreateAdagrad(KernelBuildContext& build) {
  const Node& node = build.node();
  const double epsilon = node.GetFloat("epsilon", 1e-6f);
  const double decay = node.GetFloat("decay_factor", 0.0f);
  const double norm = node.GetFloat("norm_coefficient", 0.0f);
  return MakeFunctionKernel([=](KernelContext& context) -> Status {
    static const char* const kNames[] = {"X", "G", "H"};
    return RunOptimizer(
        context, 3, kNames,
        [&]<typename C>(const StepScalars& s, const std::vector<const Tensor*>& in, const std::vector<Tensor*>& out) {
          const C r = static_cast<C>(s.rate / (1.0 + static_cast<double>(s.count) * decay));
          const C* x = in[0]->data<C>();
          const C* g = in[1]->data<C>();
          const C* h = in[2]->data<C>();
          C* x_new = out[0]->data<C>();
          C* h_new = out[1]->data<C>();
          ParallelElements(in[0]->element_count(), [&](int64_t i) {
            const C g_reg = static_cast<C>(norm) * x[i] + g[i];
            const C h_next = h[i] + g_reg * g_reg;
            h_new[i] = h_next;
            x_new[i] = x[i] - r * g_reg / (std::sqrt(h_next) + static_cast<C>(epsilon));
          });
        });
  });
}

Result<std::unique_ptr<Kernel>> CreateMomentum(KernelBuildContext& build) {
  const Node& node = build.node();
  ASSIGN_OR_RETURN(const double alpha, RequiredFloat(node, "alpha"));
  ASSIGN_OR_RETURN(const double beta, RequiredFloat(node, "beta"));
  ASSIGN_OR_RETURN(const double norm, RequiredFloat(node, "norm_coefficient"));
  const std::string mode = node.GetString("mode", "");
  if (mode != "standard" && mode != "nesterov") {
    return core::InvalidArgument("mode '{}' is not 'standard' or 'nesterov'", mode);
  }
  const bool nesterov = mode == "nesterov";
  return MakeFunctionKernel([=](KernelContext& context) -> Status {
    static const char* const kNames[] = {"X", "G", "V"};
    return RunOptimizer(
        context, 3, kNames,
        [&]<typename C>(const StepScalars& s, const std::vector<const Tensor*>& in, const std::vector<Tensor*>& out) {
          // The first step (T == 0) takes the whole gradient.
          const C beta_adjusted = static_cast<C>(s.count > 0 ? beta : 1.0);
          const C r = static_cast<C>(s.rate);
          const C a = static_cast<C>(alpha);
          const C* x = in[0]->data<C>();
          const C* g = in[1]->data<C>();
          const C* v = in[2]->data<C>();
          C* x_new = out[0]->data<C>();
          C* v_new = out[1]->data<C>();
          ParallelElements(in[0]->element_count(), [&](int64_t i) {
            const C g_reg = static_cast<C>(norm) * x[i] + g[i];
            const C v_next = a * v[i] + beta_adjusted * g_reg;
            v_new[i] = v_next;
            x_new[i] = nesterov ? x[i] - r * (g_reg + a * v_next) : x[i] - r * v_next;
          });
        });
  });
}

Result<std::unique_ptr<Kernel>> CreateAdam(KernelBuildContext& build) {
  const Node& node = build.node();
  const double alpha = node.GetFloat("alpha", 0.9f);
  const double beta = node.GetFloat("beta", 0.999f);
  const double norm = node.GetFloat("norm_coefficient", 0.0f);
  const double norm_post = node.GetFloat("norm_coefficient_post", 0.0f);
  const double epsilon = node.GetFloat("epsilon", 1e-6f);
  return MakeFunctionKernel([=](KernelContext& context) -> Status {
    static const char* const kNames[] = {"X", "G", "V", "H"};
    return RunOptimizer(
        context, 4, kNames,
        [&]<typename C>(const StepScalars& s, const std::vector<const Tensor*>& in, const std::vector<Tensor*>& out) {
          // Bias correction of the running averages (skipped at T == 0).
          double rate = s.rate;
          if (s.count > 0) {
            const double t = static_cast<double>(s.count);
            rate = rate * std::sqrt(1.0 - std::pow(beta, t)) / (1.0 - std::pow(alpha, t));
          }
          const C r = static_cast<C>(rate);
          const C a = static_cast<C>(alpha);
          const C b = static_cast<C>(beta);
          const C* x = in[0]->data<C>();
          const C* g = in[1]->data<C>();
          const C* v = in[2]->data<C>();
          const C* h = in[3]->data<C>();
          C* x_new = out[0]->data<C>();
          C* v_new = out[1]->data<C>();
          C* h_new = out[2]->data<C>();
          ParallelElements(in[0]->element_count(), [&](int64_t i) {
            const C g_reg = static_cast<C>(norm) * x[i] + g[i];
            const C v_next = a * v[i] + (C(1) - a) * g_reg;
            const C h_next = b * h[i] + (C(1) - b) * g_reg * g_reg;
            v_new[i] = v_next;
            h_new[i] = h_next;
            const C x_next = x[i] - r * v_next / (std::sqrt(h_next) + static_cast<C>(epsilon));
            x_new[i] = (C(1) - static_cast<C>(norm_post)) * x_next;
          });
        });
  });
}

}  // namespace

void RegisterTrainingKernels(OpRegistry& registry) {
  registry.Register(
      std::string(kTrainingDomain), "Adagrad", {1},
      [](InferenceContext& context) {
        return InferOptimizer(context, 3, {0, 2});
      },
      CreateAdagrad);
  registry.Register(
      std::string(kTrainingDomain), "Momentum", {1},
      [](InferenceContext& context) {
        return InferOptimizer(context, 3, {0, 2});
      },
      CreateMomentum);
  registry.Register(
      std::string(kTrainingDomain), "Adam", {1},
      [](InferenceContext& context) {
        return InferOptimizer(context, 4, {0, 2, 3});
      },
      CreateAdam);
  RegisterGradientKernel(registry);
}

}  // namespace berth::engine
