// The built-in kernels: one registration function per file that defines
// ops, all listed here once and called in this order by
// RegisterAllBuiltinKernels (explicit, so static linking cannot drop a
// family). Families never register each other's ops.
#pragma once

#include "engine/ops/op_registry.h"

namespace berth::engine {

// The registry holding every built-in kernel (built on first use; then read-only).
const OpRegistry& BuiltinOpRegistry();

void RegisterAllBuiltinKernels(OpRegistry& registry);

void RegisterElementwiseKernels(OpRegistry& registry);         // elementwise/elementwise.cc
void RegisterActivationKernels(OpRegistry& registry);          // elementwise/elementwise_activation.cc
void RegisterTensorKernels(OpRegistry& registry);              // tensor/tensor_kernels.cc
void RegisterElementwiseMathKernels(OpRegistry& registry);     // elementwise/elementwise_math.cc
void RegisterLogicKernels(OpRegistry& registry);               // elementwise/logic.cc
void RegisterCastQuantizeKernels(OpRegistry& registry);        // elementwise/cast_quantize.cc
void RegisterShapeKernels(OpRegistry& registry);               // tensor/shape_ops.cc
void RegisterShapeLayoutKernels(OpRegistry& registry);         // tensor/shape_layout.cc
void RegisterShapeSliceKernels(OpRegistry& registry);          // tensor/shape_slice.cc
void RegisterShapePadKernels(OpRegistry& registry);            // tensor/shape_pad.cc
void RegisterGatherScatterKernels(OpRegistry& registry);       // tensor/gather_scatter.cc
void RegisterGatherNdKernels(OpRegistry& registry);            // tensor/gather_nd.cc
void RegisterGatherSelectKernels(OpRegistry& registry);        // tensor/gather_select.cc
void RegisterConvolutionKernels(OpRegistry& registry);         // convolution/convolution.cc
void RegisterPoolingKernels(OpRegistry& registry);             // pooling/pooling.cc
void RegisterMatMulKernels(OpRegistry& registry);              // matmul/matmul.cc
void RegisterMatMulIntegerKernels(OpRegistry& registry);       // matmul/matmul_integer.cc
void RegisterEinsumKernels(OpRegistry& registry);              // matmul/einsum.cc
void RegisterFusedMatMulKernels(OpRegistry& registry);         // matmul/matmul_fused.cc
void RegisterNormalizationKernels(OpRegistry& registry);       // normalization/normalization.cc
void RegisterLayerNormalizationKernels(OpRegistry& registry);  // normalization/norm_layer.cc
void RegisterSoftmaxKernels(OpRegistry& registry);             // normalization/softmax.cc
void RegisterReductionKernels(OpRegistry& registry);           // reduction/reduction.cc
void RegisterReductionIndexKernels(OpRegistry& registry);      // reduction/reduction_index.cc
void RegisterReductionTopKKernels(OpRegistry& registry);       // reduction/reduction_topk.cc
void RegisterDeterminantKernels(OpRegistry& registry);         // reduction/reduction_det.cc
void RegisterResizeKernels(OpRegistry& registry);              // resize/resize.cc
void RegisterGridSampleKernels(OpRegistry& registry);          // resize/resize_grid_sample.cc
void RegisterSignalKernels(OpRegistry& registry);              // signal/signal.cc
void RegisterDftKernels(OpRegistry& registry);                 // signal/signal_dft.cc
void RegisterDetectionKernels(OpRegistry& registry);           // detection/detection.cc
void RegisterRecurrentKernels(OpRegistry& registry);           // recurrent/recurrent.cc
void RegisterLossKernels(OpRegistry& registry);                // training/loss.cc
void RegisterTrainingKernels(OpRegistry& registry);            // training/training.cc
void RegisterTextKernels(OpRegistry& registry);                // text/text.cc
void RegisterControlFlowKernels(OpRegistry& registry);         // control_flow/control_flow.cc
void RegisterScanKernels(OpRegistry& registry);                // control_flow/control_scan.cc
void RegisterSequenceKernels(OpRegistry& registry);            // control_flow/sequence.cc
void RegisterSequenceMapKernels(OpRegistry& registry);         // control_flow/sequence_map.cc
void RegisterOptionalKernels(OpRegistry& registry);            // control_flow/optional.cc
void RegisterRandomKernels(OpRegistry& registry);              // elementwise/random.cc

}  // namespace berth::engine
