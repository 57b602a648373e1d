// The optimizer's passes. Each rewrites the graph in place through a
// GraphEditor and leaves it valid; graph_optimizer.cc runs them in order.
#pragma once

#include "core/status.h"
#include "engine/ops/op_registry.h"
#include "engine/ops/type_inference.h"
#include "engine/optimizer/graph_editor.h"

namespace berth::engine {

// Constant nodes become initializers; nodes whose inputs are all constant
// are evaluated once with their own kernels (unless the result would be much
// larger than the inputs); Shape/Size of statically known shapes fold.
// Infers the types of the graph on the way (each node just before it is
// considered, so folded values sharpen what follows) and leaves them in
// `types`.
core::Status FoldConstants(GraphEditor& editor, const OpRegistry& registry, ValueTypes* types);
// Identity (and inference-mode Dropout) nodes are bypassed.
core::Status EliminateIdentities(GraphEditor& editor);
// Nodes whose outputs nothing reads are removed.
core::Status EliminateDeadNodes(GraphEditor& editor);

// Conv with constant weights [+ Add of a same-shape tensor] [+ Relu, Clip,
// LeakyRelu, Sigmoid, Tanh, Elu, HardSwish] becomes one berth.FusedConv whose
// extras run as oneDNN post-ops.
core::Status FuseConvolutions(GraphEditor& editor, const ValueTypes& types);
// A FusedConv 1x1 (float32, stride 1, no padding or residual) whose only
// reader is a 3x3 depthwise FusedConv (stride 1 or 2, padding 1) takes the
// depthwise convolution in as a second stage: its weights and bias at inputs
// 4 and 5, attributes depthwise_stride and depthwise_activation*. The kernel
// runs both in one oneDNN primitive where oneDNN has a fused kernel, so the
// expanded tensor between them never goes out to memory (MobileNetV2's
// 96x112x112 is 4.8 MB), and as two primitives otherwise.
core::Status FuseDepthwiseConvolutions(GraphEditor& editor, const ValueTypes& types);
// MatMul (float32, rank >= 2) and Gemm with constant B -> berth.FusedMatMul,
// absorbing operand/result Transposes, scalar scaling, bias, a broadcast
// addend (residual, attention mask) and an activation (incl. erf GELU).
core::Status FuseMatMuls(GraphEditor& editor, const ValueTypes& types);
// Marks FusedConv and pooling nodes whose every reader understands channel-
// blocked layouts to produce one (attribute blocked_output = 1), so chains of
// convolutions keep oneDNN's layout instead of reordering at every edge.
core::Status AssignBlockedLayouts(GraphEditor& editor, const ValueTypes& types);

}  // namespace berth::engine
