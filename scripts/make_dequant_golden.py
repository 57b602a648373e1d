#!/usr/bin/python3
"""Golden data for berth's GGUF block dequantization, from llama.cpp's own
Python reference (gguf-py/gguf/quants.py in llama.cpp's source, which the
node-llama-cpp npm package ships as llama/gitRelease.bundle):

  git clone node_modules/node-llama-cpp/llama/gitRelease.bundle /tmp/llama.cpp
  /usr/bin/python3 scripts/make_dequant_golden.py /tmp/llama.cpp

For each type: 8 blocks of random bytes (256 values for F16 and BF16) (the fp16 scale fields replaced by
finite values) as TYPE.blocks.npy (uint8 [blocks, bytes per block]) and their
dequantized values as TYPE.values.npy (float32 [blocks, block size]), in
tests/data/llm/dequant/. Small; committed with this script.
"""
import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(sys.argv[1], "gguf-py"))
from gguf import GGMLQuantizationType as Q  # noqa: E402
from gguf.constants import GGML_QUANT_SIZES  # noqa: E402
from gguf.quants import dequantize  # noqa: E402

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "data", "llm", "dequant")
# Byte offsets of the fp16 fields of each block (ggml-common.h's layouts).
HALF_FIELDS = {"F16": None, "BF16": None, "Q8_0": [0], "Q4_0": [0], "Q4_K": [0, 2], "Q5_K": [0, 2], "Q6_K": [208],
               "Q4_1": [0, 2], "Q5_0": [0], "Q5_1": [0, 2]}


def main():
    rng = np.random.default_rng(20261202)
    os.makedirs(OUT, exist_ok=True)
    for name, fields in HALF_FIELDS.items():
        qtype = Q[name]
        block_size, type_size = GGML_QUANT_SIZES[qtype]
        count = 8 if block_size > 1 else 256  # plain types: 256 values
        blocks = rng.integers(0, 256, size=(count, type_size), dtype=np.uint8)
        if name == "F16":
            blocks = rng.standard_normal(count).astype(np.float16).view(np.uint8).reshape(count, type_size)
        elif name == "BF16":
            values = rng.standard_normal(count).astype(np.float32).view(np.uint32) >> 16
            blocks = values.astype(np.uint16).view(np.uint8).reshape(count, type_size)
        else:
            for offset in fields:
                scales = (rng.random(count) * 0.1 + 0.001).astype(np.float16).view(np.uint8).reshape(count, 2)
                blocks[:, offset:offset + 2] = scales
        values = dequantize(blocks.reshape(-1), qtype).astype(np.float32).reshape(count, -1)
        assert values.shape[1] == block_size and np.all(np.isfinite(values)), name
        np.save(os.path.join(OUT, f"{name}.blocks.npy"), blocks)
        np.save(os.path.join(OUT, f"{name}.values.npy"), values)
        print(f"{name}: {type_size} bytes, {block_size} values a block")


if __name__ == "__main__":
    main()
