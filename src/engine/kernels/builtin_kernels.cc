// The list of built-in op families. Each family lives in its own file and
// registers its ops from one function.
#include "engine/kernels/op_registry.h"

namespace berth::engine {

void RegisterElementwiseKernels(OpRegistry& registry);  // elementwise.cc
void RegisterTensorKernels(OpRegistry& registry);       // tensor_kernels.cc
void RegisterElementwiseMathKernels(OpRegistry& registry);  // elementwise_math.cc
void RegisterLogicKernels(OpRegistry& registry);  // logic.cc
void RegisterCastQuantizeKernels(OpRegistry& registry);  // cast_quantize.cc
void RegisterShapeKernels(OpRegistry& registry);  // shape_ops.cc
void RegisterGatherScatterKernels(OpRegistry& registry);  // gather_scatter.cc
void RegisterConvolutionKernels(OpRegistry& registry);  // convolution.cc
void RegisterPoolingKernels(OpRegistry& registry);  // pooling.cc
void RegisterMatMulKernels(OpRegistry& registry);  // matmul.cc
void RegisterNormalizationKernels(OpRegistry& registry);  // normalization.cc
void RegisterSoftmaxKernels(OpRegistry& registry);  // softmax.cc
void RegisterReductionKernels(OpRegistry& registry);  // reduction.cc
void RegisterResizeKernels(OpRegistry& registry);  // resize.cc
void RegisterSignalKernels(OpRegistry& registry);  // signal.cc
void RegisterDetectionKernels(OpRegistry& registry);  // detection.cc
void RegisterRecurrentKernels(OpRegistry& registry);  // recurrent.cc
void RegisterLossKernels(OpRegistry& registry);  // loss.cc
void RegisterTrainingKernels(OpRegistry& registry);  // training.cc
void RegisterTextKernels(OpRegistry& registry);  // text.cc
void RegisterControlFlowKernels(OpRegistry& registry);  // control_flow.cc
void RegisterSequenceKernels(OpRegistry& registry);  // sequence.cc
void RegisterRandomKernels(OpRegistry& registry);  // random.cc

void RegisterAllBuiltinKernels(OpRegistry& registry) {
  RegisterElementwiseKernels(registry);
  RegisterTensorKernels(registry);
  RegisterElementwiseMathKernels(registry);
  RegisterLogicKernels(registry);
  RegisterCastQuantizeKernels(registry);
  RegisterShapeKernels(registry);
  RegisterGatherScatterKernels(registry);
  RegisterConvolutionKernels(registry);
  RegisterPoolingKernels(registry);
  RegisterMatMulKernels(registry);
  RegisterNormalizationKernels(registry);
  RegisterSoftmaxKernels(registry);
  RegisterReductionKernels(registry);
  RegisterResizeKernels(registry);
  RegisterSignalKernels(registry);
  RegisterDetectionKernels(registry);
  RegisterRecurrentKernels(registry);
  RegisterLossKernels(registry);
  RegisterTrainingKernels(registry);
  RegisterTextKernels(registry);
  RegisterControlFlowKernels(registry);
  RegisterSequenceKernels(registry);
  RegisterRandomKernels(registry);
}

}  // namespace berth::engine
