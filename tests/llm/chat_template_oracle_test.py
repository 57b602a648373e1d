#!/usr/bin/python3
"""berth's chat-template interpreter (src/llm/template/) against
@huggingface/jinja, the Jinja of transformers.js (installed with
node-llama-cpp by `make llm-ref`), on the real templates of
tests/data/llm/chat_templates/: every template with every conversation
below, with and without add_generation_prompt. Both must give the same
bytes, or both must refuse (a template that rejects a system message or
turns that do not alternate).

  chat_template_oracle_test.py --render build/tests/chat_template_render [--templates DIR]

Exits 77 (skipped) when node or @huggingface/jinja is missing.
"""
import argparse
import glob
import json
import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
NOW = 1721995200  # 2024-07-26 12:00 UTC, what strftime_now sees

TOOLS = [{"type": "function", "function": {
    "name": "get_weather", "description": "Get the weather in a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string", "description": "The city"}},
                   "required": ["city"]}}}]

LONG = "\n".join(f"Line {i}: the quick brown fox jumps over the lazy dog." for i in range(200))

CONVERSATIONS = {
    "system_user": [("system", "You are a helpful assistant."), ("user", "Hello!")],
    "user": [("user", "What is 2 + 2?")],
    "multi_turn": [("user", "Hi"), ("assistant", "Hello! How can I help?"), ("user", "Tell me a joke.")],
    "system_multi_turn": [("system", "Be brief."), ("user", "Hi"), ("assistant", "Hello."), ("user", "Bye")],
    "assistant_last": [("user", "Hi"), ("assistant", "Hello there.")],
    "unicode_quotes": [("user", "Héllo \"quoted\" 'single' \\ back\\slash ✓ 日本語 😀 {{ not a tag }} {% raw %}"),
                       ("assistant", "Ça va? «ok» — “curly” ‘quotes’ \t tab"), ("user", "Ещё раз: <b>&amp;</b>")],
    "empty": [("user", "")],
    "whitespace": [("system", "  spaced system  "), ("user", "\n  leading and trailing  \n\n")],
    "long": [("system", "You are terse."), ("user", LONG)],
    "not_alternating": [("user", "one"), ("user", "two")],
    "tools": [("system", "Use tools when needed."), ("user", "Weather in Paris?")],
}

# Templates where berth renders and @huggingface/jinja refuses, with the
# reference's error (both are bugs of the reference, not of the templates;
# transformers, on Python's Jinja, renders them as berth does):
#  - Hermes loops over `tools` without asking whether there are any: in
#    Jinja an undefined value iterates as empty, the reference throws.
#  - functionary v3.2 loops `for field, name in [("maximum", "Maximum"), ...]`
#    over tuple literals; the reference refuses to unpack tuples.
BERTH_RENDERS_WHERE_REFERENCE_FAILS = {
    "NousResearch-Hermes-2-Pro-Llama-3-8B-tool_use": "Expected iterable or object type in for loop: got UndefinedValue",
    "NousResearch-Hermes-3-Llama-3.1-8B-tool_use": "Expected iterable or object type in for loop: got UndefinedValue",
    "meetkai-functionary-medium-v3.2": "Cannot unpack non-iterable type: TupleValue",
}


def make_cases(templates):
    cases, keys = [], []
    for name in sorted(templates):
        for conversation, turns in CONVERSATIONS.items():
            for generation_prompt in (True, False):
                context = {"messages": [{"role": r, "content": c} for r, c in turns], "bos_token": "<s>",
                           "eos_token": "</s>", "add_generation_prompt": generation_prompt}
                if conversation == "tools":
                    context["tools"] = TOOLS
                cases.append({"template": name, "context": context})
                keys.append((name, conversation, generation_prompt))
    return cases, keys


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--render", required=True)
    parser.add_argument("--templates", default=os.path.join(HERE, "..", "data", "llm", "chat_templates"))
    args = parser.parse_args()
    modules = os.environ.get("BERTH_NODE_MODULES", os.path.join(HERE, "ref", "node_modules"))
    if shutil.which("node") is None or not os.path.isdir(os.path.join(modules, "@huggingface", "jinja")):
        print("skipped: node or @huggingface/jinja missing (make llm-ref)")
        return 77
    templates = {os.path.basename(p)[:-len(".jinja")]: os.path.abspath(p)
                 for p in glob.glob(os.path.join(args.templates, "*.jinja"))}
    cases, keys = make_cases(templates)
    env = dict(os.environ, TZ="UTC", BERTH_NODE_MODULES=modules)
    with tempfile.TemporaryDirectory() as tmp:
        cases_path, reference_path = os.path.join(tmp, "cases.json"), os.path.join(tmp, "reference.json")
        with open(cases_path, "w", encoding="utf-8") as f:
            json.dump({"templates": templates, "cases": cases}, f, ensure_ascii=False)
        subprocess.run(["node", os.path.join(HERE, "chat_template_oracle.mjs"), cases_path, reference_path, str(NOW)],
                       check=True, env=env)
        with open(reference_path, encoding="utf-8") as f:
            reference = json.load(f)
        berth = json.loads(subprocess.run([args.render, cases_path, str(NOW)], check=True, env=env,
                                          capture_output=True).stdout.decode("utf-8", errors="surrogateescape"))
    counts, failures = {}, []
    for key, want, have in zip(keys, reference, berth):
        name, conversation, generation_prompt = key
        count = counts.setdefault(name, {"same": 0, "both_refuse": 0, "accepted": 0, "total": 0})
        count["total"] += 1
        if want["ok"] and have["ok"] and want["text"] == have["text"]:
            count["same"] += 1
        elif not want["ok"] and not have["ok"]:
            count["both_refuse"] += 1
        elif (not want["ok"] and have["ok"] and
              BERTH_RENDERS_WHERE_REFERENCE_FAILS.get(name, "\0") in want["error"]):
            count["accepted"] += 1
        elif not any(f.startswith(name + " ") for f in failures):
            failures.append(f"{name} {conversation} add_generation_prompt={generation_prompt}:\n"
                            f"    reference: {json.dumps(want, ensure_ascii=False)[:3000]}\n"
                            f"    berth:     {json.dumps(have, ensure_ascii=False)[:3000]}")
    for name in sorted(counts):
        c = counts[name]
        print(f"{name}: {c['same']} same, {c['both_refuse']} refused by both, {c['accepted']} known "
              f"divergences, of {c['total']}")
    total = sum(c["total"] for c in counts.values())
    differ = total - sum(c["same"] + c["both_refuse"] + c["accepted"] for c in counts.values())
    print(f"{len(counts)} templates, {total} cases, {differ} differ")
    for failure in failures[:30]:
        print(failure)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
