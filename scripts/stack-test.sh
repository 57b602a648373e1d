#!/bin/sh
# `make stack-test`: runs deploy/compose.yaml offline and checks it works as a
# stack. Builds berth:latest (scripts/build-images.sh; cached after
# image-test) and nginx, Redis and Prometheus images from Debian packages
# (deploy/local-images/); Grafana is left out where its image is not
# available. Then, only through the ports published on 127.0.0.1:
#   - traffic through nginx: every request answered, both replicas served some;
#   - the language model (examples/models/kjv-llama) through nginx with the
#     official openai npm client: a chat completion streamed and not;
#   - Prometheus reports both berth targets up and has scraped successful
#     inferences from each replica;
#   - one replica is killed (SIGKILL) and requests through nginx keep
#     succeeding (retried on the other replica);
# and tears the stack down. Stops a dockerd it started.
#
#   BERTH_PREBUILT=build/berth  reuse a binary built here (the Makefile passes it)
set -eu
cd "$(dirname "$0")/.."
. scripts/docker-engine.sh

project="berthstack$$"
compose_file=deploy/compose.yaml
started=$(date +%s)
up=""

compose() { docker-compose -p "$project" -f "$compose_file" "$@"; }
fail() {
  echo "stack-test: FAIL: $*" >&2
  if [ -n "$up" ]; then
    compose ps >&2 || true
    compose logs --no-color --tail 20 >&2 || true
  fi
  exit 1
}
cleanup() {
  if [ -n "$up" ]; then
    compose down -v --remove-orphans >/dev/null 2>&1 || true
  fi
  docker_engine_stop
}
trap cleanup EXIT
trap 'exit 130' INT TERM

docker_engine_start
if ! command -v docker-compose >/dev/null 2>&1; then
  docker_engine_apt_install docker-compose
fi
images_log=$(mktemp /tmp/stack-test-images.XXXXXX.log)
scripts/build-images.sh >"$images_log" 2>&1 || { tail -n 30 "$images_log" >&2; fail "image build"; }
grep '^build-images:' "$images_log"
rm -f "$images_log"

# Local stand-ins for the public images, from Debian packages.
t=$(date +%s)
for service in nginx redis prometheus; do
  docker build -q --network host -t "berth-local/$service:bookworm" "deploy/local-images/$service" >/dev/null ||
    fail "building the local $service image"
done
echo "stack-test: local nginx, redis, prometheus images in $(( $(date +%s) - t )) s"

# Three distinct free ports: all three sockets are held until each has one.
free_ports() {
  /usr/bin/python3 -c '
import socket
sockets = [socket.socket() for _ in range(3)]
for s in sockets:
    s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in sockets))'
}
export BERTH_IMAGE=berth:latest
export NGINX_IMAGE=berth-local/nginx:bookworm
export REDIS_IMAGE=berth-local/redis:bookworm
export PROMETHEUS_IMAGE=berth-local/prometheus:bookworm
export GRAFANA_IMAGE="${GRAFANA_IMAGE:-grafana/grafana:11.1.0}"
ports=$(free_ports)
BERTH_HTTP_PORT=${ports%% *}
ports=${ports#* }
PROMETHEUS_PORT=${ports%% *}
GRAFANA_PORT=${ports#* }
export BERTH_HTTP_PORT PROMETHEUS_PORT GRAFANA_PORT

services="nginx prometheus redis berth-1 berth-2"
if docker image inspect "$GRAFANA_IMAGE" >/dev/null 2>&1 || timeout 20 docker pull "$GRAFANA_IMAGE" >/dev/null 2>&1; then
  services="$services grafana"
else
  echo "stack-test: $GRAFANA_IMAGE is not available here: grafana is left out"
fi

t=$(date +%s)
up=1
# shellcheck disable=SC2086
timeout 300 docker-compose -p "$project" -f "$compose_file" up -d $services || fail "compose up"
echo "stack-test: stack up (healthy dependencies first) in $(( $(date +%s) - t )) s: $services"
compose ps

nginx="http://127.0.0.1:$BERTH_HTTP_PORT"
prometheus="http://127.0.0.1:$PROMETHEUS_PORT"
i=0
until curl -fsS -o /dev/null "$nginx/v2/health/ready" 2>/dev/null; do
  i=$((i + 1))
  [ "$i" -lt 100 ] || fail "nginx does not answer on $nginx"
  sleep 0.2
done

check() { /usr/bin/python3 tests/deploy/stack_check.py "$@"; }
check traffic "$nginx/v2/models/digits/infer" examples/requests/digits.json --count 300 --concurrency 4 \
  --upstreams 2 --min-per-upstream 30 || fail "traffic through nginx"
check openai "$nginx/v1" kjv-llama || fail "the openai client through nginx"
check targets "$prometheus" --job berth --up 2 --timeout 60 || fail "Prometheus targets"
check served "$prometheus" --instances 2 --timeout 60 || fail "Prometheus per-replica counts"

compose kill berth-2 >/dev/null 2>&1 || fail "killing berth-2"
echo "stack-test: berth-2 killed (SIGKILL)"
check traffic "$nginx/v2/models/digits/infer" examples/requests/digits.json --count 200 --concurrency 4 \
  --upstreams 1 --min-per-upstream 200 || fail "requests after a replica died"

echo "stack-test: PASS in $(( $(date +%s) - started )) s"
