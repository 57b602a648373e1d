#!/usr/bin/python3
"""berth against llama.cpp (node-llama-cpp's prebuilt library) on GGUF
language models, side by side in one run: for each model file and thread
count, `berth bench MODEL.gguf` and bench/llm/llama_bench.mjs alternate for
--rounds rounds (best of each kept: the machine's noise only ever slows a
run down). Both read a 512-token pseudo-random prompt and then generate 128
tokens greedily, with the thread count fixed.

Reported per row: prompt processing and generation tok/s of both, their
ratios, load time, peak RSS, and generation against the roofline — the
memory read bandwidth that `berth bench --bandwidth` measures with the same
thread count in every round (best kept), divided by the bytes of weights
read per token.

Each model file is dropped from the page cache before its first run, so it
is read from disk as a freshly pulled model would be, not served from the
4 KiB pages its writer left behind (berth asks for 2 MiB pages on its
mapping; both engines then share those cached pages).

  bench/llm/run.py [--berth build/berth] [--shapes llama-1b,qwen-0.5b] [--types F16,Q8_0,Q4_0,Q4_K_M]
                   [--threads 1,2] [--rounds 2]

The models are made by bench/llm/make_models.py (random weights, real
shapes; not committed). Results: bench/results/llm-<time>.json and a
Markdown table on stdout.
"""
import argparse
import datetime
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
MODELS = os.path.join(ROOT, "bench", "models", "llm")


def run_json(command):
    proc = subprocess.run(command, capture_output=True, text=True, timeout=1800)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(command[:3])} failed: {proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def evict_from_page_cache(path):
    fd = os.open(path, os.O_RDONLY)
    try:
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def vocab_size(path):
    sys.path.insert(0, os.path.join(ROOT, "scripts", "llm"))
    from gguf_reader import GGUFReader
    return len(GGUFReader(path).metadata["tokenizer.ggml.tokens"])


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--berth", default=os.path.join(ROOT, "build", "berth"))
    parser.add_argument("--shapes", default="llama-1b,qwen-0.5b")
    parser.add_argument("--types", default="F16,Q8_0,Q4_0,Q4_K_M")
    parser.add_argument("--threads", default="1,2")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--prompt-tokens", type=int, default=512)
    parser.add_argument("--gen-tokens", type=int, default=128)
    args = parser.parse_args()

    subprocess.run([sys.executable, os.path.join(HERE, "make_models.py"), "--out", MODELS, "--shapes", args.shapes,
                    "--types", args.types], check=True)
    rows = []
    for shape in args.shapes.split(","):
        for t in args.types.split(","):
            path = os.path.join(MODELS, f"{shape}-{t}.gguf")
            vocab = vocab_size(path)
            evict_from_page_cache(path)
            for threads in [int(x) for x in args.threads.split(",")]:
                best = {"berth": None, "llama.cpp": None}
                for round_ in range(args.rounds):
                    ours = run_json([args.berth, "bench", path, "--threads", str(threads), "--prompt-tokens",
                                     str(args.prompt_tokens), "--gen-tokens", str(args.gen_tokens), "--bandwidth"])
                    theirs = run_json(["node", os.path.join(HERE, "llama_bench.mjs"), path, str(threads),
                                       str(args.prompt_tokens), str(args.gen_tokens), str(vocab)])
                    for name, result in (("berth", ours), ("llama.cpp", theirs)):
                        kept = best[name]
                        if kept is None:
                            best[name] = dict(result)
                            continue
                        for key in ("pp_tok_s", "tg_tok_s", "read_gb_s", "roofline_tok_s"):
                            if key not in result:
                                continue
                            kept[key] = max(kept[key], result[key])
                        for key in ("load_ms", "peak_rss_mb"):
                            kept[key] = min(kept[key], result[key])
                b, l = best["berth"], best["llama.cpp"]
                row = {"model": f"{shape} {t}", "threads": threads, "berth": b, "llama.cpp": l,
                       "pp_ratio": b["pp_tok_s"] / l["pp_tok_s"], "tg_ratio": b["tg_tok_s"] / l["tg_tok_s"],
                       "roofline_fraction": b["tg_tok_s"] / b["roofline_tok_s"]}
                rows.append(row)
                print(f"{row['model']} t{threads}: pp {b['pp_tok_s']:.1f} vs {l['pp_tok_s']:.1f} "
                      f"({row['pp_ratio']:.2f}x), tg {b['tg_tok_s']:.2f} vs {l['tg_tok_s']:.2f} "
                      f"({row['tg_ratio']:.2f}x), roofline {row['roofline_fraction'] * 100:.0f}%, "
                      f"load {b['load_ms']:.0f} vs {l['load_ms']:.0f} ms, RSS {b['peak_rss_mb']:.0f} vs "
                      f"{l['peak_rss_mb']:.0f} MB", file=sys.stderr, flush=True)
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    os.makedirs(os.path.join(ROOT, "bench", "results"), exist_ok=True)
    out = os.path.join(ROOT, "bench", "results", f"llm-{stamp}.json")
    cpu = ""
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    with open(out, "w") as f:
        json.dump({"cpu": cpu, "cores": os.cpu_count(), "prompt_tokens": args.prompt_tokens,
                   "gen_tokens": args.gen_tokens, "rounds": args.rounds, "rows": rows}, f, indent=1)
    print("| model | threads | pp tok/s berth / llama.cpp | tg tok/s berth / llama.cpp | tg % of roofline "
          "| load ms berth / llama.cpp | peak RSS MB berth / llama.cpp |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for r in rows:
        b, l = r["berth"], r["llama.cpp"]
        print(f"| {r['model']} | {r['threads']} | {b['pp_tok_s']:.1f} / {l['pp_tok_s']:.1f} ({r['pp_ratio']:.2f}x) "
              f"| {b['tg_tok_s']:.2f} / {l['tg_tok_s']:.2f} ({r['tg_ratio']:.2f}x) | {r['roofline_fraction'] * 100:.0f}% "
              f"| {b['load_ms']:.0f} / {l['load_ms']:.0f} | {b['peak_rss_mb']:.0f} / {l['peak_rss_mb']:.0f} |")
    print(f"\n{out}", file=sys.stderr)


if __name__ == "__main__":
    main()
