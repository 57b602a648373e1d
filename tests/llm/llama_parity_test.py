#!/usr/bin/python3
"""berth against llama.cpp (node-llama-cpp's prebuilt library) and a PyTorch
reference on a committed test model and every quantized variant of it:

- files berth's own writer makes from the F32 model (scripts/llm/quantize_gguf.py):
  F16, Q8_0, Q4_0, Q4_K, Q5_K, Q6_K;
- files llama.cpp's quantizer makes from it (tests/llm/ref/bin/quantize):
  Q8_0, Q4_0, Q4_K_M, Q5_K_M, Q6_K.

Checks, per file:
- the prompt's token ids equal llama.cpp's (BOS added where the vocabulary says so);
- exact types (F32, F16, Q8_0): greedy generation of 64 tokens from each of
  20 prompts is identical to llama.cpp's, where berth reproduces the order of
  llama.cpp's sums on this CPU and ISA (strict_types; elsewhere they are held
  to the bounds of the other types);
- the others: the first generated token's logits differ from llama.cpp's by at
  most 1e-2 of the logit range, for every prompt, and top-1 agrees on >= 98%
  of 1,000 teacher-forced positions of a passage;
- F32: the logits at every position of the passage match the PyTorch
  reference (tests/llm/torch_reference.py) within 1e-4 relative (F32 cache).

llama.cpp's answers and the quantized files are cached under --cache (keyed by
the files' contents), so that running the test again under another
BERTH_LLM_ISA only reruns berth. Exits 77 (skipped) when node-llama-cpp is not
installed (`make llm-ref`).
"""
import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from run_with_isa import KERNEL_ISA_FLAGS, cpu_flags  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
REF = os.path.join(ROOT, "tests", "llm", "ref")
ORACLE = os.path.join(REF, "llama_oracle.mjs")
QUANTIZE_LLAMA = os.path.join(REF, "bin", "quantize")
QUANTIZE_OURS = os.path.join(ROOT, "scripts", "llm", "quantize_gguf.py")
TORCH_REFERENCE = os.path.join(ROOT, "tests", "llm", "torch_reference.py")
SKIP = 77

PROMPTS = [
    "In the beginning God created",
    "And the LORD said unto Moses,",
    "Blessed are the meek: for they",
    "The LORD is my shepherd;",
    "And it came to pass, when the king",
    "Then Jesus answered and said unto them,",
    "Hear, O Israel:",
    "For God so loved the world,",
    "And the children of Israel went",
    "Thus saith the LORD of hosts,",
    "My son, forget not my law;",
    "And David said to Saul,",
    "Praise ye the LORD.",
    "Now the serpent was more subtil than any beast",
    "And he opened his mouth, and taught them, saying,",
    "Vanity of vanities, saith the Preacher;",
    "And the earth was without form, and void;",
    "Behold, I stand at the door, and knock:",
    "And Abraham rose up early in the morning,",
    "Let not your heart be troubled:",
]

# A passage for teacher forcing (Ecclesiastes 3 and Psalm 104, KJV), long
# enough for 1,000 positions with either vocabulary.
PASSAGE_FILE = os.path.join(ROOT, "tests", "data", "llm", "passage.txt")

EXACT = {"F32", "F16", "Q8_0", "llama-Q8_0"}


def strict_types(isa):
    """The exact types whose greedy tokens must equal llama.cpp's on this CPU
    with this kernel ISA: berth sums in the order of llama.cpp's AVX2 and
    AVX-512 builds (attention and Q8_0 products on every ISA; F16 weight
    products in the AVX-512 kernels, against llama.cpp's AVX-512 build; F32
    weights feed no rounding to F16 or int8 but the cache's). On a
    CPU where llama.cpp picks its Sapphire Rapids build (F16 dot products
    added in half precision, Q8_0 products in AMX tiles) none is; the others
    are then held to the quantized types' bounds, and their greedy agreement
    is reported."""
    flags = cpu_flags()
    if not {"avx2", "fma", "f16c"} <= flags or flags & {"avx512_fp16", "amx_int8", "amx_tile"}:
        return set()
    strict = {"F32", "Q8_0", "llama-Q8_0"}
    if "avx512f" in flags and isa in (None, "avx512", "avx512vnni"):
        strict.add("F16")
    return strict
OURS = ["F16", "Q8_0", "Q4_0", "Q4_K", "Q5_K", "Q6_K"]
LLAMAS = ["Q8_0", "Q4_0", "Q4_K_M", "Q5_K_M", "Q6_K"]


def digest(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()[:16]


class Checks:
    def __init__(self):
        self.failures = []
        self.passed = 0

    def expect(self, ok, what):
        if ok:
            self.passed += 1
        else:
            self.failures.append(what)
            print(f"FAIL {what}", flush=True)


def run_berth(berth, args, env=None):
    proc = subprocess.run([berth] + args, capture_output=True, env=env, timeout=600)
    if proc.returncode != 0:
        raise RuntimeError(f"berth {' '.join(args[:2])}... failed: {proc.stderr.decode(errors='replace')}")
    return proc.stdout


def oracle(model, ops, cache, context_size):
    key = hashlib.sha256(json.dumps([digest(model), ops, context_size]).encode()).hexdigest()[:24]
    path = os.path.join(cache, f"oracle-{key}.json")
    if os.path.exists(path):
        with open(path) as f:
            return json.load(f)
    request = {"model": model, "threads": 1, "contextSize": context_size, "batchSize": 512,
               "flashAttention": False, "ops": ops}
    proc = subprocess.run(["node", ORACLE], input=json.dumps(request).encode(), capture_output=True, timeout=900)
    if proc.returncode != 0:
        raise RuntimeError(f"llama.cpp oracle failed on {model}: {proc.stderr.decode(errors='replace')[-2000:]}")
    answer = json.loads(proc.stdout)
    with open(path + ".tmp", "w") as f:
        json.dump(answer, f)
    os.replace(path + ".tmp", path)
    return answer


def make_variants(model, cache):
    """name -> path of every file the test runs."""
    stem = f"{os.path.basename(model)[:-5]}-{digest(model)}"
    files = {"F32": model}
    for t in OURS:
        path = os.path.join(cache, f"{stem}-{t}.gguf")
        if not os.path.exists(path):
            subprocess.run([sys.executable, QUANTIZE_OURS, model, path + ".tmp", t], check=True,
                           stdout=subprocess.DEVNULL)
            os.replace(path + ".tmp", path)
        files[t] = path
    for t in LLAMAS:
        path = os.path.join(cache, f"{stem}-llama-{t}.gguf")
        if not os.path.exists(path):
            subprocess.run([QUANTIZE_LLAMA, model, path + ".tmp", t], check=True, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
            os.replace(path + ".tmp", path)
        files[f"llama-{t}"] = path
    return files


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--berth", required=True)
    parser.add_argument("--model", required=True)
    parser.add_argument("--cache", required=True)
    parser.add_argument("--only", help="comma-separated variant names (default: all)")
    parser.add_argument("--isa", help="force BERTH_LLM_ISA (exit 77 where the CPU lacks it)")
    args = parser.parse_args()
    if args.isa:
        missing = [flag for flag in KERNEL_ISA_FLAGS[args.isa] if flag not in cpu_flags()]
        if missing:
            print(f"SKIP: this CPU lacks {', '.join(missing)} for BERTH_LLM_ISA={args.isa}")
            return SKIP
        os.environ["BERTH_LLM_ISA"] = args.isa

    if not os.path.exists(os.path.join(REF, "node_modules", "node-llama-cpp")) or not os.path.exists(QUANTIZE_LLAMA):
        print("SKIP: llama.cpp reference not installed (make llm-ref)")
        return SKIP
    os.makedirs(args.cache, exist_ok=True)
    files = make_variants(args.model, args.cache)
    if args.only:
        files = {k: v for k, v in files.items() if k in args.only.split(",")}
    with open(PASSAGE_FILE, encoding="utf-8") as f:
        passage = f.read()
    checks = Checks()
    strict = strict_types(args.isa)
    tmp = tempfile.mkdtemp(prefix="berth-parity-")
    isa = os.environ.get("BERTH_LLM_ISA", "default")
    try:
        # The prompts' and the passage's token ids: berth's must equal llama.cpp's.
        ids = {}
        for text in PROMPTS + [passage]:
            out = run_berth(args.berth, ["tokenize", args.model, text])
            ids[text] = [int(x) for x in out.split()]
        reference_ids = oracle(args.model, [{"op": "tokenize", "text": t} for t in PROMPTS + [passage]], args.cache,
                               2048)
        bos = ids[PROMPTS[0]][0] if len(ids[PROMPTS[0]]) > len(reference_ids[0]) else None
        for text, theirs in zip(PROMPTS + [passage], reference_ids):
            expected = ([bos] if bos is not None else []) + theirs
            checks.expect(ids[text] == expected, f"tokenize {text[:30]!r}: berth {ids[text][:12]} llama.cpp {expected[:12]}")
        passage_ids = ids[passage][:1000]
        if len(passage_ids) < 1000:
            raise RuntimeError(f"the passage is only {len(passage_ids)} tokens")
        context = 1024

        for name, path in files.items():
            ops = [{"op": "greedy", "tokens": ids[p], "n": 64} for p in PROMPTS]
            ops += [{"op": "last_logits", "tokens": ids[p]} for p in PROMPTS]
            if name not in strict:
                ops.append({"op": "logits", "tokens": passage_ids})
            answers = oracle(path, ops, args.cache, context)
            greedy, last = answers[:20], answers[20:40]
            if name in EXACT:
                same = 0
                for prompt, theirs in zip(PROMPTS, greedy):
                    out = run_berth(args.berth, ["generate", path, "--prompt", prompt, "--tokens", "--temperature", "0",
                                                 "--max-tokens", "64", "--threads", "1", "--ctx-size", str(context)])
                    ours = [int(x) for x in out.split()]
                    # llama.cpp's list ends with the end-of-generation token; berth stops before printing it.
                    if theirs and len(theirs) == len(ours) + 1:
                        theirs = theirs[:len(ours)]
                    ok = ours == theirs
                    same += ok
                    if name in strict:
                        checks.expect(ok, f"{name} greedy {prompt[:30]!r}: berth {ours[:16]} llama.cpp {theirs[:16]}")
                required = "" if name in strict else " (not required with this CPU and ISA)"
                print(f"{name}: greedy 64 tokens identical to llama.cpp on {same}/20 prompts{required}", flush=True)
            worst = 0.0
            for prompt, theirs in zip(PROMPTS, last):
                out = os.path.join(tmp, "last.npy")
                run_berth(args.berth, ["generate", path, "--prompt", prompt, "--max-tokens", "0", "--threads", "1",
                                       "--ctx-size", str(context), "--logits-out", out])
                ours = np.load(out)
                theirs = np.array(theirs, dtype=np.float64)
                error = float(np.max(np.abs(ours - theirs)) / (theirs.max() - theirs.min()))
                worst = max(worst, error)
                checks.expect(error <= 1e-2, f"{name} first-token logits {prompt[:30]!r}: {error:.2e} of the range")
            print(f"{name}: first-token logits within {worst:.2e} of llama.cpp's range", flush=True)
            if name not in strict:
                theirs = np.array(answers[40], dtype=np.float64)
                out = os.path.join(tmp, "all.npy")
                run_berth(args.berth, ["generate", path, "--prompt-ids", ",".join(map(str, passage_ids)), "--max-tokens", "0", "--threads", "1",
                                       "--ctx-size", str(context), "--logits-out", out, "--all-logits"])
                ours = np.load(out)[: len(passage_ids)]
                agree = float(np.mean(np.argmax(ours, axis=1) == np.argmax(theirs, axis=1)))
                checks.expect(agree >= 0.98, f"{name} teacher-forced top-1 agreement {agree:.4f} < 0.98")
                print(f"{name}: top-1 agrees with llama.cpp on {agree * 100:.2f}% of 1000 positions", flush=True)

        # F32 against the PyTorch reference, F32 cache.
        out = os.path.join(tmp, "f32.npy")
        run_berth(args.berth, ["generate", args.model, "--prompt-ids", ",".join(map(str, passage_ids[:256])), "--max-tokens", "0", "--threads", "1",
                               "--kv-type", "f32", "--logits-out", out, "--all-logits"])
        ours = np.load(out)
        ref = os.path.join(tmp, "torch.npy")
        subprocess.run([sys.executable, TORCH_REFERENCE, "--model", args.model, "--tokens",
                        ",".join(str(t) for t in passage_ids[:256]), "--out", ref], check=True)
        reference = np.load(ref)
        relative = float(np.max(np.abs(ours - reference)) / np.max(np.abs(reference)))
        checks.expect(relative <= 1e-4, f"F32 logits vs PyTorch: {relative:.2e} relative")
        print(f"F32: logits at 256 positions within {relative:.2e} (relative) of the PyTorch reference", flush=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"{os.path.basename(args.model)} [isa {isa}]: {checks.passed} checks passed, {len(checks.failures)} failed")
    return 1 if checks.failures else 0


if __name__ == "__main__":
    sys.exit(main())
