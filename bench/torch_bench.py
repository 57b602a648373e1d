#!/usr/bin/python3
"""PyTorch eager side of `make bench`: the model berth and ONNX Runtime run,
as the nn.Module it was exported from (scripts/make_models.py), in eager mode.

  torch_bench.py NAME SHAPES_JSON THREADS WARMUP ITERS

Prints one JSON line like berth bench's. load_ms is building the module and
its weights (there is no file to read); inputs follow berth bench's rule.
"""
import json
import os
import resource
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "scripts"))
import make_models  # noqa: E402


def peak_rss_mb():
    """VmHWM: this process's own peak (ru_maxrss carries the parent's across execve)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def percentile(ordered, q):
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main():
    name, shapes_json, threads, warmup, iters = sys.argv[1:6]
    threads, warmup, iters = int(threads), int(warmup), int(iters)
    torch.set_num_threads(threads)
    # Flush denormals to zero, as oneDNN and ONNX Runtime do: random token ids
    # in the attention mask otherwise push eager PyTorch into denormal
    # arithmetic, tens of times slower, which would measure nothing useful.
    torch.set_flush_denormal(True)
    torch.set_num_interop_threads(1)
    start = time.perf_counter()
    model, _, _ = make_models.build(name)
    load_ms = (time.perf_counter() - start) * 1000
    inputs = []
    for dtype, shape in json.loads(shapes_json).values():
        if dtype == "float32":
            inputs.append(torch.rand(shape, dtype=torch.float32))
        else:
            inputs.append(torch.randint(0, 1000, shape, dtype=getattr(torch, dtype)))
    with torch.inference_mode():
        start = time.perf_counter()
        model(*inputs)
        first_run_ms = (time.perf_counter() - start) * 1000
        for _ in range(warmup):
            model(*inputs)
        times = []
        for _ in range(iters):
            start = time.perf_counter()
            model(*inputs)
            times.append((time.perf_counter() - start) * 1000)
    times.sort()
    print(json.dumps({"load_ms": load_ms, "first_run_ms": first_run_ms, "p50_ms": percentile(times, 0.5),
                      "p90_ms": percentile(times, 0.9), "min_ms": times[0],
                      "peak_rss_mb": peak_rss_mb()}))


if __name__ == "__main__":
    main()
