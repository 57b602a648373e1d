"""The King James Bible as plain text, from Debian's bible-kjv packages.

`bible` (package bible-kjv, text in bible-kjv-text) prints verses as
"  N text" with continuation lines wrapped at 80 columns and a "Book N"
header before each chapter. read_chapters() undoes that: one list of verse
strings per chapter, without numbers or headers.
"""
import re
import subprocess

_VERSE = re.compile(r"^  (\d+) (.*)$")
_HEADER = re.compile(r"^(?:[1-3] )?[A-Z][A-Za-z ]+ \d+$")


def bible_output():
    run = subprocess.run(["bible"], input="gen1:1-rev22:21\n", capture_output=True,
                         text=True, check=True)
    return run.stdout


def read_chapters(raw=None):
    """Returns [(header, [verse, ...]), ...] for all 1189 chapters."""
    if raw is None:
        raw = bible_output()
    chapters = []
    verses = None
    previous_blank = False
    lines = raw.splitlines()
    # The banner and the first verse shown on start come before the prompt
    # that echoes the query; another prompt follows the last verse.
    prompts = [i for i, line in enumerate(lines) if line.startswith("bible(")]
    if len(prompts) < 2:
        raise ValueError("unexpected output from bible: no query prompt")
    for line in lines[prompts[0] + 1:prompts[-1]]:
        line = line.rstrip()
        if not line:
            previous_blank = True
            continue
        verse = _VERSE.match(line)
        if verse:
            verses.append(verse.group(2).strip())
        elif previous_blank and _HEADER.match(line):
            verses = []
            chapters.append((line, verses))
        else:
            verses[-1] += " " + line.strip()
        previous_blank = False
    return chapters


def chapter_texts(raw=None):
    """One string per chapter: its verses joined by single spaces."""
    return [" ".join(verses) for _, verses in read_chapters(raw)]


def write_verse_lines(path, raw=None):
    """Writes one verse per line (the corpus the tokenizers train on)."""
    with open(path, "w", encoding="utf-8") as out:
        for _, verses in read_chapters(raw):
            for verse in verses:
                out.write(verse + "\n")


if __name__ == "__main__":
    chapters = read_chapters()
    print(len(chapters), "chapters,", sum(len(v) for _, v in chapters), "verses")
    print(chapters[0][0], chapters[0][1][:2])
    print(chapters[-1][0], chapters[-1][1][-1])
