# Sourced by the image and stack scripts (sh). Makes a Docker engine answer:
# one already running is used as it is; otherwise Debian's docker.io is
# installed where dockerd is missing and a dockerd is started for the run
# (--iptables=false --bridge=none: it works inside a container or VM without
# touching the host's firewall; builds and test containers use host
# networking, compose its own network). docker_engine_stop stops only a
# dockerd that docker_engine_start started, by its process id.
#
#   . scripts/docker-engine.sh
#   docker_engine_start
#   trap docker_engine_stop EXIT

DOCKER_ENGINE_PID=""
DOCKER_ENGINE_LOG=""

docker_engine_log() { echo "docker-engine: $*" >&2; }

docker_engine_apt_install() {
  if [ "$(id -u)" -ne 0 ]; then
    docker_engine_log "need root to install: $*"
    return 1
  fi
  docker_engine_log "installing $*"
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

docker_engine_start() {
  if command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1; then
    return 0
  fi
  if ! command -v dockerd >/dev/null 2>&1 || ! command -v docker >/dev/null 2>&1; then
    docker_engine_apt_install docker.io
  fi
  if [ "$(id -u)" -ne 0 ]; then
    docker_engine_log "no Docker engine answers and starting one needs root"
    return 1
  fi
  DOCKER_ENGINE_LOG=$(mktemp /tmp/dockerd.XXXXXX.log)
  docker_engine_log "starting dockerd (log: $DOCKER_ENGINE_LOG)"
  dockerd --iptables=false --bridge=none >"$DOCKER_ENGINE_LOG" 2>&1 &
  DOCKER_ENGINE_PID=$!
  i=0
  until docker info >/dev/null 2>&1; do
    i=$((i + 1))
    if [ "$i" -gt 120 ] || ! kill -0 "$DOCKER_ENGINE_PID" 2>/dev/null; then
      docker_engine_log "dockerd did not come up:"
      tail -n 20 "$DOCKER_ENGINE_LOG" >&2
      docker_engine_stop
      return 1
    fi
    sleep 0.5
  done
}

docker_engine_stop() {
  if [ -n "$DOCKER_ENGINE_PID" ] && kill -0 "$DOCKER_ENGINE_PID" 2>/dev/null; then
    docker_engine_log "stopping the dockerd this run started (pid $DOCKER_ENGINE_PID)"
    kill -TERM "$DOCKER_ENGINE_PID" 2>/dev/null || true
    i=0
    while kill -0 "$DOCKER_ENGINE_PID" 2>/dev/null && [ "$i" -lt 60 ]; do
      sleep 0.5
      i=$((i + 1))
    done
  fi
  DOCKER_ENGINE_PID=""
}

# Docker's legacy builder where the buildx plugin (BuildKit) is missing, as
# with Debian's docker.io next to a newer CLI.
docker_engine_builder_env() {
  if ! docker buildx version >/dev/null 2>&1; then
    export DOCKER_BUILDKIT=0
  fi
}
