"""Byte-level BPE as GPT-2 and Qwen2 use it, trained from scratch.

Tokens are strings over GPT-2's byte-to-unicode alphabet (every byte a
printable character: bytes_to_unicode()); token ids: the 256 single bytes
(id = byte value), then one token per merge in merge order, then the special
tokens. Text is split into words by a regex close to Qwen2's pre-tokenizer
(ASCII letters and digits stand in for \\p{L} and \\p{N}; Python's re has no
Unicode classes) before merging. What llama.cpp does at run time is defined
by the merges and its own qwen2 pre-tokenizer, not by this file.
"""
import collections
import json
import re

SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]

_L = r"[^\W\d_]"  # letters
_PRE = re.compile(
    r"'(?:[sS]|[tT]|[rR][eE]|[vV][eE]|[mM]|[lL][lL]|[dD])"
    rf"|(?:[^\r\n\w]|_)?{_L}+"
    r"|\d"
    r"| ?(?:[^\s\w]|_)+[\r\n]*"
    r"|\s*[\r\n]+"
    r"|\s+(?!\S)"
    r"|\s+")


def bytes_to_unicode():
    """GPT-2's map from the 256 bytes to printable unicode characters."""
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) \
        + list(range(ord("®"), ord("ÿ") + 1))
    chars = printable[:]
    n = 0
    for b in range(256):
        if b not in printable:
            printable.append(b)
            chars.append(256 + n)
            n += 1
    return dict(zip(printable, map(chr, chars)))


BYTE_CHARS = bytes_to_unicode()
CHAR_BYTES = {c: b for b, c in BYTE_CHARS.items()}


def pre_split(text):
    return _PRE.findall(text)


def to_symbols(word):
    return "".join(BYTE_CHARS[b] for b in word.encode("utf-8"))


class ByteBPE:
    def __init__(self, merges, specials=SPECIALS):
        self.merges = [tuple(m) for m in merges]
        self.specials = list(specials)
        self.ranks = {m: i for i, m in enumerate(self.merges)}
        self._tokens = [BYTE_CHARS[b] for b in range(256)] + [a + b for a, b in self.merges] + self.specials
        self.ids = {t: i for i, t in enumerate(self._tokens)}
        if len(self.ids) != len(self._tokens):
            raise ValueError("duplicate tokens")
        self._cache = {}

    def tokens(self):
        return list(self._tokens)

    def merge_strings(self):
        return [f"{a} {b}" for a, b in self.merges]

    def special_id(self, text):
        return self.ids[text]

    def is_special(self, token_id):
        return token_id >= len(self._tokens) - len(self.specials)

    def _encode_word(self, word):
        cached = self._cache.get(word)
        if cached is not None:
            return cached
        parts = list(to_symbols(word))
        while len(parts) > 1:
            best, best_rank = None, None
            for i in range(len(parts) - 1):
                rank = self.ranks.get((parts[i], parts[i + 1]))
                if rank is not None and (best_rank is None or rank < best_rank):
                    best, best_rank = i, rank
            if best is None:
                break
            parts[best:best + 2] = [parts[best] + parts[best + 1]]
        ids = [self.ids[p] for p in parts]
        self._cache[word] = ids
        return ids

    def encode(self, text):
        """Plain text (special tokens are not parsed) to ids."""
        out = []
        for word in pre_split(text):
            out.extend(self._encode_word(word))
        return out

    def decode(self, ids):
        data = bytearray()
        for i in ids:
            token = self._tokens[i]
            if self.is_special(i):
                data += token.encode("utf-8")
            else:
                data += bytes(CHAR_BYTES[c] for c in token)
        return data.decode("utf-8", errors="replace")

    def save(self, path):
        with open(path, "w", encoding="utf-8") as f:
            json.dump({"merges": [list(m) for m in self.merges], "specials": self.specials}, f,
                      ensure_ascii=False, indent=0)

    @staticmethod
    def load(path):
        with open(path, encoding="utf-8") as f:
            d = json.load(f)
        return ByteBPE(d["merges"], d["specials"])


def train(lines, vocab_size, specials=SPECIALS, log=None):
    """Learns vocab_size - 256 - len(specials) merges from the words of
    `lines`, most frequent pair first (ties: the pair seen first)."""
    n_merges = vocab_size - 256 - len(specials)
    counts = collections.Counter()
    for line in lines:
        counts.update(pre_split(line))
    words = [list(to_symbols(w)) for w in counts]
    freq = list(counts.values())
    pairs = collections.Counter()
    where = collections.defaultdict(set)  # pair -> indices of words holding it
    for wi, symbols in enumerate(words):
        for pair in zip(symbols, symbols[1:]):
            pairs[pair] += freq[wi]
            where[pair].add(wi)
    merges = []
    for step in range(n_merges):
        if not pairs:
            break
        best = max(pairs.items(), key=lambda kv: kv[1])[0]
        merges.append(best)
        merged = best[0] + best[1]
        for wi in list(where[best]):
            symbols = words[wi]
            for pair in zip(symbols, symbols[1:]):
                pairs[pair] -= freq[wi]
                if pairs[pair] <= 0:
                    del pairs[pair]
            out = []
            i = 0
            while i < len(symbols):
                if i + 1 < len(symbols) and symbols[i] == best[0] and symbols[i + 1] == best[1]:
                    out.append(merged)
                    i += 2
                else:
                    out.append(symbols[i])
                    i += 1
            words[wi] = out
            for pair in zip(out, out[1:]):
                pairs[pair] += freq[wi]
                where[pair].add(wi)
        del where[best]
        if log and (step + 1) % 200 == 0:
            log(f"merge {step + 1}/{n_merges}: {best[0]!r} + {best[1]!r}")
    return ByteBPE(merges, specials)
