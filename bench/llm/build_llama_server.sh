#!/bin/sh
# Builds llama.cpp's llama-server (CPU only) for bench/llm/serve_bench.py,
# offline, from the llama.cpp source that node-llama-cpp ships as a git
# bundle (tests/llm/ref/node_modules/node-llama-cpp/llama/gitRelease.bundle,
# installed by scripts/install-llama-ref.sh, i.e. `make llm-ref`, which this
# runs when the bundle is missing).
#
#   bench/llm/build_llama_server.sh [-j JOBS]
#
# The bundle is cloned into bench/.llama/src (git-ignored; the clone gives
# llama.cpp's build its commit and build number) and built in
# bench/.llama/build with GGML_NATIVE and OpenMP, static libraries, and
# neither the web UI (its assets come from npm or a download) nor HTTPS,
# tests, examples or the other tools. Only the llama-server target is built.
# Idempotent: a binary newer than the bundle is kept. Prints the binary's
# path on stdout; everything else goes to stderr.
set -eu
jobs=2
while [ $# -gt 0 ]; do
  case "$1" in
    -j) jobs=$2; shift 2 ;;
    -j*) jobs=${1#-j}; shift ;;
    *) echo "usage: $0 [-j JOBS]" >&2; exit 2 ;;
  esac
done
root=$(cd "$(dirname "$0")/../.." && pwd)
bundle="$root/tests/llm/ref/node_modules/node-llama-cpp/llama/gitRelease.bundle"
cache="$root/bench/.llama"
binary="$cache/build/bin/llama-server"

if [ ! -f "$bundle" ]; then
  sh "$root/scripts/install-llama-ref.sh" >&2
fi
if [ ! -f "$bundle" ]; then
  echo "build_llama_server: $bundle missing (make llm-ref needs npm and its registry)" >&2
  exit 1
fi
if [ -x "$binary" ] && [ "$binary" -nt "$bundle" ]; then
  echo "$binary"
  exit 0
fi

# A fresh clone whenever the bundle is newer than the one cloned.
if [ ! -d "$cache/src/.git" ] || [ "$bundle" -nt "$cache/src/.git/HEAD" ]; then
  rm -rf "$cache/src" "$cache/build"
  mkdir -p "$cache"
  git -c advice.detachedHead=false clone -q "$bundle" "$cache/src"
fi

cmake -S "$cache/src" -B "$cache/build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DBUILD_SHARED_LIBS=OFF -DGGML_NATIVE=ON -DGGML_OPENMP=ON \
  -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_APP=OFF \
  -DLLAMA_BUILD_TOOLS=ON -DLLAMA_BUILD_SERVER=ON \
  -DLLAMA_BUILD_UI=OFF -DLLAMA_USE_PREBUILT_UI=OFF -DLLAMA_OPENSSL=OFF >&2
cmake --build "$cache/build" --target llama-server -j "$jobs" >&2
touch "$binary"
echo "$binary"
