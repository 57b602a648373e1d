#!/usr/bin/python3
"""`make bench`: berth against ONNX Runtime 1.30 and PyTorch eager, side by
side in one run on this machine.

  bench/run.py [--berth build/berth] [--models resnet50,mobilenet_v2,bert,mlp]
               [--batches 1,8] [--threads 2] [--warmup 10] [--iters 50]
               [--rounds 2] [--engines berth,ort,torch]

For every model and batch it runs each engine in a fresh process (so load
time and peak RSS are the model's own): `berth bench`, bench/ort_bench.js on
onnxruntime-node (bench/node_modules) and bench/torch_bench.py, with the same
intra-op threads and one inter-op thread. The engines take turns, `--rounds`
times, and each engine's best round counts (the same rule for all: it
filters out rounds a noisy neighbour slowed down). Writes
bench/results/<date>-<commit>.json and prints a markdown table with the
ratios berth/ORT and berth/PyTorch, plus whether each of the targets holds:
p50 berth/ORT <= 1.0 (MLP: 1.2 at batch 1), load and peak RSS berth/ORT <= 1.0.
"""
import argparse
import datetime
import json
import os
import platform
import subprocess
import sys

import onnx

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BENCH = os.path.join(ROOT, "bench")
ONNX_DTYPES = {onnx.TensorProto.FLOAT: "float32", onnx.TensorProto.INT64: "int64", onnx.TensorProto.INT32: "int32"}


def input_shapes(model_path, batch):
    """berth bench's rule: a symbolic first dim is the batch, other symbolic dims 1.
    Reads only the graph's inputs (the file is parsed in full, so the caller
    keeps this process small by asking a child: see shapes_of)."""
    model = onnx.load(model_path, load_external_data=False)
    initializers = {i.name for i in model.graph.initializer}
    shapes = {}
    for value in model.graph.input:
        if value.name in initializers:
            continue
        tensor = value.type.tensor_type
        dims = []
        for index, dim in enumerate(tensor.shape.dim):
            if dim.HasField("dim_value"):
                dims.append(dim.dim_value)
            else:
                dims.append(batch if index == 0 else 1)
        shapes[value.name] = [ONNX_DTYPES[tensor.elem_type], dims]
    return shapes


def shapes_of(model_path, batch):
    """input_shapes in a child process: the driver never holds a model."""
    code = ("import json, sys; sys.path.insert(0, %r); import run; "
            "print(json.dumps(run.input_shapes(sys.argv[1], int(sys.argv[2]))))" % BENCH)
    return run_json(["/usr/bin/python3", "-c", code, model_path, str(batch)], timeout=600)


def run_json(command, timeout):
    result = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(command[:3])}...: exit {result.returncode}: {result.stderr.strip()[-500:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def measure(engine, args, name, model_path, batch, shapes):
    common = [str(args.threads), str(args.warmup), str(args.iters)]
    if engine == "berth":
        command = [args.berth, "bench", model_path, "--batch", str(batch), "--threads", str(args.threads),
                   "--warmup", str(args.warmup), "--iters", str(args.iters)]
    elif engine == "ort":
        command = ["node", os.path.join(BENCH, "ort_bench.js"), model_path, json.dumps(shapes)] + common
    else:
        command = ["/usr/bin/python3", os.path.join(BENCH, "torch_bench.py"), name, json.dumps(shapes)] + common
    row = run_json(command, timeout=1800)
    return {key: row[key] for key in ("load_ms", "first_run_ms", "p50_ms", "p90_ms", "min_ms", "peak_rss_mb")}


def best(rounds):
    """Per metric, the best round: lowest time, lowest RSS."""
    return {key: min(r[key] for r in rounds) for key in rounds[0]}


def cpu_description():
    model, flags = platform.processor(), set()  # /proc/cpuinfo's model name wins
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                elif line.startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
    except OSError:
        pass
    wanted = ["avx2", "fma", "avx512f", "avx512bw", "avx512_vnni", "avx512_bf16", "amx_tile", "amx_bf16", "amx_int8"]
    return model, [f for f in wanted if f in flags], os.cpu_count()


def git_revision():
    result = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    revision = result.stdout.strip() or "unknown"
    dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT, capture_output=True,
                           text=True).stdout.strip()
    return revision + ("-dirty" if dirty else "")


def ratio(a, b):
    return a / b if b else float("nan")


def table(results, engines):
    lines = ["| model | batch | engine | load ms | first run ms | p50 ms | p90 ms | min ms | peak RSS MB |",
             "| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for r in results:
        for engine in engines:
            m = r.get(engine)
            if not m:
                continue
            lines.append(f"| {r['model']} | {r['batch']} | {engine} | {m['load_ms']:.0f} | {m['first_run_ms']:.1f} | "
                         f"{m['p50_ms']:.3f} | {m['p90_ms']:.3f} | {m['min_ms']:.3f} | {m['peak_rss_mb']:.0f} |")
    lines += ["", "| model | batch | p50 berth/ORT | load berth/ORT | RSS berth/ORT | p50 berth/PyTorch |",
              "| --- | ---: | ---: | ---: | ---: | ---: |"]
    for r in results:
        b, o, t = r.get("berth"), r.get("ort"), r.get("torch")
        if not b:
            continue
        cells = [f"{ratio(b[k], o[k]):.2f}" if o else "-" for k in ("p50_ms", "load_ms", "peak_rss_mb")]
        cells.append(f"{ratio(b['p50_ms'], t['p50_ms']):.2f}" if t else "-")
        lines.append(f"| {r['model']} | {r['batch']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def check_targets(results):
    """The targets of the speed work; returns (name, ratio, limit, ok) rows."""
    rows = []
    for r in results:
        b, o = r.get("berth"), r.get("ort")
        if not b or not o:
            continue
        limit = 1.2 if r["model"] == "mlp" else 1.0
        if r["model"] != "mlp" or r["batch"] == 1:
            rows.append((f"{r['model']} b{r['batch']} p50", ratio(b["p50_ms"], o["p50_ms"]), limit))
        rows.append((f"{r['model']} b{r['batch']} load", ratio(b["load_ms"], o["load_ms"]), 1.0))
        rows.append((f"{r['model']} b{r['batch']} peak RSS", ratio(b["peak_rss_mb"], o["peak_rss_mb"]), 1.0))
    return [(name, value, limit, value <= limit) for name, value, limit in rows]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--berth", default=os.path.join(ROOT, "build", "berth"))
    parser.add_argument("--models-dir", default=os.path.join(BENCH, "models"))
    parser.add_argument("--models", default="resnet50,mobilenet_v2,bert,mlp")
    parser.add_argument("--batches", default="1,8")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--iters", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--engines", default="berth,ort,torch")
    parser.add_argument("--out", default=None, help="result JSON (default bench/results/<date>-<commit>.json)")
    args = parser.parse_args()
    if args.warmup < 10 or args.iters < 50:
        print("bench: note: fewer than 10 warm-up or 50 timed runs; not a result to publish", file=sys.stderr)
    engines = args.engines.split(",")
    if "ort" in engines and not os.path.isdir(os.path.join(BENCH, "node_modules", "onnxruntime-node")):
        sys.exit("bench: onnxruntime-node is missing: npm install --prefix bench --ignore-scripts (make bench does)")

    revision = git_revision()  # of the tree being measured, before anything runs
    names = args.models.split(",")
    subprocess.run(["/usr/bin/python3", os.path.join(ROOT, "scripts", "make_models.py"), "--out", args.models_dir,
                    "--models", ",".join(names)], check=True, stdout=subprocess.DEVNULL)
    results = []
    for name in names:
        path = os.path.join(args.models_dir, name, "model.onnx")
        for batch in [int(b) for b in args.batches.split(",")]:
            shapes = shapes_of(path, batch)
            rounds = {engine: [] for engine in engines}
            for round_index in range(args.rounds):
                for engine in engines:
                    print(f"bench: {name} batch {batch} {engine} (round {round_index + 1}/{args.rounds})",
                          file=sys.stderr, flush=True)
                    rounds[engine].append(measure(engine, args, name, path, batch, shapes))
            row = {"model": name, "batch": batch, "shapes": shapes}
            row.update({engine: best(rounds[engine]) for engine in engines})
            row["rounds"] = rounds
            results.append(row)

    cpu_model, cpu_flags, cores = cpu_description()
    now = datetime.datetime.now(datetime.timezone.utc)
    report = {
        "date": now.isoformat(timespec="seconds"),
        "revision": revision,
        "machine": {"cpu": cpu_model, "flags": cpu_flags, "cores": cores},
        "settings": {"threads": args.threads, "inter_op_threads": 1, "warmup": args.warmup, "iters": args.iters,
                     "rounds": args.rounds, "ort": "onnxruntime-node 1.30.0", "torch": _torch_version()},
        "results": results,
        "targets": [{"name": n, "ratio": v, "limit": l, "ok": ok} for n, v, l, ok in check_targets(results)],
    }
    out = args.out or os.path.join(BENCH, "results", f"{now:%Y%m%d-%H%M%S}-{revision}.json")
    os.makedirs(os.path.dirname(out), exist_ok=True)
    with open(out, "w") as f:
        json.dump(report, f, indent=1)
    print(f"\nCPU: {cpu_model} ({cores} cores; {' '.join(cpu_flags)}), {args.threads} intra-op threads, "
          f"revision {revision}\n")
    print(table(results, engines))
    print("\ntargets:")
    for name, value, limit, ok in check_targets(results):
        print(f"  {'ok  ' if ok else 'MISS'} {name}: {value:.2f} (limit {limit})")
    print(f"\nwrote {os.path.relpath(out, ROOT)}")


def _torch_version():
    result = subprocess.run(["/usr/bin/python3", "-c", "import torch; print(torch.__version__)"], capture_output=True,
                            text=True)
    return result.stdout.strip()


if __name__ == "__main__":
    main()
