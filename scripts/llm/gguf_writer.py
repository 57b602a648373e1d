"""A GGUF v3 writer with numpy only (the format of llama.cpp's
ggml/include/gguf.h): header, metadata of every value type, tensor infos,
alignment padding (general.alignment, default 32), tensor data.

    w = GGUFWriter()
    w.add("general.architecture", "llama")             # str -> STRING
    w.add("llama.block_count", 3, ValueType.UINT32)    # ints need a type
    w.add("tokenizer.ggml.tokens", ["a", "b"])          # list of str -> ARRAY of STRING
    w.add("tokenizer.ggml.scores", [0.0, -1.0], ValueType.FLOAT32)  # array element type
    w.add_tensor("token_embd.weight", values, "Q8_0")   # float32, quantized here
    w.write("model.gguf")

Tensor shapes: a numpy array of shape (rows, row_length) is stored row-major
with GGUF dims [row_length, rows] (ggml's ne[0] is the fastest axis); a
torch Linear weight (out, in) is written as is and becomes dims [in, out].
"""
import struct

import numpy as np

import ggml_quants

GGUF_MAGIC = b"GGUF"
GGUF_VERSION = 3
DEFAULT_ALIGNMENT = 32


class ValueType:
    UINT8, INT8, UINT16, INT16, UINT32, INT32, FLOAT32, BOOL, STRING, ARRAY, UINT64, INT64, FLOAT64 = range(13)


_SCALAR_FORMATS = {
    ValueType.UINT8: "<B", ValueType.INT8: "<b", ValueType.UINT16: "<H", ValueType.INT16: "<h",
    ValueType.UINT32: "<I", ValueType.INT32: "<i", ValueType.FLOAT32: "<f", ValueType.BOOL: "<?",
    ValueType.UINT64: "<Q", ValueType.INT64: "<q", ValueType.FLOAT64: "<d",
}
_NUMPY_TYPES = {
    ValueType.UINT8: "<u1", ValueType.INT8: "<i1", ValueType.UINT16: "<u2", ValueType.INT16: "<i2",
    ValueType.UINT32: "<u4", ValueType.INT32: "<i4", ValueType.FLOAT32: "<f4", ValueType.BOOL: "<u1",
    ValueType.UINT64: "<u8", ValueType.INT64: "<i8", ValueType.FLOAT64: "<f8",
}


def _string(s):
    data = s.encode("utf-8") if isinstance(s, str) else bytes(s)
    return struct.pack("<Q", len(data)) + data


def _infer_type(value):
    if isinstance(value, bool):
        return ValueType.BOOL
    if isinstance(value, (str, bytes)):
        return ValueType.STRING
    if isinstance(value, float):
        return ValueType.FLOAT32
    raise TypeError(f"give a ValueType for {type(value).__name__} value {value!r}")


def _encode_value(value, vtype):
    if vtype == ValueType.STRING:
        return _string(value)
    if vtype == ValueType.ARRAY:
        raise TypeError("nested arrays: pass the element type")
    return struct.pack(_SCALAR_FORMATS[vtype], value)


class TensorInfo:
    def __init__(self, name, dims, type_name, data):
        self.name = name
        self.dims = dims  # ggml order: dims[0] is the row length
        self.type_name = type_name
        self.data = data  # bytes-like


class GGUFWriter:
    def __init__(self, alignment=DEFAULT_ALIGNMENT):
        self.alignment = alignment
        self.metadata = {}  # key -> (ValueType, value, element type for arrays)
        self.tensors = []
        if alignment != DEFAULT_ALIGNMENT:
            self.add("general.alignment", alignment, ValueType.UINT32)

    def add(self, key, value, vtype=None):
        """A metadata entry. Lists and tuples become ARRAYs; then `vtype` is
        the element type (inferred for str, bool and float elements)."""
        if key in self.metadata:
            raise ValueError(f"duplicate metadata key {key}")
        if isinstance(value, (list, tuple, np.ndarray)):
            items = list(value)
            element = vtype
            if element is None:
                if not items:
                    raise TypeError(f"{key}: give the element type of an empty array")
                element = _infer_type(items[0])
            self.metadata[key] = (ValueType.ARRAY, items, element)
        else:
            self.metadata[key] = (vtype if vtype is not None else _infer_type(value), value, None)

    def add_tensor(self, name, values, type_name="F32"):
        """`values`: float array; its last axis is the row (ggml ne[0])."""
        values = np.asarray(values, dtype=np.float32)
        data = ggml_quants.quantize(values, type_name)
        self.add_raw_tensor(name, list(values.shape[::-1]), type_name, data.tobytes())

    def add_raw_tensor(self, name, dims, type_name, data):
        """Already encoded data of `type_name` with GGUF dims `dims`."""
        if any(t.name == name for t in self.tensors):
            raise ValueError(f"duplicate tensor {name}")
        count = int(np.prod(dims, dtype=np.int64))
        expected = ggml_quants.row_bytes(type_name, dims[0]) * (count // dims[0])
        if len(data) != expected:
            raise ValueError(f"{name}: {len(data)} bytes for {type_name} {dims}, expected {expected}")
        self.tensors.append(TensorInfo(name, list(dims), type_name, data))

    def _pad(self, n):
        return (-n) % self.alignment

    def header_bytes(self):
        out = [GGUF_MAGIC, struct.pack("<IQQ", GGUF_VERSION, len(self.tensors), len(self.metadata))]
        for key, (vtype, value, element) in self.metadata.items():
            out.append(_string(key))
            out.append(struct.pack("<I", vtype))
            if vtype == ValueType.ARRAY:
                out.append(struct.pack("<IQ", element, len(value)))
                if element == ValueType.STRING:
                    out.extend(_string(v) for v in value)
                else:
                    out.append(np.asarray(value).astype(_NUMPY_TYPES[element]).tobytes())
            else:
                out.append(_encode_value(value, vtype))
        offset = 0
        for t in self.tensors:
            out.append(_string(t.name))
            out.append(struct.pack("<I", len(t.dims)))
            out.append(struct.pack(f"<{len(t.dims)}Q", *t.dims))
            out.append(struct.pack("<IQ", ggml_quants.type_id(t.type_name), offset))
            offset += len(t.data) + self._pad(len(t.data))
        header = b"".join(out)
        return header + b"\0" * self._pad(len(header))

    def write(self, path):
        with open(path, "wb") as f:
            f.write(self.header_bytes())
            for t in self.tensors:
                f.write(t.data)
                f.write(b"\0" * self._pad(len(t.data)))
