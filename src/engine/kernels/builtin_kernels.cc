#include "engine/kernels/builtin_kernels.h"

namespace berth::engine {

const OpRegistry& BuiltinOpRegistry() {
  static const OpRegistry* registry = [] {
    auto* r = new OpRegistry();
    RegisterAllBuiltinKernels(*r);
    return r;
  }();
  return *registry;
}

void RegisterAllBuiltinKernels(OpRegistry& registry) {
  RegisterElementwiseKernels(registry);
  RegisterActivationKernels(registry);
  RegisterTensorKernels(registry);
  RegisterElementwiseMathKernels(registry);
  RegisterLogicKernels(registry);
  RegisterCastQuantizeKernels(registry);
  RegisterShapeKernels(registry);
  RegisterShapeLayoutKernels(registry);
  RegisterShapeSliceKernels(registry);
  RegisterShapePadKernels(registry);
  RegisterGatherScatterKernels(registry);
  RegisterGatherNdKernels(registry);
  RegisterGatherSelectKernels(registry);
  RegisterConvolutionKernels(registry);
  RegisterPoolingKernels(registry);
  RegisterMatMulKernels(registry);
  RegisterMatMulIntegerKernels(registry);
  RegisterEinsumKernels(registry);
  RegisterFusedMatMulKernels(registry);
  RegisterNormalizationKernels(registry);
  RegisterLayerNormalizationKernels(registry);
  RegisterSoftmaxKernels(registry);
  RegisterReductionKernels(registry);
  RegisterReductionIndexKernels(registry);
  RegisterReductionTopKKernels(registry);
  RegisterDeterminantKernels(registry);
  RegisterResizeKernels(registry);
  RegisterGridSampleKernels(registry);
  RegisterSignalKernels(registry);
  RegisterDftKernels(registry);
  RegisterDetectionKernels(registry);
  RegisterRecurrentKernels(registry);
  RegisterLossKernels(registry);
  RegisterTrainingKernels(registry);
  RegisterTextKernels(registry);
  RegisterControlFlowKernels(registry);
  RegisterScanKernels(registry);
  RegisterSequenceKernels(registry);
  RegisterSequenceMapKernels(registry);
  RegisterOptionalKernels(registry);
  RegisterRandomKernels(registry);
}

}  // namespace berth::engine
