// (placeholder: this op family has no kernels yet)
#include "engine/kernels/op_registry.h"

namespace berth::engine {

void RegisterShapeKernels(OpRegistry& registry) { (void)registry; }

}  // namespace berth::engine
