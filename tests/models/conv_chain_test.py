#!/usr/bin/python3
"""Fused convolution chains: correct, and on oneDNN's optimised kernels.

A chain of convolutions runs in oneDNN's blocked layout. Where the chain
starts from a plain tensor with many channels (a graph input here), the
first convolution reads plain and writes blocked: only oneDNN's reference
kernel takes that combination, about 100x slower, so berth reorders the input
instead. Dense 3x3 stride-1 convolutions run as Winograd convolutions
(F(2x2,3x3) or F(4x4,3x3), by shape and batch), which sum in another order.
Checks, for several shapes and batches, that the optimised graph matches the
unoptimised one (`berth run --no-optimize`, direct convolutions only) on the
whole output and, from oneDNN's verbose log, that no optimised convolution
ran oneDNN's reference kernel, that the chains of 3x3 convolutions did run
Winograd kernels and that the unoptimised graph did not. oneDNN's Winograd
kernels need AVX-512; elsewhere (or under BERTH_MAX_CPU_ISA=avx2) none may
run. Timings are not compared here: bench/fusion_bench.py does that.

  conv_chain_test.py --berth BIN
"""
import argparse
import os
import sys
import tempfile

import numpy as np
from onnx import TensorProto, helper, numpy_helper, save

from berth_runs import avx512_kernels, compare_optimised, implementation


# (kernel, stride) per layer
MIXED = [(3, 1), (1, 2), (3, 1)]
WINOGRAD = [(3, 1), (3, 1), (3, 1)]
# channels, spatial size, batch, layers
CASES = [
    (16, 20, 1, MIXED),
    (32, 28, 1, MIXED),
    (64, 14, 1, MIXED),
    (64, 56, 1, WINOGRAD),
    (128, 28, 1, WINOGRAD),
    (256, 14, 8, WINOGRAD),
    (512, 7, 8, WINOGRAD),
]


def chain_model(path, channels, size, batch, layers, rng):
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [batch, channels, size, size])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    inits, nodes, last = [], [], "x"
    for i, (kernel, stride) in enumerate(layers):
        w = (rng.standard_normal((channels, channels, kernel, kernel)) / np.sqrt(channels * kernel * kernel))
        inits.append(numpy_helper.from_array(w.astype(np.float32), f"w{i}"))
        inits.append(numpy_helper.from_array(rng.standard_normal(channels).astype(np.float32) * 0.1, f"b{i}"))
        pad = kernel // 2
        nodes.append(helper.make_node("Conv", [last, f"w{i}", f"b{i}"], [f"c{i}"], pads=[pad] * 4,
                                      strides=[stride, stride]))
        nodes.append(helper.make_node("Relu", [f"c{i}"], [f"r{i}"]))
        last = f"r{i}"
    nodes.append(helper.make_node("Identity", [last], ["y"]))
    graph = helper.make_graph(nodes, "chain", [x], [y], inits)
    save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)


def winograd_runs(convolutions):
    return sum(1 for line in convolutions if "wino" in line)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--berth", required=True)
    args = parser.parse_args()
    rng = np.random.default_rng(7)
    failed = False
    has_winograd = avx512_kernels(args.berth)  # oneDNN's Winograd kernels are avx512_core ones
    with tempfile.TemporaryDirectory() as tmp:
        for channels, size, batch, layers in CASES:
            model = os.path.join(tmp, f"chain_{channels}_{batch}.onnx")
            chain_model(model, channels, size, batch, layers, rng)
            x = rng.random((batch, channels, size, size), dtype=np.float32)
            _, _, convolutions, plain_convolutions, error = compare_optimised(args.berth, model, x, tmp)
            winograd, plain_winograd = winograd_runs(convolutions), winograd_runs(plain_convolutions)
            reference = [implementation(line) for line in convolutions if implementation(line).startswith("ref")]
            expected_winograd = layers.count((3, 1)) if has_winograd else 0
            ok = error <= 1e-4 and plain_winograd == 0 and winograd == expected_winograd and not reference
            ok = ok and len(convolutions) == len(layers) and len(plain_convolutions) == len(layers)
            failed |= not ok
            print(f"{'ok' if ok else 'FAIL'}: {channels} channels {size}x{size} batch {batch}: "
                  f"relative error {error:.2e}, {len(convolutions)} convolutions, Winograd {winograd} optimised "
                  f"(expected {expected_winograd}) / {plain_winograd} unoptimised, reference kernels "
                  f"{reference or 'none'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
