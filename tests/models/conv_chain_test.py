#!/usr/bin/python3
"""Fused convolutions on plain inputs: correct, and at oneDNN's optimised speed.

A chain of convolutions runs in oneDNN's blocked layout. Where the chain
starts from a plain tensor with many channels (a graph input here), the
first convolution reads plain and writes blocked: only oneDNN's reference
kernel takes that combination, about 100x slower, so berth reorders the input
instead. Checks, for several shapes, that the optimised graph matches the
unoptimised one (`berth run --no-optimize`) and is not slower than twice the
unoptimised graph's time (`berth bench`).

  conv_chain_test.py --berth BIN
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

import numpy as np
from onnx import TensorProto, helper, numpy_helper, save


def chain_model(path, channels, size, rng):
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, channels, size, size])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    inits, nodes, last = [], [], "x"
    for i, (kernel, stride) in enumerate([(3, 1), (1, 2), (3, 1)]):
        w = (rng.standard_normal((channels, channels, kernel, kernel)) / np.sqrt(channels * kernel * kernel))
        inits.append(numpy_helper.from_array(w.astype(np.float32), f"w{i}"))
        inits.append(numpy_helper.from_array(rng.standard_normal(channels).astype(np.float32) * 0.1, f"b{i}"))
        pad = kernel // 2
        nodes.append(helper.make_node("Conv", [last, f"w{i}", f"b{i}"], [f"c{i}"], pads=[pad] * 4,
                                      strides=[stride, stride]))
        nodes.append(helper.make_node("Relu", [f"c{i}"], [f"r{i}"]))
        last = f"r{i}"
    nodes.append(helper.make_node("GlobalAveragePool", [last], ["y"]))
    graph = helper.make_graph(nodes, "chain", [x], [y], inits)
    save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)


def run(berth, model, x_path, out_dir, optimize):
    cmd = [berth, "run", model, "--input", f"x={x_path}", "--output-dir", out_dir, "--threads", "2"]
    if not optimize:
        cmd.append("--no-optimize")
    subprocess.run(cmd, check=True, capture_output=True)
    return np.load(os.path.join(out_dir, "y.npy"))


def p50(berth, model, optimize):
    cmd = [berth, "bench", model, "--threads", "2", "--warmup", "3", "--iters", "15"]
    if not optimize:
        cmd.append("--no-optimize")
    return json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout)["p50_ms"]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--berth", required=True)
    args = parser.parse_args()
    rng = np.random.default_rng(7)
    failed = False
    with tempfile.TemporaryDirectory() as tmp:
        for channels, size in [(16, 20), (32, 28), (64, 14)]:
            model = os.path.join(tmp, f"chain_{channels}.onnx")
            chain_model(model, channels, size, rng)
            x_path = os.path.join(tmp, "x.npy")
            np.save(x_path, rng.random((1, channels, size, size), dtype=np.float32))
            optimised = run(args.berth, model, x_path, tmp, True)
            plain = run(args.berth, model, x_path, tmp, False)
            error = float(np.max(np.abs(optimised - plain)) / max(float(np.max(np.abs(plain))), 1e-12))
            fast, slow = p50(args.berth, model, True), p50(args.berth, model, False)
            ok = error <= 1e-4 and fast <= 2 * slow
            failed |= not ok
            print(f"{'ok' if ok else 'FAIL'}: {channels} channels {size}x{size}: relative error {error:.2e}, "
                  f"p50 optimised {fast:.3f} ms vs unoptimised {slow:.3f} ms")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
