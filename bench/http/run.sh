#!/bin/sh
# HTTP benchmark: berth serve against nginx on the same loopback, same run.
#
#   bench/http/run.sh [--berth build/berth] [--duration 5] [--connections "1 8 64"]
#
# Starts nginx (Debian's nginx-light) answering a static 200 — the HTTP
# ceiling of this machine — and `berth serve examples/models`, then runs wrk
# at each connection count against: nginx, berth's /v2/health/ready, and a
# digits inference (POST examples/requests/digits.json). Prints req/s,
# p50/p99 latency, errors and the ratios to nginx, and writes
# bench/results/http-<date>-<commit>.json.
#
# Targets (issue 3): ready >= 70% of nginx req/s, digits infer >= 40%, zero
# errors at 64 connections. The exit status is 0 even when a target is
# missed; the JSON and the last lines say which.
set -eu
cd "$(dirname "$0")/../.."
BERTH=build/berth
DURATION=5
CONNECTIONS="1 8 64"
while [ $# -gt 0 ]; do
  case "$1" in
    --berth) BERTH=$2; shift 2 ;;
    --duration) DURATION=$2; shift 2 ;;
    --connections) CONNECTIONS=$2; shift 2 ;;
    *) echo "usage: $0 [--berth PATH] [--duration SECONDS] [--connections \"1 8 64\"]" >&2; exit 2 ;;
  esac
done
for tool in wrk nginx python3; do
  command -v $tool >/dev/null || { echo "bench/http: $tool is missing (scripts/install-deps.sh)" >&2; exit 1; }
done
[ -x "$BERTH" ] || { echo "bench/http: no berth binary at $BERTH (build first, or --berth)" >&2; exit 1; }

WORK=$(mktemp -d /tmp/berth-bench-http.XXXXXX)
NGINX_PID=""
BERTH_PID=""
cleanup() {
  [ -n "$BERTH_PID" ] && kill "$BERTH_PID" 2>/dev/null && wait "$BERTH_PID" 2>/dev/null || true
  [ -n "$NGINX_PID" ] && kill "$NGINX_PID" 2>/dev/null && wait "$NGINX_PID" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
wait_http() {  # url
  i=0
  until python3 - "$1" <<'PY' 2>/dev/null
import sys, urllib.request
urllib.request.urlopen(sys.argv[1], timeout=1).read()
PY
  do
    i=$((i + 1)); [ $i -lt 200 ] || { echo "bench/http: $1 never answered" >&2; exit 1; }; sleep 0.05
  done
}

NGINX_PORT=$(free_port)
mkdir -p "$WORK/nginx"
cat > "$WORK/nginx/nginx.conf" <<CONF
worker_processes auto;
daemon off;
pid $WORK/nginx/nginx.pid;
error_log $WORK/nginx/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 1000000;
  client_body_temp_path $WORK/nginx/body;
  proxy_temp_path $WORK/nginx/proxy;
  fastcgi_temp_path $WORK/nginx/fastcgi;
  uwsgi_temp_path $WORK/nginx/uwsgi;
  scgi_temp_path $WORK/nginx/scgi;
  server {
    listen 127.0.0.1:$NGINX_PORT;
    location / { default_type application/json; return 200 '{"ready":true}'; }
  }
}
CONF
nginx -c "$WORK/nginx/nginx.conf" -e "$WORK/nginx/error.log" &
NGINX_PID=$!

BERTH_PORT=$(free_port)
"$BERTH" serve --model-repository examples/models --host 127.0.0.1 --port "$BERTH_PORT" >"$WORK/berth.log" 2>&1 &
BERTH_PID=$!
wait_http "http://127.0.0.1:$NGINX_PORT/"
wait_http "http://127.0.0.1:$BERTH_PORT/v2/health/ready"

run_wrk() {  # name connections url [script]
  threads=$(( $2 < 2 ? 1 : 2 ))
  if [ $# -ge 4 ]; then
    BERTH_BENCH_BODY=examples/requests/digits.json wrk -t$threads -c$2 -d${DURATION}s --latency -s "$4" "$3" \
      >"$WORK/$1-$2.txt" 2>&1
  else
    wrk -t$threads -c$2 -d${DURATION}s --latency "$3" >"$WORK/$1-$2.txt" 2>&1
  fi
}

for c in $CONNECTIONS; do
  echo "bench/http: $c connection(s)..." >&2
  run_wrk nginx "$c" "http://127.0.0.1:$NGINX_PORT/"
  run_wrk ready "$c" "http://127.0.0.1:$BERTH_PORT/v2/health/ready"
  run_wrk infer "$c" "http://127.0.0.1:$BERTH_PORT/v2/models/digits/infer" bench/http/infer.lua
done

COMMIT=$(git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
if [ -n "$(git status --porcelain 2>/dev/null)" ]; then COMMIT="$COMMIT-dirty"; fi
mkdir -p bench/results
OUT="bench/results/http-$(date -u +%Y%m%d-%H%M%S)-$COMMIT.json"
python3 - "$WORK" "$OUT" "$COMMIT" "$DURATION" $CONNECTIONS <<'PY'
import json, os, platform, re, sys, time
work, out, commit, duration, connections = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5:]

def seconds(text):
    value, unit = re.match(r"([\d.]+)(us|ms|s|m)", text).groups()
    return float(value) * {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0}[unit]

def parse(path):
    text = open(path).read()
    rps = re.search(r"Requests/sec:\s+([\d.]+)", text)
    p50 = re.search(r"^\s+50%\s+(\S+)", text, re.M)
    p99 = re.search(r"^\s+99%\s+(\S+)", text, re.M)
    socket_errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    total = re.search(r"(\d+) requests in", text)
    errors = (sum(int(g) for g in socket_errors.groups()) if socket_errors else 0) + (int(non_2xx.group(1)) if non_2xx else 0)
    return {"requests_per_second": float(rps.group(1)) if rps else 0.0,
            "p50_ms": seconds(p50.group(1)) * 1e3 if p50 else None,
            "p99_ms": seconds(p99.group(1)) * 1e3 if p99 else None,
            "requests": int(total.group(1)) if total else 0, "errors": errors}

rows = []
for c in connections:
    row = {"connections": int(c)}
    for name in ("nginx", "ready", "infer"):
        row[name] = parse(os.path.join(work, f"{name}-{c}.txt"))
    base = row["nginx"]["requests_per_second"] or 1.0
    row["ready_vs_nginx"] = row["ready"]["requests_per_second"] / base
    row["infer_vs_nginx"] = row["infer"]["requests_per_second"] / base
    rows.append(row)

print(f"\n{'conns':>5} | {'nginx req/s':>11} {'p50':>8} {'p99':>8} | {'ready req/s':>11} {'p50':>8} {'p99':>8} {'ratio':>6} |"
      f" {'infer req/s':>11} {'p50':>8} {'p99':>8} {'ratio':>6} | errors")
for r in rows:
    def cell(m):
        return f"{m['requests_per_second']:>11.0f} {m['p50_ms']:>6.2f}ms {m['p99_ms']:>6.2f}ms"
    errors = r["nginx"]["errors"] + r["ready"]["errors"] + r["infer"]["errors"]
    print(f"{r['connections']:>5} | {cell(r['nginx'])} | {cell(r['ready'])} {r['ready_vs_nginx']:>6.0%} |"
          f" {cell(r['infer'])} {r['infer_vs_nginx']:>6.0%} | {errors}")

top = max(rows, key=lambda r: r["connections"])
targets = {
    "ready_at_least_70_percent_of_nginx": top["ready_vs_nginx"] >= 0.70,
    "infer_at_least_40_percent_of_nginx": top["infer_vs_nginx"] >= 0.40,
    "zero_errors_at_max_connections": top["ready"]["errors"] == 0 and top["infer"]["errors"] == 0,
}
result = {"benchmark": "http", "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "commit": commit,
          "duration_seconds": float(duration), "machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                                                          "load_average": os.getloadavg()},
          "targets_at_max_connections": targets, "rows": rows}
with open(out, "w") as f:
    json.dump(result, f, indent=2)
    f.write("\n")
print(f"\ntargets at {top['connections']} connections: " + ", ".join(f"{k}={'yes' if v else 'NO'}" for k, v in targets.items()))
print(f"wrote {out}")
PY
