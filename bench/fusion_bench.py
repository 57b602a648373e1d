#!/usr/bin/python3
"""`make bench-fusions`: the optimiser's convolution fusions against the
unoptimised graph, timed side by side in one run.

  bench/fusion_bench.py [--berth build/berth] [--rounds 3] [--warmup 5] [--iters 30]

Runs the cases of tests/models/conv_chain_test.py (chains of 3x3 and 1x1
convolutions; Winograd where oneDNN has it) and
tests/models/depthwise_fusion_test.py (MobileNet blocks whose depthwise
convolution folds into the 1x1 before it) with `berth bench` optimised and
with --no-optimize, taking turns `--rounds` times; each side's best p50
counts. Those tests check the results and which kernels ran; this checks the
speed those choices are for. Targets: optimised/unoptimised p50 < 1.0 where
Winograd does most of the work (chains of 3x3 convolutions, AVX-512 only) and
where oneDNN fused the 1x1 with the depthwise convolution; <= 2.0 elsewhere
(the optimised graph never loses badly). Writes
bench/results/fusions-<date>-<commit>.json and prints a markdown table.
"""
import argparse
import datetime
import json
import os
import subprocess
import sys
import tempfile

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "models"))

import conv_chain_test  # noqa: E402
import depthwise_fusion_test  # noqa: E402
from berth_runs import avx512_kernels, compare_optimised  # noqa: E402


def p50(berth, model, optimize, warmup, iters, threads):
    cmd = [berth, "bench", model, "--threads", str(threads), "--warmup", str(warmup), "--iters", str(iters)]
    if not optimize:
        cmd.append("--no-optimize")
    return json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout)["p50_ms"]


def cases(berth, tmp, avx512):
    """(label, model path, target ratio) for every case of both tests."""
    rng = np.random.default_rng(7)
    for channels, size, batch, layers in conv_chain_test.CASES:
        model = os.path.join(tmp, f"chain_{channels}_{size}_{batch}.onnx")
        conv_chain_test.chain_model(model, channels, size, batch, layers, rng)
        winograd = avx512 and all(layer == (3, 1) for layer in layers)
        yield f"chain {channels}ch {size}x{size} b{batch} {'3x3' if winograd else 'mixed'}", model, (
            1.0 if winograd else 2.0)
    rng = np.random.default_rng(11)
    for index, (channels, expanded, size, stride, batch, activation, dw_bias, _) in enumerate(
            depthwise_fusion_test.CASES):
        model = os.path.join(tmp, f"block_{index}.onnx")
        depthwise_fusion_test.block_model(model, channels, expanded, size, stride, batch, activation, dw_bias, rng)
        x = rng.random((batch, channels, size, size), dtype=np.float32)
        _, _, convolutions, _, _ = compare_optimised(berth, model, x, tmp)
        fused = depthwise_fusion_test.fused_runs(convolutions) > 0
        yield (f"block {channels}->{expanded}ch {size}x{size} s{stride} b{batch}{' fused' if fused else ''}", model,
               1.0 if fused else 2.0)


def commit():
    try:
        return subprocess.run(["git", "-C", ROOT, "rev-parse", "--short=12", "HEAD"], capture_output=True,
                              text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--berth", default=os.path.join(ROOT, "build", "berth"))
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--iters", type=int, default=30)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    berth = os.path.abspath(args.berth)
    avx512 = avx512_kernels(berth)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for label, model, target in cases(berth, tmp, avx512):
            fast, slow = [], []
            for _ in range(args.rounds):
                fast.append(p50(berth, model, True, args.warmup, args.iters, args.threads))
                slow.append(p50(berth, model, False, args.warmup, args.iters, args.threads))
            ratio = min(fast) / min(slow)
            rows.append({"case": label, "optimised_p50_ms": min(fast), "unoptimised_p50_ms": min(slow),
                         "ratio": ratio, "target": target, "met": ratio < target if target == 1.0 else
                         ratio <= target})
    print("| case | optimised p50 ms | unoptimised p50 ms | ratio | target | met |")
    print("| --- | ---: | ---: | ---: | ---: | --- |")
    for row in rows:
        print(f"| {row['case']} | {row['optimised_p50_ms']:.3f} | {row['unoptimised_p50_ms']:.3f} | "
              f"{row['ratio']:.2f} | {'<' if row['target'] == 1.0 else '<='} {row['target']} | "
              f"{'yes' if row['met'] else 'NO'} |")
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    path = os.path.join(ROOT, "bench", "results", f"fusions-{stamp}-{commit()}.json")
    with open(path, "w") as f:
        json.dump({"commit": commit(), "avx512_kernels": avx512, "rounds": args.rounds, "iters": args.iters,
                   "threads": args.threads, "cases": rows}, f, indent=1)
    print(f"wrote {os.path.relpath(path, ROOT)}")
    return 0 if all(row["met"] for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
