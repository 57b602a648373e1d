#!/bin/sh
# `make image`: builds berth:latest (the runtime image, no models) and
# berth:demo (+ examples/models) from deploy/Dockerfile, with the OCI version,
# revision and source labels. Starts a Docker engine for the build where none
# answers and makes debian:bookworm-slim where no registry has it
# (scripts/docker-engine.sh, scripts/make-base-image.sh).
#
#   BERTH_PREBUILT=build/berth   package this binary instead of compiling the
#                                sources again in the builder stage
#   IMAGE=berth                  image name; the tags are latest and demo
#   JOBS=2                       compile jobs in the builder stage
#
# Both images are built from one snapshot of the build context, so they hold
# the same binary even while the working tree changes, and the second build
# reuses every layer of the first.
set -eu
cd "$(dirname "$0")/.."
. scripts/docker-engine.sh

image=${IMAGE:-berth}
jobs=${JOBS:-2}
prebuilt=${BERTH_PREBUILT:-}
context=""
cleanup() {
  [ -n "$context" ] && rm -rf "$context"
  docker_engine_stop
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [ -n "$prebuilt" ] && [ ! -x "$prebuilt" ]; then
  echo "build-images: BERTH_PREBUILT=$prebuilt is not an executable" >&2
  exit 1
fi

docker_engine_start
docker_engine_builder_env
scripts/make-base-image.sh debian:bookworm-slim

# The files .dockerignore lets in (it still applies inside the snapshot).
context=$(mktemp -d /tmp/berth-image-context.XXXXXX)
tar -cf - .dockerignore CMakeLists.txt cmake src scripts/install-deps.sh deploy/Dockerfile deploy/build-rootfs.sh \
  deploy/prebuilt/README.md examples/models | tar -xf - -C "$context"
if [ -n "$prebuilt" ]; then
  cp "$prebuilt" "$context/deploy/prebuilt/berth"
fi

version=$(sed -n 's/^project(berth VERSION \([0-9.]*\).*/\1/p' CMakeLists.txt)
revision=$(git rev-parse HEAD 2>/dev/null || echo unknown)
source=$(git config --get remote.origin.url 2>/dev/null || echo unknown)
start=$(date +%s)
for target in runtime demo; do
  tag=latest
  [ "$target" = demo ] && tag=demo
  docker build --network host -f "$context/deploy/Dockerfile" --target "$target" -t "$image:$tag" \
    --build-arg JOBS="$jobs" --build-arg VERSION="$version" --build-arg REVISION="$revision" \
    --build-arg SOURCE="$source" "$context"
done
echo "build-images: $image:latest and $image:demo in $(( $(date +%s) - start )) s" \
  "(${prebuilt:+prebuilt binary, }version $version, revision $revision)"
docker image ls "$image"
