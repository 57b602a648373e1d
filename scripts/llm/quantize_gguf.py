#!/usr/bin/python3
"""Rewrites a GGUF model (F32, or any type gguf_reader.py reads) into one
of ggml's tensor types, as llama.cpp's llama-quantize does:

  scripts/llm/quantize_gguf.py IN.gguf OUT.gguf TYPE

TYPE: F32 F16 BF16 Q8_0 Q4_0 Q4_K Q5_K Q6_K, or Q4_K_M. 1-D tensors (norms,
biases) stay F32; every 2-D tensor gets TYPE (its row length must be a
multiple of the type's block size). Q4_K_M is llama.cpp's mix, roughly:
Q4_K, but Q6_K for the output matrix (the token embedding when the output is
tied to it) and for attn_v and ffn_down in the layers llama.cpp gives more
bits (its use_more_bits: the first and last eighth and every third layer).
Metadata is copied; general.file_type is set to llama.cpp's LLAMA_FTYPE
number and general.quantization_version to 2. numpy only; a few seconds for
the committed test models.
"""
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gguf_reader import GGUFReader  # noqa: E402
from gguf_writer import GGUFWriter, ValueType  # noqa: E402
import ggml_quants  # noqa: E402

# TYPE -> LLAMA_FTYPE (llama.h). Single K types take the "_S" numbers, the
# closest llama.cpp has for files of mostly that type.
FILE_TYPES = {
    "F32": 0, "F16": 1, "Q4_0": 2, "Q8_0": 7, "Q4_K": 14, "Q4_K_M": 15, "Q5_K": 16,
    "Q6_K": 18, "BF16": 32,
}
QUANTIZATION_VERSION = 2  # GGML_QNT_VERSION


def use_more_bits(layer, n_layers):
    return layer < n_layers // 8 or layer >= 7 * n_layers // 8 or (layer - n_layers // 8) % 3 == 2


def tensor_type(name, dims, target, n_layers, has_output):
    if len(dims) < 2:
        return "F32"
    if target != "Q4_K_M":
        return target
    if name == "output.weight" or (name == "token_embd.weight" and not has_output):
        return "Q6_K"
    m = re.match(r"blk\.(\d+)\.(attn_v|ffn_down)\.weight$", name)
    if m and use_more_bits(int(m.group(1)), n_layers):
        return "Q6_K"
    return "Q4_K"


def quantize_file(src, dst, target):
    if target not in FILE_TYPES:
        raise ValueError(f"unknown type {target}; one of {', '.join(FILE_TYPES)}")
    f = GGUFReader(src)
    arch = f.metadata.get("general.architecture", "")
    n_layers = f.metadata.get(f"{arch}.block_count", 0)
    has_output = "output.weight" in f.tensors
    w = GGUFWriter(alignment=f.metadata.get("general.alignment", 32))
    for key, value in f.metadata.items():
        if key in ("general.file_type", "general.quantization_version", "general.alignment"):
            continue
        vtype, element = f.metadata_types[key]
        w.add(key, value, element if vtype == ValueType.ARRAY else vtype)
    w.add("general.file_type", FILE_TYPES[target], ValueType.UINT32)
    if target != "F32":
        w.add("general.quantization_version", QUANTIZATION_VERSION, ValueType.UINT32)
    for name, t in f.tensors.items():
        kind = tensor_type(name, t.dims, target, n_layers, has_output)
        if kind == t.type_name:
            w.add_raw_tensor(name, t.dims, kind, bytes(f.tensor_bytes(name)))
            continue
        block = ggml_quants.TYPES[kind][1]
        if t.dims[0] % block:
            raise ValueError(f"{src}: tensor {name} has rows of {t.dims[0]} values, "
                             f"not a multiple of {kind}'s block of {block}")
        w.add_tensor(name, f.tensor_values(name), kind)
    w.write(dst)


def main():
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    try:
        quantize_file(sys.argv[1], sys.argv[2], sys.argv[3].upper())
    except (OSError, ValueError) as e:
        sys.exit(f"quantize_gguf: {e}")


if __name__ == "__main__":
    main()
