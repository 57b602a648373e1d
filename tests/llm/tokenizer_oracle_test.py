#!/usr/bin/python3
"""berth's tokenizers against llama.cpp's (node-llama-cpp, from `make
llm-ref`) on 1,000 lines of varied text (tests/llm/tokenizer_corpus.py), for
each vocabulary of llama.cpp's test suite that berth supports: the ids with
special-token texts as plain text and as tokens (`berth tokenize --lines
--no-special [--parse-special]`), and the text llama.cpp's ids decode to
(`berth detokenize --lines`). Every line must match, and so must the whole
corpus as one text (about 70 KB). So must what both make
of the vocabulary (`berth tokenize --dump-vocabulary`): BOS, EOS, EOT,
whether BOS/EOS are added, the end-of-generation tokens, and every token's
attributes and text.

  tokenizer_oracle_test.py --berth build/berth [--vocab NAME ...] [--count N] [--seed S]

Exits 77 (skipped) when node or node-llama-cpp or the vocabulary files are
missing.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import tokenizer_corpus  # noqa: E402

VOCABS = ["llama-spm", "llama-bpe", "qwen2", "gpt-2", "phi-3", "qwen35", "starcoder", "refact", "command-r", "mpt",
          "falcon", "deepseek-coder", "deepseek-llm", "baichuan", "aquila", "gpt-neox"]


def escape(text):
    """As berth writes a text on one line (and reads it back with --unescape)."""
    named = {"\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t"}
    return "".join(named.get(c) or (f"\\x{ord(c):02x}" if ord(c) < 0x20 or c == "\x7f" else c) for c in text)


def berth_lines(berth, args, stdin_path):
    out = subprocess.run([berth] + args + ["--file", stdin_path], capture_output=True, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"berth {' '.join(args)}: exit {out.returncode}: {out.stderr.decode(errors='replace')}")
    return out.stdout.decode("utf-8", errors="surrogateescape").split("\n")[:-1]


def ids_line(ids):
    return " ".join(str(i) for i in ids)


def compare(name, kind, texts, expected, got, failures):
    passed = 0
    for i, (want, have) in enumerate(zip(expected, got)):
        if want == have:
            passed += 1
        elif len(failures) < 20:
            failures.append(f"{name} {kind} line {i} {json.dumps(texts[i], ensure_ascii=False)}:\n"
                            f"    llama.cpp: {want}\n    berth:     {have}")
    if len(got) != len(expected):
        failures.append(f"{name} {kind}: berth gave {len(got)} lines for {len(expected)}")
        passed = min(passed, len(got))
    return passed


def compare_vocabulary(name, dump, reference, failures):
    """berth's --dump-vocabulary against llama.cpp's view; returns how many
    tokens agree on attributes and text."""
    v = reference
    header = (f"bos {v['bos']} eos {v['eos']} eot {v['eot']} adds_bos {int(v['addsBos'])} "
              f"adds_eos {int(v['addsEos'])} eog" + "".join(f" {i}" for i in v["eog"]))
    if dump[0] != header:
        failures.append(f"{name} vocabulary:\n    llama.cpp: {header}\n    berth:     {dump[0]}")
    agree = 0
    for line, (attrs, text) in zip(dump[1:], v["tokens"]):
        token, berth_attrs, berth_text = line.split(" ", 2)
        # JavaScript strings hold invalid UTF-8 as U+FFFD, maximal subpart by maximal subpart.
        berth_text = berth_text.encode("utf-8", errors="surrogateescape").decode("utf-8", errors="replace")
        if int(berth_attrs) == attrs and berth_text == escape(text):
            agree += 1
        elif len(failures) < 40:
            failures.append(f"{name} token {token}: llama.cpp attributes {attrs} text {escape(text)!r}, "
                            f"berth {berth_attrs} {berth_text!r}")
    if agree != len(v["tokens"]):
        failures.append(f"{name}: {len(v['tokens']) - agree} tokens differ")
    return agree


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--berth", required=True)
    parser.add_argument("--vocab-dir", default=os.environ.get("BERTH_LLAMA_VOCAB_DIR",
                                                               os.path.join(HERE, "ref", "vocab")))
    parser.add_argument("--vocab", action="append", help="only these vocabularies (default: all supported)")
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=20240601)
    args = parser.parse_args()
    oracle = os.path.join(HERE, "tokenizer_oracle.mjs")
    modules = os.environ.get("BERTH_NODE_MODULES", os.path.join(HERE, "ref", "node_modules"))
    if not shutil.which("node") or not os.path.exists(os.path.join(modules, "node-llama-cpp", "package.json")):
        print(f"SKIP: no node or no node-llama-cpp in {modules}: run `make llm-ref`")
        return 77
    vocabs = [v for v in (args.vocab or VOCABS)
              if os.path.exists(os.path.join(args.vocab_dir, f"ggml-vocab-{v}.gguf"))]
    if not vocabs:
        print(f"SKIP: no ggml-vocab-*.gguf in {args.vocab_dir}: run `make llm-ref`")
        return 77
    texts = tokenizer_corpus.lines(args.count, args.seed)
    texts.append("".join(texts))  # one long text: nothing lost at scale
    failures = []
    with tempfile.TemporaryDirectory() as tmp:
        inp = os.path.join(tmp, "texts.json")
        with open(inp, "w", encoding="utf-8") as f:
            json.dump(texts, f, ensure_ascii=False)
        lines = os.path.join(tmp, "texts.txt")
        with open(lines, "w", encoding="utf-8", newline="") as f:
            f.write("".join(escape(t) + "\n" for t in texts))
        for name in vocabs:
            vocab = os.path.join(args.vocab_dir, f"ggml-vocab-{name}.gguf")
            out = os.path.join(tmp, f"{name}.json")
            dump = berth_lines(args.berth, ["tokenize", vocab, "--dump-vocabulary"], inp)
            run = subprocess.run(["node", oracle, vocab, inp, out, str(len(dump) - 1)], capture_output=True, text=True,
                                 check=False)
            if run.returncode != 0:
                failures.append(f"{name}: node-llama-cpp failed: {run.stderr[-2000:]}")
                continue
            with open(out, encoding="utf-8") as f:
                result = json.load(f)
            reference = result["texts"]
            tokens_agree = compare_vocabulary(name, dump, result["vocabulary"], failures)
            plain = berth_lines(args.berth, ["tokenize", vocab, "--lines", "--unescape", "--no-special"], lines)
            special = berth_lines(args.berth, ["tokenize", vocab, "--lines", "--unescape", "--no-special",
                                               "--parse-special"], lines)
            ids = os.path.join(tmp, f"{name}.ids")
            with open(ids, "w") as f:
                f.write("".join(ids_line(r["plain"]) + "\n" for r in reference))
            decoded = berth_lines(args.berth, ["detokenize", vocab, "--lines"], ids)
            counts = [
                compare(name, "tokenize", texts, [ids_line(r["plain"]) for r in reference], plain, failures),
                compare(name, "tokenize --parse-special", texts, [ids_line(r["special"]) for r in reference],
                        special, failures),
                compare(name, "detokenize", texts, [escape(r["decoded"]) for r in reference], decoded, failures),
            ]
            print(f"{name}: tokenize {counts[0]}/{len(texts)}, with special tokens {counts[1]}/{len(texts)}, "
                  f"detokenize {counts[2]}/{len(texts)}; vocabulary: {tokens_agree}/{len(dump) - 1} tokens agree",
                  flush=True)
    for failure in failures:
        print(failure)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
