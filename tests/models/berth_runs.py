"""Running berth on a model from the model tests: one run with oneDNN's
verbose log, the optimised graph against the unoptimised one on an input,
the p50 of a short bench, and whether the CPU has the AVX-512 subset oneDNN's
avx512_core kernels need."""
import json
import os
import subprocess

import numpy as np


def run_verbose(berth, model, x_path, out_dir, optimize):
    """Output y of `berth run` on input x, and oneDNN's convolution executions."""
    cmd = [berth, "run", model, "--input", f"x={x_path}", "--output-dir", out_dir, "--threads", "2"]
    if not optimize:
        cmd.append("--no-optimize")
    env = dict(os.environ, ONEDNN_VERBOSE="1")
    log = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env).stdout
    convolutions = [line for line in log.splitlines() if line.startswith("onednn_verbose,exec,cpu,convolution,")]
    return np.load(os.path.join(out_dir, "y.npy")), convolutions


def compare_optimised(berth, model, x, tmp):
    """Runs `model` on input x optimised and with --no-optimize. Returns both
    outputs, both runs' oneDNN convolution executions, and the largest
    difference relative to the unoptimised output's largest magnitude."""
    x_path = os.path.join(tmp, "x.npy")
    np.save(x_path, x)
    optimised, convolutions = run_verbose(berth, model, x_path, tmp, True)
    plain, plain_convolutions = run_verbose(berth, model, x_path, tmp, False)
    error = float(np.max(np.abs(optimised - plain)) / max(float(np.max(np.abs(plain))), 1e-12))
    return optimised, plain, convolutions, plain_convolutions, error


def p50(berth, model, optimize, warmup, iters):
    cmd = [berth, "bench", model, "--threads", "2", "--warmup", str(warmup), "--iters", str(iters)]
    if not optimize:
        cmd.append("--no-optimize")
    return json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout)["p50_ms"]


def avx512_machine():
    with open("/proc/cpuinfo") as f:
        flags = next((line.split() for line in f if line.startswith("flags")), [])
    return all(flag in flags for flag in ("avx512f", "avx512bw", "avx512vl", "avx512dq"))
