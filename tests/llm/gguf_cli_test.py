#!/usr/bin/python3
"""`berth inspect` on GGUF files: a small well-formed file described, and
malformed ones refused with one line naming the problem and exit 1; then
`generate`, `bench` and `tokenize` on damaged copies of a real model."""
import os
import struct
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import berth_cli_test  # noqa: E402

BERTH = None  # set by berth_cli_test.main from --berth


def string(s):
    data = s.encode()
    return struct.pack("<Q", len(data)) + data


def gguf(kvs, tensors, data, version=3):
    """kvs: list of (key, type id, packed value); tensors: (name, dims, type, offset)."""
    out = b"GGUF" + struct.pack("<IQQ", version, len(tensors), len(kvs))
    for key, kind, value in kvs:
        out += string(key) + struct.pack("<I", kind) + value
    for name, dims, kind, offset in tensors:
        out += string(name) + struct.pack("<I", len(dims)) + b"".join(struct.pack("<Q", d) for d in dims)
        out += struct.pack("<IQ", kind, offset)
    out += b"\0" * (-len(out) % 32)
    return out + data


GOOD = gguf([("general.architecture", 8, string("llama")),
             ("general.name", 8, string("tiny")),
             ("llama.context_length", 4, struct.pack("<I", 256)),
             ("tokenizer.ggml.model", 8, string("llama")),
             ("tokenizer.ggml.tokens", 9, struct.pack("<IQ", 8, 3) + string("<s>") + string("</s>") + string("a")),
             ("tokenizer.chat_template", 8, string("{{ messages }}"))],
            [("token_embd.weight", [4, 3], 0, 0), ("output.weight", [32, 2], 8, 64)],
            b"\1" * (64 + 68))


class InspectGguf(unittest.TestCase):
    def run_inspect(self, data):
        with tempfile.NamedTemporaryFile(suffix=".gguf") as f:
            f.write(data)
            f.flush()
            return subprocess.run([BERTH, "inspect", f.name], capture_output=True, text=True, timeout=30)

    def test_a_well_formed_file_is_described(self):
        result = self.run_inspect(GOOD)
        self.assertEqual(result.returncode, 0, result.stderr)
        out = result.stdout
        for line in ("architecture: llama", "name: tiny", "context length: 256", "vocabulary: 3 tokens (llama)",
                     "parameters: 76", "chat template:\n{{ messages }}", "metadata:"):
            self.assertIn(line, out)
        self.assertRegex(out, r"F32 +1 tensors")
        self.assertRegex(out, r"Q8_0 +1 tensors")

    def test_malformed_files_are_one_line_errors(self):
        cases = [
            (b"GGUX" + GOOD[4:], "not a GGUF file"),
            (GOOD[:-1], "goes past the end of the data section"),
            (gguf([("k", 9, struct.pack("<IQ", 9, 1) * 50)], [], b""), "array of arrays"),
            (gguf([], [("t", [33], 8, 0)], b"\0" * 64), "not a multiple of its block of 32"),
        ]
        for data, words in cases:
            result = self.run_inspect(data)
            self.assertEqual(result.returncode, 1, words)
            self.assertIn(words, result.stderr)
            self.assertEqual(len(result.stderr.strip().splitlines()), 1, result.stderr)


MODEL = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data", "llm", "models", "kjv-llama-f32.gguf")


class GenerateAndBenchOnBadFiles(unittest.TestCase):
    """The commands that load a whole model refuse a damaged copy of a good
    one the same way: one line naming what is wrong, exit 1."""

    def test_damaged_models_are_one_line_errors(self):
        with open(MODEL, "rb") as f:
            good = f.read()
        cases = [
            (good[: len(good) // 2], "goes past the end of the data section"),
            (good[:12], "cut off by the end of the file"),
            (b"GGUF" + struct.pack("<I", 7) + good[8:], "version 7"),
        ]
        for data, words in cases:
            with tempfile.NamedTemporaryFile(suffix=".gguf") as f:
                f.write(data)
                f.flush()
                for command in (["generate", f.name, "--prompt", "In the beginning", "--max-tokens", "4"],
                                ["bench", f.name, "--prompt-tokens", "4", "--gen-tokens", "2"],
                                ["tokenize", f.name, "In the beginning"]):
                    result = subprocess.run([BERTH] + command, capture_output=True, text=True, timeout=60)
                    self.assertEqual(result.returncode, 1, (command[0], words, result.stderr))
                    self.assertIn(words, result.stderr, command[0])
                    self.assertEqual(len(result.stderr.strip().splitlines()), 1, result.stderr)
                    self.assertEqual(result.stdout, "", command[0])


if __name__ == "__main__":
    berth_cli_test.main(sys.modules[__name__])
