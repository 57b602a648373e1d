#!/usr/bin/python3
"""Random-weight language models of real shapes for bench/llm: the speed of
a model depends on its shapes and tensor types, not on what its weights
learned, so these run exactly as fast as the real ones (their text is noise).

  Llama-3.2-1B shape: llama, 2048 wide, 16 layers, 32 heads / 8 KV heads,
    FFN 8192, RoPE base 500000 with Llama 3's frequency factors, tied output,
    the Llama 3 vocabulary (128256 tokens) from llama.cpp's ggml-vocab-llama-bpe.gguf.
  Qwen2.5-0.5B shape: qwen2, 896 wide, 24 layers, 14 heads / 2 KV heads,
    FFN 4864, q/k/v biases, RoPE base 1e6, tied output, the Qwen2 vocabulary
    from ggml-vocab-qwen2.gguf.

The F16 file is written here (scripts/llm/gguf_writer.py); Q8_0, Q4_0 and
Q4_K_M come from llama.cpp's own quantizer (tests/llm/ref/bin/quantize, made
by scripts/install-llama-ref.sh), as users' files do. Files already present
are kept.

  bench/llm/make_models.py --out bench/models/llm [--shapes llama-1b,qwen-0.5b] [--types F16,Q8_0,Q4_0,Q4_K_M]
"""
import argparse
import math
import os
import subprocess
import sys

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "scripts", "llm"))
from gguf_reader import GGUFReader  # noqa: E402
from gguf_writer import GGUFWriter, ValueType  # noqa: E402

VOCAB_DIR = os.path.join(ROOT, "tests", "llm", "ref", "vocab")
QUANTIZE = os.path.join(ROOT, "tests", "llm", "ref", "bin", "quantize")

SHAPES = {
    "llama-1b": dict(arch="llama", embd=2048, layers=16, heads=32, kv_heads=8, ff=8192, context=131072,
                     rope_base=500000.0, eps=1e-5, bias=False, vocab="ggml-vocab-llama-bpe.gguf", llama3_rope=True),
    "qwen-0.5b": dict(arch="qwen2", embd=896, layers=24, heads=14, kv_heads=2, ff=4864, context=32768,
                      rope_base=1000000.0, eps=1e-6, bias=True, vocab="ggml-vocab-qwen2.gguf", llama3_rope=False),
}


def llama3_rope_factors(head_dim, base, factor=32.0, low=1.0, high=4.0, original=8192):
    """Llama 3.x's RoPE frequency divisors, as its converter writes them."""
    factors = []
    low_wavelen, high_wavelen = original / low, original / high
    for i in range(0, head_dim, 2):
        freq = 1.0 / (base ** (i / head_dim))
        wavelen = 2 * math.pi / freq
        if wavelen < high_wavelen:
            factors.append(1.0)
        elif wavelen > low_wavelen:
            factors.append(factor)
        else:
            smooth = (original / wavelen - low) / (high - low)
            factors.append(1.0 / ((1 - smooth) / factor + smooth))
    return np.array(factors, dtype=np.float32)


def write_f16(name, shape, path):
    vocab = GGUFReader(os.path.join(VOCAB_DIR, shape["vocab"]))
    tokens = vocab.metadata["tokenizer.ggml.tokens"]
    n_vocab = len(tokens)
    a = shape["arch"]
    w = GGUFWriter()
    w.add("general.architecture", a)
    w.add("general.name", f"random {name}")
    w.add("general.file_type", 1, ValueType.UINT32)
    w.add(f"{a}.context_length", shape["context"], ValueType.UINT32)
    w.add(f"{a}.embedding_length", shape["embd"], ValueType.UINT32)
    w.add(f"{a}.block_count", shape["layers"], ValueType.UINT32)
    w.add(f"{a}.feed_forward_length", shape["ff"], ValueType.UINT32)
    w.add(f"{a}.attention.head_count", shape["heads"], ValueType.UINT32)
    w.add(f"{a}.attention.head_count_kv", shape["kv_heads"], ValueType.UINT32)
    w.add(f"{a}.attention.layer_norm_rms_epsilon", shape["eps"], ValueType.FLOAT32)
    w.add(f"{a}.rope.freq_base", shape["rope_base"], ValueType.FLOAT32)
    head_dim = shape["embd"] // shape["heads"]
    w.add(f"{a}.rope.dimension_count", head_dim, ValueType.UINT32)
    for key, value in vocab.metadata.items():
        if not key.startswith("tokenizer."):
            continue
        vtype, element = vocab.metadata_types[key]
        w.add(key, value, element if vtype == ValueType.ARRAY else vtype)

    rng = np.random.default_rng(0)

    def matrix(rows, cols, scale=0.02):
        return (rng.standard_normal((rows, cols), dtype=np.float32) * scale)

    E, F, kv = shape["embd"], shape["ff"], shape["kv_heads"] * head_dim
    w.add_tensor("token_embd.weight", matrix(n_vocab, E), "F16")
    w.add_tensor("output_norm.weight", np.ones(E, np.float32), "F32")
    if shape["llama3_rope"]:
        w.add_tensor("rope_freqs.weight", llama3_rope_factors(head_dim, shape["rope_base"]), "F32")
    for layer in range(shape["layers"]):
        p = f"blk.{layer}."
        w.add_tensor(p + "attn_norm.weight", np.ones(E, np.float32), "F32")
        w.add_tensor(p + "attn_q.weight", matrix(E, E), "F16")
        w.add_tensor(p + "attn_k.weight", matrix(kv, E), "F16")
        w.add_tensor(p + "attn_v.weight", matrix(kv, E), "F16")
        w.add_tensor(p + "attn_output.weight", matrix(E, E), "F16")
        if shape["bias"]:
            w.add_tensor(p + "attn_q.bias", rng.standard_normal(E, dtype=np.float32) * 0.02, "F32")
            w.add_tensor(p + "attn_k.bias", rng.standard_normal(kv, dtype=np.float32) * 0.02, "F32")
            w.add_tensor(p + "attn_v.bias", rng.standard_normal(kv, dtype=np.float32) * 0.02, "F32")
        w.add_tensor(p + "ffn_norm.weight", np.ones(E, np.float32), "F32")
        w.add_tensor(p + "ffn_gate.weight", matrix(F, E), "F16")
        w.add_tensor(p + "ffn_up.weight", matrix(F, E), "F16")
        w.add_tensor(p + "ffn_down.weight", matrix(E, F), "F16")
    tmp = path + ".tmp"
    w.write(tmp)
    os.replace(tmp, path)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default=os.path.join(ROOT, "bench", "models", "llm"))
    parser.add_argument("--shapes", default="llama-1b,qwen-0.5b")
    parser.add_argument("--types", default="F16,Q8_0,Q4_0,Q4_K_M")
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    for name in args.shapes.split(","):
        f16 = os.path.join(args.out, f"{name}-F16.gguf")
        if not os.path.exists(f16):
            print(f"make_models: writing {f16}", file=sys.stderr)
            write_f16(name, SHAPES[name], f16)
        for t in args.types.split(","):
            path = os.path.join(args.out, f"{name}-{t}.gguf")
            if t == "F16" or os.path.exists(path):
                continue
            print(f"make_models: llama.cpp quantizes {path}", file=sys.stderr)
            subprocess.run([QUANTIZE, f16, path + ".tmp", t], check=True, stdout=subprocess.DEVNULL,
                           env=dict(os.environ, QUANTIZE_THREADS=str(os.cpu_count())))
            os.replace(path + ".tmp", path)


if __name__ == "__main__":
    main()
