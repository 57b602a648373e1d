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
import json
import os
import subprocess
import sys
import tempfile

import numpy as np
from onnx import TensorProto, helper, numpy_helper, save


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


def run(berth, model, x_path, out_dir, optimize):
    """The output, and how many Winograd convolutions oneDNN ran."""
    cmd = [berth, "run", model, "--input", f"x={x_path}", "--output-dir", out_dir, "--threads", "2"]
    if not optimize:
        cmd.append("--no-optimize")
    env = dict(os.environ, ONEDNN_VERBOSE="1")
    log = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env).stdout
    winograd = sum(1 for line in log.splitlines()
                   if line.startswith("onednn_verbose,exec,cpu,convolution,") and "wino" in line)
    return np.load(os.path.join(out_dir, "y.npy")), winograd


def p50(berth, model, optimize):
    cmd = [berth, "bench", model, "--threads", "2", "--warmup", "3", "--iters", "15"]
    if not optimize:
        cmd.append("--no-optimize")
    return json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout)["p50_ms"]


def winograd_machine():
    """Whether oneDNN has Winograd kernels here (its avx512_core ISA)."""
    with open("/proc/cpuinfo") as f:
        flags = next((line.split() for line in f if line.startswith("flags")), [])
    return all(flag in flags for flag in ("avx512f", "avx512bw", "avx512vl", "avx512dq"))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--berth", required=True)
    args = parser.parse_args()
    rng = np.random.default_rng(7)
    failed = False
    has_winograd = winograd_machine()
    with tempfile.TemporaryDirectory() as tmp:
        for channels, size, batch, layers, must_be_faster in CASES:
            model = os.path.join(tmp, f"chain_{channels}_{batch}.onnx")
            chain_model(model, channels, size, batch, layers, rng)
            x_path = os.path.join(tmp, "x.npy")
            np.save(x_path, rng.random((batch, channels, size, size), dtype=np.float32))
            optimised, winograd_runs = run(args.berth, model, x_path, tmp, True)
            plain, plain_winograd_runs = run(args.berth, model, x_path, tmp, False)
            error = float(np.max(np.abs(optimised - plain)) / max(float(np.max(np.abs(plain))), 1e-12))
            fast, slow = p50(args.berth, model, True), p50(args.berth, model, False)
            expected_winograd = layers.count((3, 1)) if has_winograd else 0
            ok = error <= 1e-4 and fast <= 2 * slow and plain_winograd_runs == 0
            ok = ok and winograd_runs == expected_winograd and (fast < slow or not must_be_faster)
            failed |= not ok
            print(f"{'ok' if ok else 'FAIL'}: {channels} channels {size}x{size} batch {batch}: "
                  f"relative error {error:.2e}, Winograd convolutions {winograd_runs} optimised / "
                  f"{plain_winograd_runs} unoptimised, p50 optimised {fast:.3f} ms vs unoptimised {slow:.3f} ms")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
