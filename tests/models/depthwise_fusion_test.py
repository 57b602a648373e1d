#!/usr/bin/python3
"""MobileNet-style inverted residual blocks: a 1x1 expansion, a 3x3
depthwise convolution (stride 1 or 2) and a 1x1 projection, with ReLU6 or
ReLU between them and the residual Add where shapes allow.

The optimizer folds each depthwise convolution into the 1x1 before it. Where
oneDNN has a fused kernel (its 1x1 kernel with a k3s2p1 depthwise post-op,
when the input channels fill whole 16-channel blocks on AVX-512) the pair runs
as one primitive, so the expanded tensor never goes out to memory; elsewhere
as two (a large depthwise convolution at batch 1 split by channel blocks,
one slice per thread). Checks, per case, that the optimised graph matches the unoptimised one
(`berth run --no-optimize`) and that oneDNN's verbose log shows the fused
kernel exactly where expected (on AVX-512; other machines, or
BERTH_MAX_CPU_ISA=avx2, may take either path). Timings are not compared here:
bench/fusion_bench.py does that.

  depthwise_fusion_test.py --berth BIN
"""
import argparse
import os
import re
import sys
import tempfile

import numpy as np
from onnx import TensorProto, helper, numpy_helper, save

from berth_runs import avx512_kernels, compare_optimised, implementation

# input channels, expanded channels, spatial size, depthwise stride, batch,
# activation, depthwise bias, whether oneDNN fuses the pair on AVX-512 (True:
# must; False: must not; None: its own choice, which weighs the sizes against
# the cache)
CASES = [
    (16, 96, 112, 2, 1, "Clip", True, True),     # MobileNetV2's first expansion
    (32, 192, 56, 2, 2, "Relu", False, True),
    (16, 64, 28, 2, 3, "Relu", False, None),
    (24, 144, 56, 2, 1, "Clip", True, False),    # 24 channels: not whole blocks
    (24, 144, 56, 1, 1, "Relu", False, False),   # stride 1: oneDNN's reference chain only
    (16, 96, 15, 2, 2, "Relu", True, None),      # odd size
]


def block_model(path, channels, expanded, size, stride, batch, activation, dw_bias, rng):
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [batch, channels, size, size])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    inits, nodes = [], []

    def weights(name, shape, fan_in):
        inits.append(numpy_helper.from_array((rng.standard_normal(shape) / np.sqrt(fan_in)).astype(np.float32), name))

    def bias(name, count):
        inits.append(numpy_helper.from_array((rng.standard_normal(count) * 0.1).astype(np.float32), name))

    def act(source, target):
        if activation == "Clip":
            nodes.append(helper.make_node("Clip", [source, "lo", "hi"], [target]))
        else:
            nodes.append(helper.make_node("Relu", [source], [target]))

    inits.append(numpy_helper.from_array(np.array(0, np.float32), "lo"))
    inits.append(numpy_helper.from_array(np.array(6, np.float32), "hi"))
    weights("w_expand", (expanded, channels, 1, 1), channels)
    bias("b_expand", expanded)
    nodes.append(helper.make_node("Conv", ["x", "w_expand", "b_expand"], ["e"]))
    act("e", "ea")
    weights("w_dw", (expanded, 1, 3, 3), 9)
    dw_inputs = ["ea", "w_dw"]
    if dw_bias:
        bias("b_dw", expanded)
        dw_inputs.append("b_dw")
    nodes.append(helper.make_node("Conv", dw_inputs, ["d"], group=expanded, pads=[1] * 4, strides=[stride] * 2,
                                  kernel_shape=[3, 3]))
    act("d", "da")
    weights("w_project", (channels, expanded, 1, 1), expanded)
    bias("b_project", channels)
    nodes.append(helper.make_node("Conv", ["da", "w_project", "b_project"], ["p"]))
    if stride == 1:
        nodes.append(helper.make_node("Add", ["p", "x"], ["y"]))
    else:
        nodes.append(helper.make_node("Identity", ["p"], ["y"]))
    graph = helper.make_graph(nodes, "inverted_residual", [x], [y], inits)
    save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)


def fused_runs(convolutions):
    """oneDNN's own kernels (not its reference chain) that ran a depthwise post-op."""
    return sum(1 for line in convolutions if "+dw:k3s" in line and implementation(line).startswith("jit"))


def depthwise_runs(convolutions):
    """The standalone depthwise convolutions' primitives, and the channels they covered."""
    groups = [int(re.match(r"g(\d+)", line.split(",")[-2]).group(1)) for line in convolutions
              if re.match(r"g\d+", line.split(",")[-2])]
    return len(groups), sum(groups)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--berth", required=True)
    args = parser.parse_args()
    rng = np.random.default_rng(11)
    avx512 = avx512_kernels(args.berth)
    failed = False
    with tempfile.TemporaryDirectory() as tmp:
        for channels, expanded, size, stride, batch, activation, dw_bias, fuses in CASES:
            model = os.path.join(tmp, "block.onnx")
            block_model(model, channels, expanded, size, stride, batch, activation, dw_bias, rng)
            x = rng.random((batch, channels, size, size), dtype=np.float32)
            optimised, plain, convolutions, plain_convolutions, error = compare_optimised(args.berth, model, x, tmp)
            fused, plain_fused = fused_runs(convolutions), fused_runs(plain_convolutions)
            slices, depthwise_channels = depthwise_runs(convolutions)
            ok = error <= 1e-5 and optimised.shape == plain.shape and len(plain_convolutions) == 3
            ok = ok and plain_fused == 0
            # Fused: one primitive for expansion + depthwise. Otherwise the
            # depthwise convolution runs on its own, over all channels; a large
            # one at batch 1 in one slice of channel blocks per thread.
            ok = ok and fused <= 1 and depthwise_channels == (0 if fused else expanded)
            out_size = (size + 2 - 3) // stride + 1
            if not fused and batch == 1 and expanded * out_size * out_size >= 64 * 1024 and expanded % 16 == 0:
                ok = ok and slices == 2
            if avx512 and fuses is not None:
                ok = ok and fused == (1 if fuses else 0)
            failed |= not ok
            print(f"{'ok' if ok else 'FAIL'}: {channels}->{expanded} channels {size}x{size} stride {stride} "
                  f"batch {batch} {activation}: relative error {error:.2e}, {len(convolutions)} oneDNN "
                  f"convolutions ({fused} fused with the depthwise, depthwise in {slices} slices)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
