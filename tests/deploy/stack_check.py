#!/usr/bin/python3
"""Checks for scripts/stack-test.sh, against the compose stack's published
ports on 127.0.0.1 only.

  stack_check.py traffic URL REQUEST.json --count N [--concurrency C] [--min-per-upstream K]
      POSTs the request N times through nginx; every answer must be 200 with
      a label; prints how many each replica served (nginx's X-Berth-Upstream
      header) and requires at least --upstreams distinct replicas with at
      least K requests each.
  stack_check.py targets PROMETHEUS_URL --job berth --up N [--timeout S]
      waits until Prometheus reports N targets of the job up.
  stack_check.py served PROMETHEUS_URL --instances N [--timeout S]
      waits until Prometheus has scraped successful inferences from N
      instances (berth_inference_requests_total{outcome="success"} > 0).
  stack_check.py openai BASE_URL MODEL
      the official `openai` npm client (tests/e2e/openai_client.mjs) through
      nginx: models list, completions and a chat completion, streamed and
      not; the streamed text must equal the whole one.
"""
import argparse
import collections
import concurrent.futures
import http.client
import json
import os
import subprocess
import sys
import time
import urllib.parse
import urllib.request


def post_many(url, body, count, concurrency):
    parsed = urllib.parse.urlsplit(url)
    per_worker = [count // concurrency + (1 if i < count % concurrency else 0) for i in range(concurrency)]

    def worker(n):
        results = []
        connection = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=30)
        for _ in range(n):
            start = time.monotonic()
            try:
                connection.request("POST", parsed.path, body=body, headers={"Content-Type": "application/json"})
                response = connection.getresponse()
                data = response.read()
                upstream = response.getheader("X-Berth-Upstream", "")
                ok = response.status == 200 and any(o.get("name") == "label"
                                                    for o in json.loads(data).get("outputs", []))
                results.append((response.status if ok else "bad %d %s" % (response.status, data[:120]), upstream,
                                time.monotonic() - start))
            except (OSError, http.client.HTTPException, ValueError) as error:
                connection.close()
                connection = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=30)
                results.append(("error %s" % error, "", time.monotonic() - start))
        connection.close()
        return results

    with concurrent.futures.ThreadPoolExecutor(concurrency) as pool:
        return [r for batch in pool.map(worker, per_worker) for r in batch]


def traffic(args):
    with open(args.request, "rb") as f:
        body = f.read()
    results = post_many(args.url, body, args.count, args.concurrency)
    failures = [r for r in results if r[0] != 200]
    # "a:8080" or, after a retry on the other replica, "a:8080, b:8080": the last answered.
    served = collections.Counter(r[1].split(",")[-1].strip() for r in results if r[0] == 200)
    retried = sum(1 for r in results if "," in r[1])
    slowest = max(r[2] for r in results)
    print("stack-check: %d requests, %d failed, %d retried on another replica, slowest %.2f s, served by %s" %
          (len(results), len(failures), retried, slowest, dict(served)))
    for failure in failures[:5]:
        print("stack-check: failure:", failure)
    if failures:
        return 1
    busy = [u for u, n in served.items() if n >= args.min_per_upstream]
    if len(busy) < args.upstreams:
        print("stack-check: expected %d replicas with >= %d requests each" % (args.upstreams, args.min_per_upstream))
        return 1
    return 0


def prometheus_query(base, path, params):
    url = base + path + "?" + urllib.parse.urlencode(params)
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.load(response)["data"]


def wait_for(description, timeout, check):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            done, last = check()
            if done:
                print("stack-check: %s: %s" % (description, last))
                return 0
        except (OSError, ValueError, KeyError) as error:
            last = "error: %s" % error
        time.sleep(1)
    print("stack-check: FAIL: %s within %d s; last: %s" % (description, timeout, last))
    return 1


def targets(args):
    def check():
        data = prometheus_query(args.url, "/api/v1/targets", {"state": "active"})
        health = {t["labels"]["instance"]: t["health"] for t in data["activeTargets"] if t["labels"]["job"] == args.job}
        return sum(1 for h in health.values() if h == "up") == args.up, health

    return wait_for("Prometheus targets of job '%s' up" % args.job, args.timeout, check)


def served(args):
    def check():
        data = prometheus_query(args.url, "/api/v1/query",
                                {"query": 'sum by (instance) (berth_inference_requests_total{outcome="success"})'})
        counts = {r["metric"]["instance"]: float(r["value"][1]) for r in data["result"]}
        return sum(1 for v in counts.values() if v > 0) >= args.instances, counts

    return wait_for("successful inferences per replica, from Prometheus", args.timeout, check)


def openai(args):
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    modules = os.path.join(root, "tests", "llm", "ref", "node_modules")
    if not os.path.isdir(os.path.join(modules, "openai")):
        print("stack_check: the openai npm package is missing (make llm-ref)", file=sys.stderr)
        return 1
    out = subprocess.run(["node", os.path.join(root, "tests", "e2e", "openai_client.mjs"), args.url, args.model, "chat"],
                         capture_output=True, text=True, timeout=120, env=dict(os.environ, NODE_PATH=modules))
    if out.returncode != 0:
        print(out.stderr + out.stdout, file=sys.stderr)
        return 1
    result = json.loads(out.stdout)
    ok = (args.model in result["models"] and result["completion"] and result["streamed"] == result["completion"]
          and result["chat"] and result["chat_streamed"] == result["chat"])
    print("stack_check: openai client through nginx: models %s, chat %r, streamed %s" %
          (result["models"], result["chat"][:40], "equal" if result["chat_streamed"] == result["chat"] else "DIFFERENT"))
    return 0 if ok else 1


def main():
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command", required=True)
    t = sub.add_parser("traffic")
    t.add_argument("url")
    t.add_argument("request")
    t.add_argument("--count", type=int, default=200)
    t.add_argument("--concurrency", type=int, default=4)
    t.add_argument("--upstreams", type=int, default=2)
    t.add_argument("--min-per-upstream", type=int, default=1)
    g = sub.add_parser("targets")
    g.add_argument("url")
    g.add_argument("--job", default="berth")
    g.add_argument("--up", type=int, default=2)
    g.add_argument("--timeout", type=int, default=60)
    s = sub.add_parser("served")
    s.add_argument("url")
    s.add_argument("--instances", type=int, default=2)
    s.add_argument("--timeout", type=int, default=60)
    o = sub.add_parser("openai")
    o.add_argument("url")
    o.add_argument("model")
    args = parser.parse_args()
    return {"traffic": traffic, "targets": targets, "served": served, "openai": openai}[args.command](args)


if __name__ == "__main__":
    sys.exit(main())
