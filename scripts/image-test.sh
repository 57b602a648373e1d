#!/bin/sh
# `make image-test`: builds berth:latest and berth:demo (scripts/build-images.sh,
# starting a Docker engine and making the base image where needed), then
#   - prints the runtime image's uncompressed size; fails above 80 MB;
#   - runs berth:demo as the issue asks (--read-only --network host
#     --user 65532 --cap-drop ALL) on a free port and waits for Docker's
#     health status "healthy"; prints the seconds from `docker run` (about
#     1.5 s on an idle machine: Docker's first probe comes after 1 s); fails
#     above HEALTHY_LIMIT_SECS, 15 s unless set: a busy CI machine or a
#     Docker engine on the vfs driver adds seconds that are not berth's, so
#     the tight figure is for a quiet machine: HEALTHY_LIMIT_SECS=3;
#   - checks the process runs as uid 65532 with no capabilities and a
#     read-only root filesystem, and answers an infer request correctly;
#   - sends SIGTERM and checks exit code 0 within the drain timeout;
#   - runs `berth doctor` and `berth --version` inside berth:latest.
# Stops what it started (the container, a dockerd it started).
#
#   BERTH_PREBUILT=build/berth  reuse a binary built here (the Makefile passes it)
set -eu
cd "$(dirname "$0")/.."
. scripts/docker-engine.sh

size_limit_mb=${SIZE_LIMIT_MB:-80}
healthy_limit=${HEALTHY_LIMIT_SECS:-15}
exit_timeout=10
name="berth-image-test-$$"
started=$(date +%s)

fail() {
  echo "image-test: FAIL: $*" >&2
  if docker inspect "$name" >/dev/null 2>&1; then
    echo "--- container log" >&2
    docker logs "$name" 2>&1 | tail -n 30 >&2
  fi
  exit 1
}
cleanup() {
  docker rm -f "$name" >/dev/null 2>&1 || true
  docker_engine_stop
}
trap cleanup EXIT
trap 'exit 130' INT TERM

docker_engine_start
scripts/build-images.sh

# Size, uncompressed, as `docker image ls` reports it (decimal MB).
size=$(docker image inspect berth:latest --format '{{.Size}}')
demo_size=$(docker image inspect berth:demo --format '{{.Size}}')
size_mb=$(awk -v s="$size" 'BEGIN { printf "%.1f", s / 1e6 }')
echo "image-test: berth:latest (runtime, no models) is $size_mb MB uncompressed ($size bytes; limit $size_limit_mb MB)"
echo "image-test: berth:demo is $(awk -v s="$demo_size" 'BEGIN { printf "%.1f", s / 1e6 }') MB"
awk -v s="$size" -v l="$size_limit_mb" 'BEGIN { exit !(s <= l * 1e6) }' || fail "runtime image above $size_limit_mb MB"

# The runtime image's own binary: libraries complete, no GPU here is fine.
docker run --rm --network host --read-only --cap-drop ALL --entrypoint /usr/bin/berth berth:latest --version
docker run --rm --network host --read-only --cap-drop ALL --entrypoint /usr/bin/berth berth:latest doctor |
  sed 's/^/  doctor | /'

port=$(/usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
t0=$(date +%s.%N)
docker run -d --name "$name" --read-only --network host --user 65532 --cap-drop ALL \
  -e BERTH_PORT="$port" -e BERTH_EXIT_TIMEOUT_SECS="$exit_timeout" berth:demo >/dev/null
status=starting
while [ "$status" != healthy ]; do
  status=$(docker inspect -f '{{.State.Health.Status}}' "$name")
  [ "$(docker inspect -f '{{.State.Running}}' "$name")" = true ] || fail "the container exited"
  elapsed=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { print b - a }')
  awk -v e="$elapsed" 'BEGIN { exit !(e > 60) }' && fail "not healthy after 60 s (status $status)"
  [ "$status" = healthy ] || sleep 0.05
done
healthy=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }')
echo "image-test: docker run -> healthy in $healthy s (limit $healthy_limit s)"

# Who and what the process is: uid 65532, no capabilities, read-only root.
pid=$(docker inspect -f '{{.State.Pid}}' "$name")
uids=$(awk '/^Uid:/ { print $2, $3, $4, $5 }' "/proc/$pid/status")
capabilities=$(awk '/^Cap(Inh|Prm|Eff|Bnd|Amb):/ { printf "%s%s", sep, $2; sep = " " }' "/proc/$pid/status")
read_only=$(docker inspect -f '{{.HostConfig.ReadonlyRootfs}}' "$name")
echo "image-test: uid $uids, capabilities (inh prm eff bnd amb) $capabilities, read-only root filesystem $read_only"
[ "$uids" = "65532 65532 65532 65532" ] || fail "not running as uid 65532"
for c in $capabilities; do
  [ "$c" = 0000000000000000 ] || fail "the process holds capabilities: $capabilities"
done
[ "$read_only" = true ] || fail "the root filesystem is writable"

# An inference through the container, checked against the model's own output.
answer=$(curl -sS --max-time 10 -X POST -H 'Content-Type: application/json' \
  --data-binary @examples/requests/digits.json "http://127.0.0.1:$port/v2/models/digits/infer") ||
  fail "infer request failed"
echo "$answer" | /usr/bin/python3 -c '
import json, sys
r = json.load(sys.stdin)
out = {o["name"]: o for o in r["outputs"]}
p = out["probabilities"]["data"]
label = out["label"]["data"][0]
assert r["model_name"] == "digits", r
assert out["probabilities"]["shape"] == [1, 10] and abs(sum(p) - 1) < 1e-3, p
assert label == max(range(10), key=lambda i: p[i]), (label, p)
print("image-test: infer digits -> label %d (p = %.3f)" % (label, p[label]))
' || fail "wrong inference answer: $answer"

# SIGTERM: drain, exit 0, within the drain timeout.
t1=$(date +%s.%N)
docker kill --signal TERM "$name" >/dev/null
code=$(timeout $((exit_timeout + 5)) docker wait "$name") || fail "no exit within $((exit_timeout + 5)) s of SIGTERM"
stopped=$(awk -v a="$t1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }')
echo "image-test: SIGTERM -> exit code $code in $stopped s (drain timeout $exit_timeout s)"
[ "$code" = 0 ] || fail "exit code $code after SIGTERM"

awk -v h="$healthy" -v l="$healthy_limit" 'BEGIN { exit !(h <= l) }' || fail "healthy after $healthy s, above $healthy_limit s"
echo "image-test: PASS in $(( $(date +%s) - started )) s"
