#!/usr/bin/python3
"""1,000 lines of varied text for comparing tokenizers, the same every run
(a fixed seed): words in many scripts, emoji with ZWJ sequences, skin tones
and flags, code, runs of spaces, tabs, newlines and carriage returns,
numbers of many lengths, punctuation runs, English contractions in mixed
case, combining marks, special-token look-alikes, and the odd control or
unassigned code point.

  tests/llm/tokenizer_corpus.py [--count N] [--seed S] > corpus.txt

prints the lines JSON-encoded, one per line (they hold newlines of their own).
"""
import argparse
import json
import random

WORDS = [
    # Latin scripts
    "hello", "world", "Tokenizer", "naïve", "café", "façade", "Übermaß", "straße", "ĳsselmeer", "Ærøskøbing",
    "piñata", "São", "Dvořák", "Łódź", "Ελληνικά", "αβγ", "Σίσυφος", "Москва", "привет", "ЁЖИК", "Україна",
    "Ђорђе", "שלום", "עִבְרִית", "مرحبا", "العربية", "فارسی", "اردو", "हिन्दी", "नमस्ते", "ক্ষমা", "தமிழ்",
    "తెలుగు", "ಕನ್ನಡ", "മലയാളം", "ไทย", "สวัสดีครับ", "ລາວ", "ខ្មែរ", "မြန်မာ", "ქართული", "Հայերեն", "አማርኛ",
    "ᓀᐦᐃᔭᐍᐏᐣ", "中文", "你好世界", "漢字", "日本語", "こんにちは", "カタカナ", "ｶﾀｶﾅ", "한국어", "안녕하세요",
    "ᄀᄂ", "𠜎𠜱", "𝔘𝔫𝔦𝔠𝔬𝔡𝔢", "𝟙𝟚𝟛", "ǅungla", "ﬁnance", "Ⅻ", "½", "²³", "①②", "٣٤٥", "१२३",
    # combining marks and look-alikes
    "e\u0301", "a\u0308o\u0308", "Z\u0351\u0346a\u0344l\u0353g\u0359o", "\u0915\u094d\u0937",
    "e\u20dd", "\u0301x",
]
EMOJI = [
    "😀", "🦙", "🚀", "✅", "❤️", "👍🏽", "👨‍👩‍👧‍👦", "👩🏾‍💻", "🏳️‍🌈", "🇺🇸", "🇯🇵", "1️⃣", "#️⃣", "🧑‍🤝‍🧑",
    "😶‍🌫️", "🫠", "☃", "♥", "⚡", "🔥🔥🔥", "🙂🙃",
]
CODE = [
    "def f(x):\n    return x ** 2\n", "for (int i = 0; i < n; ++i) {\n\tsum += a[i];\n}",
    "if __name__ == \"__main__\":", "{\"key\": [1, 2.5, null, true], \"nested\": {\"a\": \"b\"}}",
    "<div class=\"x\">&amp;&lt;</div>", "SELECT * FROM users WHERE id = 42;", "#include <vector>",
    "std::vector<int32_t> v{1,2,3};", "x = y != z && a || !b", "// comment\n/* block */",
    "^[a-z0-9_-]{3,16}$", "git commit -m 'fix: bug'", "$HOME/.config", "a->b->c", "0x1F 0b1010 0o777",
    "lambda: None", "fn main() -> Result<(), Box<dyn Error>> {", "  - item: value\n    other: 1",
    "C:\\Users\\name\\file.txt", "\\n\\t\\\\",
]
PUNCT = ["!!!", "...", "?!?!", "---", "***", "\"'`", "()[]{}<>", "…", "—", "«»", "„“", "¡¿", "、。", "，", "！？",
         "@#$%^&*", "~~~", "|||", "___", "::", ";;", "''", "\"\"", "''s", "'", " ' ", " , ", " .", "?"]
CONTRACTIONS = ["it's", "don't", "we're", "I've", "I'm", "you'll", "he'd", "IT'S", "DON'T", "We'Re", "I'VE",
                "they'LL", "she'D", "y'all", "o'clock", "rock'n'roll", "'s", "'T", "'re", "'ll", "'m"]
SPECIAL = ["<s>", "</s>", "<unk>", "<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|eot_id|>",
           "<|begin_of_text|>", "[INST]", "<|user|>", "<|assistant|>", "<|end|>", "<fim_prefix>", "<mask>"]
ODD = ["\x00", "\x01", "\x7f", "\x0b", "\x0c", "\x1c", "\x85", "\u00a0", "\u3000", "\u2009", "\u200b",
       "\u2028", "\ufeff", "\u0378", "\ue000", "\U0010fffd", "\ufffd", "\U0001f999\u200d"]


def number(rng):
    kind = rng.randrange(8)
    digits = "".join(rng.choice("0123456789") for _ in range(rng.randint(1, 30)))
    if kind == 0:
        return f"{rng.randint(0, 10**rng.randint(1, 9)):,}"
    if kind == 1:
        return f"{rng.uniform(-1e6, 1e6):.{rng.randint(0, 6)}f}"
    if kind == 2:
        return f"{rng.uniform(0, 1):.3e}"
    if kind == 3:
        return f"+1 ({rng.randint(100, 999)}) {rng.randint(100, 999)}-{rng.randint(1000, 9999)}"
    if kind == 4:
        return f"{rng.randint(1900, 2100)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
    return digits


def spaces(rng):
    pieces = [" " * rng.randint(1, 40), "\t" * rng.randint(1, 4), "\n" * rng.randint(1, 4), "\r\n",
              "\r", " \n ", "\t \t", "\n\n\n   ", "  \t\n"]
    return "".join(rng.choice(pieces) for _ in range(rng.randint(1, 3)))


def mixed_case(rng, word):
    return "".join(c.upper() if rng.random() < 0.5 else c.lower() for c in word)


def fragment(rng):
    kind = rng.randrange(12)
    if kind <= 2:
        return " ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 6)))
    if kind == 3:
        return "".join(rng.choice(EMOJI) for _ in range(rng.randint(1, 4)))
    if kind == 4:
        return rng.choice(CODE)
    if kind == 5:
        return rng.choice(PUNCT) * rng.randint(1, 3)
    if kind == 6:
        return " ".join(rng.choice(CONTRACTIONS) for _ in range(rng.randint(1, 4)))
    if kind == 7:
        return number(rng)
    if kind == 8:
        return spaces(rng)
    if kind == 9:
        return rng.choice(SPECIAL) + rng.choice(["", " ", "\n", "x"])
    if kind == 10:
        return mixed_case(rng, rng.choice(["hello world", "camelCaseName", "snake_case_name", "SCREAMING CASE",
                                           "Title Case Words", rng.choice(WORDS)]))
    return rng.choice(ODD)


def lines(count=1000, seed=20240601):
    rng = random.Random(seed)
    out = []
    for _ in range(count):
        parts = [fragment(rng) for _ in range(rng.randint(1, 6))]
        separators = [rng.choice(["", " ", " ", "  ", "\n", "\t", ", "]) for _ in parts]
        text = "".join(p + s for p, s in zip(parts, separators))
        if rng.random() < 0.2:
            text = rng.choice([" ", "  ", "\n", "\t"]) + text
        out.append(text)
    return out


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=20240601)
    args = parser.parse_args()
    for line in lines(args.count, args.seed):
        print(json.dumps(line, ensure_ascii=False))
