"""Running berth on a model from the model tests: one run with oneDNN's
verbose log, the optimised graph against the unoptimised one on an input,
and whether oneDNN dispatches to its avx512_core kernels here (the CPU has
them and BERTH_MAX_CPU_ISA / ONEDNN_MAX_CPU_ISA do not lower it)."""
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


def implementation(verbose_line):
    """The kernel a oneDNN verbose `exec` line names: jit:avx512_core, ref:any, ..."""
    return verbose_line.split(",")[4]


def avx512_kernels(berth):
    """Whether oneDNN runs its avx512_core kernels in this environment."""
    out = subprocess.run([berth, "doctor", "--json"], capture_output=True, text=True, timeout=60).stdout
    return json.loads(out)["cpu"]["onednn_isa"].startswith("avx512_core")
