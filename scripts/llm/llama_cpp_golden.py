#!/usr/bin/python3
"""llama.cpp's logits and greedy tokens for a committed test model, saved
next to it as MODEL.llama-cpp.npz (tokens int32 [n], logits float32
[n, vocab], generated int32 [m]) for tests/llm/gguf_tools_test.py and the
engine's tests. Needs node and node-llama-cpp (scripts/install-llama-ref.sh):

  scripts/llm/llama_cpp_golden.py MODEL.gguf "PROMPT" [--generate 40] [--node-modules DIR]
"""
import argparse
import json
import os
import subprocess

import numpy as np

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("model")
    p.add_argument("prompt")
    p.add_argument("--generate", type=int, default=40)
    p.add_argument("--node-modules", default=os.path.join(ROOT, "tests", "llm", "ref", "node_modules"))
    args = p.parse_args()
    run = subprocess.run(["node", os.path.join(ROOT, "tests", "llm", "llama_cpp_logits.mjs"), "--model", args.model,
                          "--prompt", args.prompt, "--logits", "--generate", str(args.generate),
                          "--node-modules", args.node_modules], check=True, capture_output=True, text=True)
    out = json.loads(run.stdout)
    logits = np.array(out["logits"], dtype=np.float32)
    if np.isnan(logits).any():
        raise SystemExit("llama.cpp returned incomplete logits")
    path = args.model[:-len(".gguf")] + ".llama-cpp.npz"
    np.savez_compressed(path, tokens=np.array(out["tokens"], dtype=np.int32), logits=logits,
                        generated=np.array(out["generated"], dtype=np.int32), prompt=np.array(args.prompt))
    print(f"{path}: {len(out['tokens'])} tokens, then {out['text']!r}")


if __name__ == "__main__":
    main()
