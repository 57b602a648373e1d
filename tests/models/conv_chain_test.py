#!/usr/bin/python3
"""Fused convolution chains: correct, and at oneDNN's optimised speed.

A chain of convolutions runs in oneDNN's blocked layout. Where the chain
starts from a plain tensor with many channels (a graph input here), the
first convolution reads plain and writes blocked: only oneDNN's reference
kernel takes that combination, about 100x slower, so berth reorders the input
instead. Dense 3x3 stride-1 convolutions run as Winograd convolutions
(F(2x2,3x3) or F(4x4,3x3), by shape and batch), which sum in another order.
Checks, for several shapes and batches, that the optimised graph matches the
unoptimised one (`berth run --no-optimize`, direct convolutions only) on the
whole output, that it is not slower than twice the unoptimised graph's time
(`berth bench`), and, from oneDNN's verbose log, that the chains of 3x3
convolutions did run Winograd kernels and the unoptimised graph did not;
where Winograd does most of the work, the optimised graph must be faster.
oneDNN's Winograd kernels need AVX-512; elsewhere none may run.

  conv_chain_test.py --berth BIN
"""
import argparse
import os
import sys
import tempfile

import numpy as np
from onnx import TensorProto, helper, numpy_helper, save

from berth_runs import avx512_machine, compare_optimised, p50


# (kernel, stride) per layer
MIXED = [(3, 1), (1, 2), (3, 1)]
WINOGRAD = [(3, 1), (3, 1), (3, 1)]
# channels, spatial size, batch, layers, whether the optimised graph must be
# faster (Winograd on most of its work)
CASES = [
    (16, 20, 1, MIXED, False),
    (32, 28, 1, MIXED, False),
    (64, 14, 1, MIXED, False),
    (64, 56, 1, WINOGRAD, True),
    (128, 28, 1, WINOGRAD, True),
    (256, 14, 8, WINOGRAD, True),
    (512, 7, 8, WINOGRAD, True),
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
    has_winograd = avx512_machine()  # oneDNN's Winograd kernels are avx512_core ones
    with tempfile.TemporaryDirectory() as tmp:
        for channels, size, batch, layers, must_be_faster in CASES:
            model = os.path.join(tmp, f"chain_{channels}_{batch}.onnx")
            chain_model(model, channels, size, batch, layers, rng)
            x = rng.random((batch, channels, size, size), dtype=np.float32)
            _, _, convolutions, plain_convolutions, error = compare_optimised(args.berth, model, x, tmp)
            winograd, plain_winograd = winograd_runs(convolutions), winograd_runs(plain_convolutions)
            fast, slow = p50(args.berth, model, True, 3, 15), p50(args.berth, model, False, 3, 15)
            expected_winograd = layers.count((3, 1)) if has_winograd else 0
            ok = error <= 1e-4 and fast <= 2 * slow and plain_winograd == 0
            ok = ok and winograd == expected_winograd and (fast < slow or not must_be_faster)
            failed |= not ok
            print(f"{'ok' if ok else 'FAIL'}: {channels} channels {size}x{size} batch {batch}: "
                  f"relative error {error:.2e}, Winograd convolutions {winograd} optimised / "
                  f"{plain_winograd} unoptimised, p50 optimised {fast:.3f} ms vs unoptimised {slow:.3f} ms")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
