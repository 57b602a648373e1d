#!/usr/bin/python3
"""Checks quantize_gguf.py's output against llama.cpp's own Python
reference (gguf-py, in llama.cpp's source; a development-time check, not a
dependency):

  scripts/llm/check_quantized.py LLAMA_CPP_DIR F32.gguf QUANTIZED.gguf...

For every tensor of each quantized file: gguf-py reads the file and
dequantizes the tensor; that must equal gguf_reader.py's dequantization bit
for bit (same layout), and its error against the F32 original must be within
what the type allows (relative RMS error per type below, for
trained weights). Exits 1 on any failure.
"""
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(sys.argv[1], "gguf-py"))
import gguf  # noqa: E402
from gguf.quants import dequantize  # noqa: E402
from gguf_reader import GGUFReader  # noqa: E402

# Relative RMS error bounds: 4-bit ~1/16 of the range per step, etc.
BOUNDS = {"F32": 0.0, "F16": 1e-3, "BF16": 5e-3, "Q8_0": 1e-2, "Q6_K": 3e-2, "Q5_K": 5e-2,
          "Q4_K": 1e-1, "Q4_0": 1.2e-1}


def main():
    original = GGUFReader(sys.argv[2])
    failures = 0
    for path in sys.argv[3:]:
        ref = gguf.GGUFReader(path)
        mine = GGUFReader(path)
        worst = {}
        for t in ref.tensors:
            kind = t.tensor_type.name
            values = dequantize(t.data, t.tensor_type).reshape(-1)
            if not np.array_equal(values, mine.tensor_values(t.name).reshape(-1)):
                print(f"{path}: {t.name} ({kind}): gguf-py and gguf_reader.py disagree")
                failures += 1
            x = original.tensor_values(t.name).reshape(-1)
            err = float(np.sqrt(((values - x) ** 2).sum() / max((x ** 2).sum(), 1e-30)))
            if err > BOUNDS[kind]:
                print(f"{path}: {t.name} ({kind}): relative RMS error {err:.4f} > {BOUNDS[kind]}")
                failures += 1
            worst[kind] = max(worst.get(kind, 0.0), err)
        ftype = mine.metadata.get("general.file_type")
        print(f"{os.path.basename(path)}: file_type {ftype}, {len(ref.tensors)} tensors, worst relative RMS error "
              + ", ".join(f"{k} {v:.2e}" for k, v in sorted(worst.items())))
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
