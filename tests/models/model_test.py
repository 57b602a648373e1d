#!/usr/bin/python3
"""Runs an exported PyTorch model with `berth run` and compares with PyTorch.

  model_test.py --berth BIN --models-dir DIR --model NAME [--batch 1] [--rtol 1e-3]

Exports the model first when DIR lacks it (scripts/make_models.py). Passes
when every output matches: max |berth - torch| <= rtol * max |torch|.
"""
import argparse
import glob
import os
import subprocess
import sys
import tempfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "scripts"))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--berth", required=True)
    parser.add_argument("--models-dir", required=True)
    parser.add_argument("--model", required=True)
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--rtol", type=float, default=1e-3)
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--extra", nargs="*", default=[], help="extra arguments for berth run")
    args = parser.parse_args()

    import make_models  # noqa: E402  (needs torch; imported late so --help works without it)
    model_path = make_models.export(args.model, args.models_dir, [args.batch])
    data_dir = os.path.join(args.models_dir, args.model, f"b{args.batch}")
    inputs = sorted(p for p in glob.glob(os.path.join(data_dir, "*.npy")) if not os.path.basename(p).startswith("expected_"))
    with tempfile.TemporaryDirectory() as out_dir:
        cmd = [args.berth, "run", model_path, "--output-dir", out_dir]
        for path in inputs:
            cmd += ["--input", f"{os.path.basename(path)[:-4]}={path}"]
        if args.threads:
            cmd += ["--threads", str(args.threads)]
        cmd += args.extra
        print(" ".join(cmd), flush=True)
        run = subprocess.run(cmd, capture_output=True, text=True)
        sys.stdout.write(run.stdout)
        if run.returncode != 0:
            sys.stderr.write(run.stderr)
            print(f"FAIL: berth run exited {run.returncode}")
            return 1
        failed = False
        for expected_path in sorted(glob.glob(os.path.join(data_dir, "expected_*.npy"))):
            name = os.path.basename(expected_path)[len("expected_"):-4]
            expected = np.load(expected_path)
            actual_path = os.path.join(out_dir, f"{name}.npy")
            if not os.path.exists(actual_path):
                print(f"FAIL: berth wrote no output '{name}'")
                failed = True
                continue
            actual = np.load(actual_path)
            if actual.shape != expected.shape:
                print(f"FAIL: {name}: shape {actual.shape}, expected {expected.shape}")
                failed = True
                continue
            scale = float(np.max(np.abs(expected))) or 1.0
            max_error = float(np.max(np.abs(actual.astype(np.float64) - expected.astype(np.float64))))
            relative = max_error / scale
            ok = np.isfinite(actual).all() and relative <= args.rtol
            print(f"{'ok' if ok else 'FAIL'}: {args.model} b{args.batch} {name}: max abs error {max_error:.3g}, "
                  f"relative to max |expected| {scale:.3g}: {relative:.3g} (limit {args.rtol})")
            failed |= not ok
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
