"""A GGUF reader with numpy only, enough for berth's Python tools and tests:
all metadata value types, tensor infos, and tensor data as raw bytes or
dequantized float32 (every type ggml_quants.py knows).

    f = GGUFReader("model.gguf")
    f.metadata["llama.block_count"]          # python values; arrays as lists
    f.tensors["blk.0.attn_q.weight"].dims    # ggml order, dims[0] = row length
    f.tensor_values("blk.0.attn_q.weight")   # float32 ndarray of shape dims[::-1]
"""
import struct

import numpy as np

import ggml_quants
from gguf_writer import DEFAULT_ALIGNMENT, GGUF_MAGIC, ValueType, _NUMPY_TYPES, _SCALAR_FORMATS


class Tensor:
    def __init__(self, name, dims, type_name, offset):
        self.name = name
        self.dims = dims
        self.type_name = type_name
        self.offset = offset  # from the start of the data section

    @property
    def count(self):
        return int(np.prod(self.dims, dtype=np.int64))

    @property
    def nbytes(self):
        return ggml_quants.row_bytes(self.type_name, self.dims[0]) * (self.count // self.dims[0])


class GGUFReader:
    def __init__(self, path):
        with open(path, "rb") as f:
            self.data = f.read()
        self.pos = 0
        if self.data[:4] != GGUF_MAGIC:
            raise ValueError(f"{path}: not a GGUF file")
        self.pos = 4
        self.version, n_tensors, n_kv = self._unpack("<IQQ")
        if self.version != 3:
            raise ValueError(f"{path}: GGUF version {self.version}, expected 3")
        self.metadata = {}
        self.metadata_types = {}  # key -> (ValueType, element ValueType or None)
        for _ in range(n_kv):
            key = self._string()
            (vtype,) = self._unpack("<I")
            if vtype == ValueType.ARRAY:
                (element,) = struct.unpack_from("<I", self.data, self.pos)
                self.metadata_types[key] = (vtype, element)
            else:
                self.metadata_types[key] = (vtype, None)
            self.metadata[key] = self._value(vtype)
        self.tensors = {}
        for _ in range(n_tensors):
            name = self._string()
            (n_dims,) = self._unpack("<I")
            dims = list(self._unpack(f"<{n_dims}Q"))
            type_id, offset = self._unpack("<IQ")
            if type_id not in ggml_quants.TYPE_NAMES:
                raise ValueError(f"{name}: ggml type {type_id} unsupported here")
            self.tensors[name] = Tensor(name, dims, ggml_quants.TYPE_NAMES[type_id], offset)
        alignment = self.metadata.get("general.alignment", DEFAULT_ALIGNMENT)
        self.data_start = self.pos + (-self.pos) % alignment

    def _unpack(self, fmt):
        values = struct.unpack_from(fmt, self.data, self.pos)
        self.pos += struct.calcsize(fmt)
        return values

    def _string(self):
        (n,) = self._unpack("<Q")
        s = self.data[self.pos:self.pos + n].decode("utf-8")
        self.pos += n
        return s

    def _value(self, vtype):
        if vtype == ValueType.STRING:
            return self._string()
        if vtype == ValueType.ARRAY:
            element, n = self._unpack("<IQ")
            if element == ValueType.STRING:
                return [self._string() for _ in range(n)]
            dtype = np.dtype(_NUMPY_TYPES[element])
            values = np.frombuffer(self.data, dtype=dtype, count=n, offset=self.pos)
            self.pos += n * dtype.itemsize
            return [bool(v) for v in values] if element == ValueType.BOOL else values.tolist()
        (value,) = self._unpack(_SCALAR_FORMATS[vtype])
        return value

    def tensor_bytes(self, name):
        t = self.tensors[name]
        start = self.data_start + t.offset
        return memoryview(self.data)[start:start + t.nbytes]

    def tensor_values(self, name):
        t = self.tensors[name]
        values = ggml_quants.dequantize(self.tensor_bytes(name), t.type_name, t.count)
        return values.reshape(t.dims[::-1])
