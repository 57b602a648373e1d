#!/usr/bin/python3
"""The Python GGUF tools of scripts/llm against themselves and the committed
test models: the writer and reader round-trip every metadata type and tensor
type, the quantizers stay within each type's error, quantize_gguf.py gives
the tensor types llama.cpp would, and the PyTorch reference reproduces the
logits and greedy tokens llama.cpp computed for the committed models
(tests/data/llm/models/*.llama-cpp.npz, made by llama_cpp_logits.mjs; see
the README there)."""
import os
import sys
import tempfile
import unittest

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "scripts", "llm"))
sys.path.insert(0, HERE)
import ggml_quants  # noqa: E402
import quantize_gguf  # noqa: E402
from gguf_reader import GGUFReader  # noqa: E402
from gguf_writer import GGUFWriter, ValueType as V  # noqa: E402

MODELS = os.path.join(HERE, "..", "data", "llm", "models")
LLAMA = os.path.join(MODELS, "kjv-llama-f32.gguf")
QWEN2 = os.path.join(MODELS, "kjv-qwen2-f32.gguf")
TYPES = ["F32", "F16", "BF16", "Q8_0", "Q4_0", "Q4_K", "Q5_K", "Q6_K"]
# Relative RMS error of Gaussian data, per type (about half a step of the
# type's grid; the measured values are well inside).
BOUNDS = {"F32": 0.0, "F16": 5e-4, "BF16": 3e-3, "Q8_0": 8e-3, "Q6_K": 2.5e-2, "Q5_K": 5e-2,
          "Q4_K": 1e-1, "Q4_0": 1.1e-1}


def rel_rms(a, b):
    return float(np.sqrt(((a - b) ** 2).sum() / (b ** 2).sum()))


class WriterReader(unittest.TestCase):
    def test_every_metadata_type_round_trips(self):
        w = GGUFWriter()
        values = {
            "u8": (200, V.UINT8), "i8": (-100, V.INT8), "u16": (60000, V.UINT16), "i16": (-30000, V.INT16),
            "u32": (4000000000, V.UINT32), "i32": (-2000000000, V.INT32), "f32": (0.25, V.FLOAT32),
            "b": (True, V.BOOL), "s": ("ünïcode", V.STRING), "u64": (2 ** 63, V.UINT64),
            "i64": (-2 ** 62, V.INT64), "f64": (0.1, V.FLOAT64),
            "strings": (["a", "", "\u0120the"], V.STRING), "ints": ([1, -2, 3], V.INT32),
            "floats": ([0.5, -1.5], V.FLOAT32), "bools": ([True, False, True], V.BOOL),
            "empty": ([], V.UINT32),
        }
        for key, (value, vtype) in values.items():
            w.add(key, value, vtype)
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "m.gguf")
            w.write(path)
            r = GGUFReader(path)
        for key, (value, vtype) in values.items():
            self.assertEqual(r.metadata[key], value, key)
            kind, element = r.metadata_types[key]
            self.assertEqual(element if isinstance(value, list) else kind, vtype, key)

    def test_tensors_keep_dims_order_alignment_and_values(self):
        rng = np.random.default_rng(7)
        w = GGUFWriter()
        tensors = {t: rng.standard_normal((3, 256)).astype(np.float32) for t in TYPES}
        for t, v in tensors.items():
            w.add_tensor("t." + t, v, t)
        w.add_tensor("bias", np.arange(5, dtype=np.float32))
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "m.gguf")
            w.write(path)
            r = GGUFReader(path)
            size = os.path.getsize(path)
        self.assertEqual(r.data_start % 32, 0)
        for t, v in tensors.items():
            info = r.tensors["t." + t]
            self.assertEqual(info.dims, [256, 3])
            self.assertEqual(info.type_name, t)
            self.assertEqual(info.offset % 32, 0)
            self.assertLessEqual(rel_rms(r.tensor_values("t." + t), v), BOUNDS[t], t)
        np.testing.assert_array_equal(r.tensor_values("bias"), np.arange(5))
        last = max(r.tensors.values(), key=lambda t: t.offset)
        self.assertEqual(size, r.data_start + last.offset + last.nbytes + (-last.nbytes % 32))

    def test_refuses_wrong_sizes_and_duplicates(self):
        w = GGUFWriter()
        w.add("k", "v")
        with self.assertRaises(ValueError):
            w.add("k", "again")
        with self.assertRaises(ValueError):
            w.add_tensor("t", np.zeros((2, 100), np.float32), "Q4_K")
        with self.assertRaises(ValueError):
            w.add_raw_tensor("t", [32, 1], "Q8_0", b"\0" * 33)
        with self.assertRaises(TypeError):
            w.add("int", 3)  # integers need an explicit type


class Quantizers(unittest.TestCase):
    def test_error_within_each_types_grid(self):
        x = np.random.default_rng(1).standard_normal((16, 512)).astype(np.float32)
        for t in TYPES:
            y = ggml_quants.dequantize(ggml_quants.quantize(x, t), t, x.size).reshape(x.shape)
            self.assertLessEqual(rel_rms(y, x), BOUNDS[t], t)

    def test_dequantize_matches_the_golden_blocks(self):
        # tests/data/llm/dequant: blocks and their values as ggml's reference
        # dequantization gives them, every type the reader knows (Q4_1, Q5_0
        # and Q5_1 are read, not written, here).
        golden = os.path.join(HERE, "..", "data", "llm", "dequant")
        for t in ggml_quants.TYPES:
            if t == "F32":
                continue
            blocks = np.load(os.path.join(golden, f"{t}.blocks.npy"))
            values = np.load(os.path.join(golden, f"{t}.values.npy")).astype(np.float32).reshape(-1)
            y = ggml_quants.dequantize(blocks.tobytes(), t, values.size)
            np.testing.assert_array_equal(y.view(np.uint32), values.view(np.uint32), err_msg=t)

    def test_block_sizes_match_ggml(self):
        x = np.zeros((1, 256), np.float32)
        sizes = {"F32": 1024, "F16": 512, "BF16": 512, "Q8_0": 8 * 34, "Q4_0": 8 * 18, "Q4_K": 144,
                 "Q5_K": 176, "Q6_K": 210}
        for t, size in sizes.items():
            self.assertEqual(ggml_quants.quantize(x, t).shape, (1, size), t)

    def test_zero_constant_and_one_signed_blocks(self):
        rows = np.stack([np.zeros(256), np.full(256, 0.5), np.linspace(0.1, 2.0, 256),
                         -np.linspace(0.1, 2.0, 256)]).astype(np.float32)
        for t in TYPES:
            y = ggml_quants.dequantize(ggml_quants.quantize(rows, t), t, rows.size).reshape(rows.shape)
            np.testing.assert_array_equal(y[0], 0, err_msg=t)
            self.assertTrue(np.isfinite(y).all(), t)
            for row in range(1, 4):
                self.assertLessEqual(rel_rms(y[row], rows[row]), BOUNDS[t], f"{t} row {row}")


class QuantizeGguf(unittest.TestCase):
    def quantize(self, src, kind):
        d = tempfile.mkdtemp()
        out = os.path.join(d, f"m-{kind}.gguf")
        quantize_gguf.quantize_file(src, out, kind)
        r = GGUFReader(out)
        os.remove(out)
        os.rmdir(d)
        return r

    def test_plain_type_for_matrices_f32_for_vectors(self):
        src = GGUFReader(LLAMA)
        r = self.quantize(LLAMA, "Q8_0")
        self.assertEqual(r.metadata["general.file_type"], 7)
        self.assertEqual(r.metadata["general.quantization_version"], 2)
        self.assertEqual(r.metadata["tokenizer.ggml.tokens"], src.metadata["tokenizer.ggml.tokens"])
        for name, t in r.tensors.items():
            self.assertEqual(t.type_name, "Q8_0" if len(t.dims) == 2 else "F32", name)
            self.assertEqual(t.dims, src.tensors[name].dims)
            self.assertLessEqual(rel_rms(r.tensor_values(name), src.tensor_values(name)), 1e-2, name)

    def test_q4_k_m_mix(self):
        llama = self.quantize(LLAMA, "Q4_K_M")
        self.assertEqual(llama.metadata["general.file_type"], 15)
        types = {n: t.type_name for n, t in llama.tensors.items()}
        self.assertEqual(types["output.weight"], "Q6_K")
        self.assertEqual(types["token_embd.weight"], "Q4_K")
        # 3 layers: llama.cpp's use_more_bits picks the last one.
        self.assertEqual([types[f"blk.{i}.attn_v.weight"] for i in range(3)], ["Q4_K", "Q4_K", "Q6_K"])
        self.assertEqual([types[f"blk.{i}.ffn_down.weight"] for i in range(3)], ["Q4_K", "Q4_K", "Q6_K"])
        self.assertEqual(types["blk.0.attn_q.weight"], "Q4_K")
        self.assertEqual(types["blk.0.attn_norm.weight"], "F32")
        qwen2 = self.quantize(QWEN2, "Q4_K_M")
        types = {n: t.type_name for n, t in qwen2.tensors.items()}
        self.assertNotIn("output.weight", types)
        self.assertEqual(types["token_embd.weight"], "Q6_K")  # tied: it is the output
        self.assertEqual(types["blk.0.attn_q.bias"], "F32")

    def test_unknown_type_refused(self):
        with self.assertRaises(ValueError):
            quantize_gguf.quantize_file(LLAMA, os.devnull, "Q3_K")


class TorchReference(unittest.TestCase):
    def test_matches_llama_cpp(self):
        import torch
        import torch_reference
        torch.set_num_threads(1)
        for model in (LLAMA, QWEN2):
            golden = np.load(model[:-len(".gguf")] + ".llama-cpp.npz")
            ref = torch_reference.Reference(model)
            logits = ref.logits(golden["tokens"].tolist()).numpy()
            expected = golden["logits"].astype(np.float64)
            scale = np.abs(expected).max(axis=1, keepdims=True)
            self.assertLessEqual(float((np.abs(logits - expected) / scale).max()), 1e-4, model)
            # llama.cpp's greedy continuation: the argmax at each position of
            # prompt + continuation (causal, so one forward does it).
            tokens = golden["tokens"].tolist() + golden["generated"].tolist()
            n = len(golden["tokens"])
            predicted = ref.logits(tokens).numpy()[n - 1:-1].argmax(axis=1)
            np.testing.assert_array_equal(predicted, golden["generated"], err_msg=model)


if __name__ == "__main__":
    unittest.main()
