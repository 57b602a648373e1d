#!/bin/sh
# Installs every Debian package that berth's build, tests and benches need.
# Idempotent: packages already present are skipped; apt-get runs only when
# something is missing. Run as root (or with sudo available).
set -eu

BUILD_PKGS="build-essential cmake ninja-build pkg-config ccache git
  libdnnl-dev libonnx-dev libprotobuf-dev protobuf-compiler
  libboost-dev libboost-system-dev rapidjson-dev libspdlog-dev libfmt-dev libcli11-dev
  libgtest-dev libgmock-dev libbenchmark-dev libcurl4-openssl-dev libssl-dev
  libhiredis-dev zlib1g-dev ca-certificates"
# libopenblas0-pthread: Debian's PyTorch and numpy call BLAS through the
# libblas.so.3 alternative, which is the slow reference BLAS until an
# optimised one is installed (the PyTorch references and `make bench`).
# unicode-data: the Unicode Character Database the tokenizers' tables are
# generated from and checked against (scripts/llm/make_unicode_tables.py).
# python3-jsonschema: validates structured output (tests/llm/grammar_generation_test.py).
TEST_PKGS="curl python3-minimal python3-numpy python3-onnx python3-torch python3-torchvision
  python3-sklearn clang libclang-rt-14-dev wrk nginx-light
  python3-yaml yamllint docker-compose unicode-data python3-jsonschema
  libopenblas0-pthread"

want="$BUILD_PKGS"
case "${1:-all}" in
  build) ;;
  all) want="$want $TEST_PKGS" ;;
  *) echo "usage: $0 [build|all]" >&2; exit 2 ;;
esac

# make bench installs ONNX Runtime with npm; Debian's nodejs/npm unless the
# machine already has a node of its own.
if [ "${1:-all}" = all ] && ! command -v npm >/dev/null 2>&1; then
  want="$want nodejs npm"
fi

missing=""
for p in $want; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing="$missing $p"
  fi
done
[ -z "$missing" ] && exit 0

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
echo "install-deps: installing:$missing" >&2
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
