#!/bin/sh
# Installs llama.cpp as the LLM tests' and bench's reference: node-llama-cpp
# 3.22.1 with its prebuilt linux-x64 library (npm, into tests/llm/ref), and
# the vocabulary-only GGUF files with golden tokenizer vectors from the
# llama.cpp source it bundles (into tests/llm/ref/vocab). Idempotent; a
# machine without npm or without the registry gets a message and exit 0 —
# the tests that need the reference then skip, saying why.
set -eu
here=$(cd "$(dirname "$0")/.." && pwd)
ref="$here/tests/llm/ref"
if [ ! -f "$ref/node_modules/node-llama-cpp/package.json" ] || [ ! -d "$ref/node_modules/@node-llama-cpp/linux-x64" ]; then
  if ! command -v npm >/dev/null 2>&1; then
    echo "install-llama-ref: npm missing; LLM reference tests will skip" >&2
    exit 0
  fi
  # --omit=optional: the GPU builds (725 MB) are optional dependencies.
  if ! npm install --prefix "$ref" --omit=optional --no-audit --no-fund --ignore-scripts \
      node-llama-cpp@3.22.1 @node-llama-cpp/linux-x64@3.22.1 openai@6 >"$ref/npm.log" 2>&1; then
    echo "install-llama-ref: npm install failed (see $ref/npm.log); LLM reference tests will skip" >&2
    exit 0
  fi
fi
if [ ! -f "$ref/vocab/.done" ]; then
  bundle="$ref/node_modules/node-llama-cpp/llama/gitRelease.bundle"
  rm -rf "$ref/vocab" "$ref/llama.git"
  git clone -q --bare "$bundle" "$ref/llama.git"
  mkdir -p "$ref/vocab"
  git --git-dir="$ref/llama.git" archive HEAD models | tar -x -C "$ref/vocab" --strip-components=1 --wildcards 'models/ggml-vocab-*'
  # llama.h and ggml's headers, for the small C program that runs llama.cpp's
  # own quantizer (tests/llm/ref/quantize.c).
  rm -rf "$ref/include"
  mkdir -p "$ref/include"
  git --git-dir="$ref/llama.git" archive HEAD include | tar -x -C "$ref/include" --strip-components=1
  git --git-dir="$ref/llama.git" archive HEAD ggml/include | tar -x -C "$ref/include" --strip-components=2
  rm -rf "$ref/llama.git"
  touch "$ref/vocab/.done"
fi
# llama.cpp's quantizer, linked against the prebuilt library.
bins="$ref/node_modules/@node-llama-cpp/linux-x64/bins/linux-x64"
if [ ! -x "$ref/bin/quantize" ] || [ "$ref/quantize.c" -nt "$ref/bin/quantize" ]; then
  mkdir -p "$ref/bin"
  cc -O1 -o "$ref/bin/quantize" "$ref/quantize.c" -I"$ref/include" \
    "$bins"/libllama.v*.so "$bins"/libggml.v*.so "$bins/libggml-base.so" -Wl,-rpath,"$bins"
fi
