// The list of built-in op families. Each family lives in its own file and
// registers its ops from one function.
#include "engine/kernels/op_registry.h"

namespace berth::engine {

void RegisterElementwiseKernels(OpRegistry& registry);
void RegisterTensorKernels(OpRegistry& registry);

void RegisterAllBuiltinKernels(OpRegistry& registry) {
  RegisterElementwiseKernels(registry);
  RegisterTensorKernels(registry);
}

}  // namespace berth::engine
