#!/usr/bin/python3
"""`berth run --profile` and `berth bench --profile`: time per op type, and
the activation reorders between oneDNN's blocked and plain layouts each op
type ran.

A chain of two 3x3 convolutions, ReLU, max pooling and Flatten on a 32-channel
input. Unoptimised, each convolution reorders its plain input into oneDNN's
blocked layout and its output back (4 reorders of 32x28x28 floats); optimised,
the chain stays blocked, so only its ends reorder.

  profile_test.py --berth BIN
"""
import argparse
import json
import subprocess
import sys
import tempfile

import numpy as np
from onnx import TensorProto, helper, numpy_helper, save


def model(path):
    rng = np.random.default_rng(3)
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 32, 28, 28])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    inits = [numpy_helper.from_array((rng.standard_normal((32, 32, 3, 3)) * 0.05).astype(np.float32), f"w{i}")
             for i in range(2)]
    nodes = [helper.make_node("Conv", ["x", "w0"], ["c0"], pads=[1] * 4), helper.make_node("Relu", ["c0"], ["r0"]),
             helper.make_node("Conv", ["r0", "w1"], ["c1"], pads=[1] * 4), helper.make_node("Relu", ["c1"], ["r1"]),
             helper.make_node("MaxPool", ["r1"], ["p"], kernel_shape=[2, 2], strides=[2, 2]),
             helper.make_node("Flatten", ["p"], ["y"])]
    save(helper.make_model(helper.make_graph(nodes, "chain", [x], [y], inits),
                           opset_imports=[helper.make_opsetid("", 17)]), path)


def table(text):
    """op -> (count, ms, us per call, reorders, reorder KB) from a profile table."""
    rows, started = {}, False
    for line in text.splitlines():
        fields = line.split()
        if fields and fields[0] == "op":  # the header: "op" or "op (per run)"
            started = True
            continue
        if started and len(fields) == 6:
            rows[fields[0]] = tuple(float(v) for v in fields[1:])
    return rows


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--berth", required=True)
    args = parser.parse_args()
    checks = []
    with tempfile.TemporaryDirectory() as tmp:
        path = f"{tmp}/chain.onnx"
        model(path)
        run = lambda *extra: subprocess.run([args.berth, "run", path, "--threads", "2", "--profile", *extra],
                                            check=True, capture_output=True, text=True).stdout
        plain, fused = table(run("--no-optimize")), table(run())
        tensor_kb = 32 * 28 * 28 * 4 / 1024
        checks.append(("unoptimised op types", set(plain) == {"Conv", "Relu", "MaxPool", "Flatten"}))
        checks.append(("unoptimised Conv count 2, 4 reorders of the activations",
                       plain["Conv"][0] == 2 and plain["Conv"][3] == 4 and abs(plain["Conv"][4] - 4 * tensor_kb) < 1))
        checks.append(("no other unoptimised reorders", all(plain[op][3] == 0 for op in plain if op != "Conv")))
        checks.append(("optimised op types", set(fused) == {"berth.FusedConv", "MaxPool", "Flatten"}))
        fused_reorders = sum(row[3] for row in fused.values())
        checks.append(("optimised chain reorders only at its ends", 1 <= fused_reorders <= 2))
        bench = subprocess.run([args.berth, "bench", path, "--threads", "2", "--warmup", "2", "--iters", "5",
                                "--profile"], check=True, capture_output=True, text=True)
        per_run = table(bench.stderr)
        checks.append(("bench: JSON on stdout", "p50_ms" in json.loads(bench.stdout)))
        checks.append(("bench: figures per timed run",
                       per_run.get("berth.FusedConv", (0,))[0] == 2 and
                       sum(row[3] for row in per_run.values()) == fused_reorders))
    failed = False
    for name, ok in checks:
        print(f"{'ok' if ok else 'FAIL'}: {name}")
        failed |= not ok
    if failed:
        print("unoptimised:", plain, "\noptimised:", fused, "\nbench:", per_run)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
