#!/usr/bin/python3
"""`berth tokenize` and `berth detokenize` on small vocabulary files written
here (no reference files needed): ids one per line with BOS, the flags,
--file and --lines, the round trip, and bad vocabularies refused with one
line and exit 1."""
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


def gguf(kvs):
    """kvs: list of (key, type id, packed value); no tensors."""
    out = b"GGUF" + struct.pack("<IQQ", 3, 0, len(kvs))
    for key, kind, value in kvs:
        out += string(key) + struct.pack("<I", kind) + value
    return out


def strings(values):
    return struct.pack("<IQ", 8, len(values)) + b"".join(string(v) for v in values)


def numbers(fmt, kind, values):
    return struct.pack("<IQ", kind, len(values)) + b"".join(struct.pack("<" + fmt, v) for v in values)


SPACE = "\u2581"
# SentencePiece: <unk> <s> </s>, the byte tokens, then words that grow one
# character at a time (the longer, the better the score) and single letters.
WORDS = [SPACE + "Hello"[:n] for n in range(6)] + [SPACE + "world"[:n] for n in range(1, 6)] + list("Helo")
SPM_TOKENS = ["<unk>", "<s>", "</s>"] + [f"<0x{b:02X}>" for b in range(256)] + WORDS + ["<|user|>"]
SPM_IDS = {text: i for i, text in enumerate(SPM_TOKENS)}
SPM = gguf([
    ("tokenizer.ggml.model", 8, string("llama")),
    ("tokenizer.ggml.tokens", 9, strings(SPM_TOKENS)),
    ("tokenizer.ggml.scores", 9, numbers("f", 6, [0.0] * 259 + [float(len(w)) for w in WORDS] + [0.0])),
    ("tokenizer.ggml.token_type", 9, numbers("i", 5, [2, 3, 3] + [6] * 256 + [1] * len(WORDS) + [4])),
    ("tokenizer.ggml.bos_token_id", 4, struct.pack("<I", 1)),
    ("tokenizer.ggml.eos_token_id", 4, struct.pack("<I", 2)),
    ("tokenizer.ggml.add_bos_token", 7, struct.pack("<B", 1)),
])


class TokenizeCli(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.TemporaryDirectory()
        self.vocab = self.write("spm.gguf", SPM)

    def tearDown(self):
        self.dir.cleanup()

    def write(self, name, data):
        path = os.path.join(self.dir.name, name)
        with open(path, "wb") as f:
            f.write(data)
        return path

    def berth(self, *args):
        return subprocess.run([BERTH] + list(args), capture_output=True, timeout=60)

    def ids(self, *args):
        result = self.berth("tokenize", self.vocab, *args)
        self.assertEqual(result.returncode, 0, result.stderr)
        return [int(line) for line in result.stdout.decode().split()]

    def test_ids_as_a_prompt_one_per_line(self):
        result = self.berth("tokenize", self.vocab, "Hello world")
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertEqual(result.stdout.decode(), f"1\n{SPM_IDS[SPACE + 'Hello']}\n{SPM_IDS[SPACE + 'world']}\n")
        self.assertEqual(self.ids("--no-special", "Hello"), [SPM_IDS[SPACE + "Hello"]])

    def test_special_tokens_only_with_parse_special(self):
        self.assertEqual(self.ids("--no-special", "--parse-special", "<s>"), [1])
        self.assertNotIn(1, self.ids("--no-special", "<s>"))
        # A user-defined token is split out either way.
        self.assertIn(SPM_IDS["<|user|>"], self.ids("--no-special", "Hello<|user|>"))

    def test_file_bytes_and_byte_fallback(self):
        path = self.write("text.bin", b"H\n\xff")
        self.assertEqual(self.ids("--no-special", "--file", path),
                         [SPM_IDS[SPACE + "H"], 3 + 0x0A, 3 + 0xFF])

    def test_lines_one_line_of_ids_per_line(self):
        path = self.write("lines.txt", b"Hello\nworld\\nHello\n\nHello world\n")
        result = self.berth("tokenize", self.vocab, "--file", path, "--lines", "--unescape", "--no-special")
        self.assertEqual(result.returncode, 0, result.stderr)
        hello, world = SPM_IDS[SPACE + "Hello"], SPM_IDS[SPACE + "world"]
        # The line break is a byte token; "Hello" without a space before it
        # has no token of its own: letter by letter.
        letters = " ".join(str(SPM_IDS[c]) for c in "Hello")
        expected = [str(hello), f"{world} {3 + 0x0A} {letters}", "", f"{hello} {world}"]
        self.assertEqual(result.stdout.decode().split("\n")[:-1], expected)

    def test_detokenize_round_trip(self):
        ids = self.ids("--no-special", "Hello world\n")
        result = self.berth("detokenize", self.vocab, *[str(i) for i in ids])
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertEqual(result.stdout, b"Hello world\n")
        lines = self.write("ids.txt", " ".join(str(i) for i in ids).encode() + b"\n1 2\n")
        result = self.berth("detokenize", self.vocab, "--file", lines, "--lines", "--special")
        self.assertEqual(result.stdout, b"Hello world\\n\n<s></s>\n")

    def test_bad_input_is_one_line_and_exit_1(self):
        t5 = self.write("t5.gguf", SPM.replace(string("llama"), string("t5___")))
        cases = [
            (["tokenize", t5, "x"], "tokenizer.ggml.model 't5___' is not supported (supported: llama, gpt2)"),
            (["tokenize", os.path.join(self.dir.name, "missing.gguf"), "x"], "missing.gguf"),
            (["tokenize", self.write("junk.gguf", b"junk"), "x"], "junk.gguf"),
            (["detokenize", self.vocab, "12", "x"], "'x' is not a token id"),
            (["detokenize", self.vocab, "99999"], "outside the vocabulary"),
        ]
        for args, words in cases:
            result = self.berth(*args)
            stderr = result.stderr.decode()
            self.assertEqual(result.returncode, 1, args)
            self.assertIn(words, stderr)
            self.assertTrue(stderr.startswith("berth: error: "), stderr)
            self.assertEqual(len(stderr.strip().splitlines()), 1, stderr)


if __name__ == "__main__":
    berth_cli_test.main(sys.modules[__name__])
