#!/usr/bin/python3
"""Checks the source tree against the rules of docs/ARCHITECTURE.md:

  - every #include "..." between berth's folders goes down the floors, never
    up or sideways (the table FLOORS below: engine never includes server,
    kernels never the runtime, the HTTP transport never a protocol, nothing
    includes the cli), and third-party headers stay in the floors made for
    them (ONNX's protobufs in engine/onnx, libcurl in fetch, ...);
  - no file under src/ is over 1000 lines;
  - no function under src/ is over 120 lines.

  scripts/check-source.py [--root DIR] [--max-file-lines N] [--max-function-lines N]

Prints one line per violation (file:line: what) and exits 1 when there is
any. make test runs it (ctest check_source), and a test shows it catching a
wrong-way include (tests/tools/check_source_test.py).
"""
import argparse
import os
import re
import sys

# Floors, most specific folder first: (folder under src/, floor name).
FOLDERS = [
    ("core", "core"),
    ("engine/onnx", "engine/onnx"),
    ("engine/ops", "engine/ops"),
    ("engine/kernels", "engine/kernels"),
    ("engine/runtime", "engine/runtime"),
    ("engine/optimizer", "engine/optimizer"),
    ("engine", "engine"),
    ("server/backends", "server/backends"),
    ("server/http", "server/http"),
    ("server/kserve", "server/kserve"),
    ("server/openai", "server/openai"),
    ("server/json", "server/json"),
    ("server", "server"),
    ("fetch", "fetch"),
    ("llm/grammar", "llm/grammar"),
    ("llm", "llm"),
    ("cli", "cli"),
]

# Which floors each floor may include (itself always).
FLOORS = {
    "core": [],
    "engine/onnx": ["core"],
    "engine/ops": ["core", "engine/onnx"],
    "engine/kernels": ["core", "engine/onnx", "engine/ops"],
    "engine/runtime": ["core", "engine/onnx", "engine/ops", "engine/kernels"],
    "engine/optimizer": ["core", "engine/onnx", "engine/ops", "engine/kernels", "engine/runtime"],
    "engine": ["core", "engine/onnx", "engine/ops", "engine/kernels", "engine/runtime", "engine/optimizer"],
    "server": ["core"],
    "server/backends": ["core", "server", "engine", "engine/onnx", "engine/ops", "llm", "llm/grammar"],
    "server/http": ["core", "server"],
    "server/json": ["core"],
    "server/kserve": ["core", "server", "server/http", "server/json"],
    "server/openai": ["core", "server", "server/http", "server/json"],
    "fetch": ["core"],
    "llm": ["core"],
    "llm/grammar": ["core", "llm"],
    "cli": [floor for _, floor in FOLDERS],
}

# Third-party headers (by prefix) and the floors that may include them.
THIRD_PARTY = [
    ("onnx/", ["engine/onnx"]),
    ("google/protobuf/", ["engine/onnx", "server", "server/kserve"]),
    ("oneapi/dnnl", ["engine/kernels", "engine/runtime", "engine/optimizer", "engine", "cli"]),
    ("curl/", ["fetch"]),
    ("openssl/", ["fetch", "server/http"]),
    ("zlib.h", ["server/http"]),
    ("boost/beast", ["server/http", "server/kserve", "cli"]),
    ("boost/asio", ["server/http", "server/kserve", "cli"]),
    # llm/grammar reads JSON Schemas (response_format) into grammars.
    ("rapidjson/", ["server/json", "server/kserve", "server/openai", "llm/grammar"]),
    ("CLI/", ["cli"]),
]

INCLUDE = re.compile(r'^\s*#\s*include\s*([<"])([^>"]+)[>"]')


def floor_of(relative):
    """The floor of a path relative to src/ (or None outside the floors)."""
    for folder, floor in FOLDERS:
        if relative == folder or relative.startswith(folder + "/"):
            return floor
    return None


def check_includes(src, path, lines, problems):
    relative = os.path.relpath(path, src)
    floor = floor_of(relative)
    if floor is None:
        return
    allowed = set(FLOORS[floor]) | {floor}
    for number, line in enumerate(lines, 1):
        match = INCLUDE.match(line)
        if not match:
            continue
        kind, target = match.groups()
        if kind == '"':
            target_floor = floor_of(target)
            if target_floor is None:
                continue  # a generated or local header outside the floors
            if target_floor not in allowed:
                problems.append(f"{path}:{number}: {floor} may not include {target} ({target_floor}); "
                                f"it may include {', '.join(sorted(allowed))}")
        else:
            for prefix, floors in THIRD_PARTY:
                if target.startswith(prefix) and floor not in floors:
                    problems.append(f"{path}:{number}: {floor} may not include <{target}> "
                                    f"(only {', '.join(floors)})")


def strip_code(text):
    """The text with comments, string and character literals blanked out
    (newlines kept, so line numbers stay)."""
    out = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            out.append(" " * (j - i))
            i = j
        elif text.startswith("/*", i):
            j = text.find("*/", i + 2)
            j = n if j < 0 else j + 2
            out.append(re.sub(r"[^\n]", " ", text[i:j]))
            i = j
        elif c == 'R' and text.startswith('R"', i) and (i == 0 or not (text[i - 1].isalnum() or text[i - 1] == "_")):
            open_paren = text.find("(", i + 2)
            delimiter = text[i + 2:open_paren]
            end = text.find(")" + delimiter + '"', open_paren)
            j = n if end < 0 else end + len(delimiter) + 2
            out.append(re.sub(r"[^\n]", " ", text[i:j]))
            i = j
        elif c in "\"'":
            if c == "'" and i > 0 and text[i - 1].isalnum():  # digit separator 1'000
                out.append(c)
                i += 1
                continue
            j = i + 1
            while j < n and text[j] != c and text[j] != "\n":
                j += 2 if text[j] == "\\" else 1
            j = min(j + 1, n)
            out.append(c + " " * (j - i - 2) + c if j - i >= 2 else text[i:j])
            i = j
        else:
            out.append(c)
            i += 1
    return "".join(out)


CONTROL = re.compile(r"\b(if|for|while|switch|catch|do|else|return)\s*$")


def function_lengths(text):
    """(name, first line, line count) of every function body defined at
    namespace or class scope. A '{' opens a function body when the code
    before it (since the last ';', '{' or '}') holds a parameter list and is
    not a control statement, an initializer or a lambda."""
    code = strip_code(text)
    functions = []
    stack = []  # per open brace: "function", "scope" or "block"
    statement_start = 0
    function_depth = 0
    for i, c in enumerate(code):
        if c == "{":
            head = code[statement_start:i]
            kind = "block"
            if function_depth == 0:
                flat = " ".join(head.split())
                if re.search(r"\b(namespace|class|struct|union|enum)\b[^()]*$", flat) or flat.startswith("extern"):
                    kind = "scope"
                elif ")" in flat and not CONTROL.search(flat.split("(")[0]) and not flat.endswith("=") \
                        and not re.search(r"=\s*\[", flat) and not flat.endswith(("(", ",")):
                    kind = "function"
                elif flat == "" or flat.endswith(("=", ",", "(", "return")):
                    kind = "block"
                else:
                    kind = "scope" if "(" not in flat else "block"
            if kind == "function":
                name_match = re.search(r"([~\w:<>]+)\s*\(", " ".join(head.split()))
                first_line = code.count("\n", 0, statement_start + len(head) - len(head.lstrip())) + 1
                stack.append(("function", first_line, name_match.group(1) if name_match else "?"))
                function_depth += 1
            else:
                stack.append((kind, 0, ""))
                if function_depth:
                    function_depth += 1
            statement_start = i + 1
        elif c == "}":
            if stack:
                kind, first_line, name = stack.pop()
                if function_depth:
                    function_depth -= 1
                if kind == "function":
                    last_line = code.count("\n", 0, i) + 1
                    functions.append((name, first_line, last_line - first_line + 1))
            statement_start = i + 1
        elif c == ";":
            statement_start = i + 1
        elif c == "#" and (i == 0 or code[i - 1] == "\n"):
            statement_start = code.find("\n", i) + 1 or len(code)
    return functions


def source_files(src):
    for directory, _, names in os.walk(src):
        for name in sorted(names):
            if name.endswith((".h", ".cc")):
                yield os.path.join(directory, name)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--root", default=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    parser.add_argument("--max-file-lines", type=int, default=1000)
    parser.add_argument("--max-function-lines", type=int, default=120)
    args = parser.parse_args()
    src = os.path.join(args.root, "src")
    problems = []
    files = 0
    for path in sorted(source_files(src)):
        files += 1
        with open(path, encoding="utf-8") as f:
            text = f.read()
        lines = text.split("\n")
        check_includes(src, path, lines, problems)
        if len(lines) - 1 > args.max_file_lines:
            problems.append(f"{path}:1: {len(lines) - 1} lines, over {args.max_file_lines}")
        for name, first_line, count in function_lengths(text):
            if count > args.max_function_lines:
                problems.append(f"{path}:{first_line}: function {name} is {count} lines, over "
                                f"{args.max_function_lines}")
    for problem in problems:
        print(problem)
    print(f"check-source: {files} files, {len(problems)} problem{'' if len(problems) == 1 else 's'}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
