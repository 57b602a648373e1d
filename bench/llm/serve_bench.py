#!/usr/bin/python3
"""Serving a language model under load: `berth serve MODEL.gguf --parallel 16`
called over OpenAI's streaming completions by 1, 2, 4, 8 and 16 concurrent
clients (closed loop: each sends its next request when its stream ends),
then llama.cpp's `llama-server` on the same file with 16 slots of the same
context and the same thread count, under the same load. The two servers
run one after the other, never at once.

Each request is a distinct prompt of token ids, greedy, with ignore_eos, so
every one generates exactly --gen-tokens tokens; the server's own count
(the stream's usage) must say so, or the run stops with an error.

Reported per server and concurrency: aggregate generated tokens/s, time to
first token and inter-token time (p50, p99; the time between two chunks
that carry text: a token that ends inside a UTF-8 character goes out with
the next one, on both servers), each stream's tokens/s. Then the time to
first token of a new request while 8 streams run, against the same request
on an idle server.

  bench/llm/serve_bench.py [--berth build/berth] [--model bench/models/llm/llama-1b-Q4_K_M.gguf]
                           [--threads 2] [--prompt-tokens 64] [--gen-tokens 64] [--seconds 30]
                           [--levels 1,2,4,8,16] [--llama-server PATH | --no-llama]

llama-server is built by bench/llm/build_llama_server.sh (CPU only, offline,
from the llama.cpp source node-llama-cpp ships; `make llm-ref`) unless
--llama-server names one; --no-llama measures berth alone.

The default model is bench/llm/make_models.py's Llama-3.2-1B-shaped Q4_K_M
(random weights, real shapes). Results: bench/results/llm-serve-<time>.json
and Markdown tables on stdout. Timing belongs here, never in `make test`.
"""
import argparse
import datetime
import http.client
import json
import os
import re
import socket
import statistics
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


def percentile(values, q):
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


def wait_ready(process, port, path, log):
    """Polls GET `path` until it answers 200; raises if the process exits first."""
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if process.poll() is not None:
            time.sleep(0.2)
            raise RuntimeError(f"{process.args[0]} exited:\n{''.join(log)}")
        try:
            with socket.create_connection(("127.0.0.1", port)) as sock:
                sock.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
                if b" 200 " in sock.recv(100):
                    return
        except OSError:
            pass
        time.sleep(0.1)
    process.kill()
    raise RuntimeError(f"{process.args[0]} not ready after 300 s:\n{''.join(log)}")


class Server:
    """`berth serve` with 16 slots of 1024 positions."""

    name = "berth"

    def __init__(self, berth, model, threads, parallel):
        self.process = subprocess.Popen(
            [berth, "serve", model, "--host", "127.0.0.1", "--port", "0", "--parallel", str(parallel),
             "--llm-threads", str(threads), "--max-waiting", "256", "--ctx-size", "1024"],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.port = None
        deadline = time.monotonic() + 120
        log = ""
        while self.port is None and time.monotonic() < deadline:
            line = self.process.stdout.readline()
            log += line
            match = re.search(r'listening.*port(?:=|":")(\d+)', line)
            if match:
                self.port = int(match.group(1))
            if not line and self.process.poll() is not None:
                raise RuntimeError(f"berth serve exited:\n{log}")
        threading.Thread(target=self.process.stdout.read, daemon=True).start()
        wait_ready(self.process, self.port, "/v2/health/ready", [log])

    def stop(self):
        self.process.terminate()
        self.process.wait(60)


class LlamaServer(Server):
    """llama.cpp's llama-server: `parallel` slots sharing a context of
    parallel * 1024 positions (one KV cache per slot, 1024 each), continuous
    batching, the given threads for both generation and prompts, no web UI."""
    name = "llama.cpp"

    def __init__(self, binary, model, threads, parallel):
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        self.process = subprocess.Popen(
            [binary, "-m", model, "--host", "127.0.0.1", "--port", str(self.port), "-np", str(parallel),
             "-c", str(parallel * 1024), "--no-kv-unified", "-t", str(threads), "-tb", str(threads),
             "--cont-batching", "--no-webui"],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        log = []
        threading.Thread(target=lambda: log.extend(self.process.stdout), daemon=True).start()
        wait_ready(self.process, self.port, "/health", log)


def stream_once(port, prompt, gen_tokens):
    """One streamed completion: (time to first token, [gaps between text chunks], tokens, seconds).

    Tokens are the server's count from the stream's usage (llama-server puts
    it on its last chunk; berth on a usage chunk, asked for with
    stream_options). It must be gen_tokens: the prompt is greedy with
    ignore_eos, and anything else means the figures are wrong."""
    body = json.dumps({"prompt": prompt, "max_tokens": gen_tokens, "temperature": 0, "ignore_eos": True,
                       "stream": True, "stream_options": {"include_usage": True}})
    start = time.monotonic()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    conn.request("POST", "/v1/completions", body, {"Content-Type": "application/json"})
    response = conn.getresponse()
    if response.status != 200:
        raise RuntimeError(f"HTTP {response.status}: {response.read()[:500]!r}")
    first = None
    last = None
    gaps = []
    tokens = None
    for line in response:
        if not line.startswith(b"data: {"):
            continue
        chunk = json.loads(line[6:])
        if "error" in chunk:
            raise RuntimeError(f"stream error: {chunk['error']}")
        if chunk.get("usage"):
            tokens = chunk["usage"]["completion_tokens"]
        if chunk.get("choices") and chunk["choices"][0].get("text"):
            now = time.monotonic()
            if first is None:
                first = now - start
            else:
                gaps.append(now - last)
            last = now
    conn.close()
    if tokens != gen_tokens:
        raise RuntimeError(f"asked for {gen_tokens} tokens with ignore_eos, the stream's usage says {tokens}")
    return first, gaps, tokens, time.monotonic() - start


def prompt_ids(index, length, vocab):
    """A prompt of `length` token ids, different per client (no prefix sharing)."""
    return [(1000 + 7919 * index + 104729 * i) % (vocab - 1000) + 500 for i in range(length)]


def run_threads(target, count):
    """Runs target(0..count-1) on threads; re-raises the first error any of them hit."""
    errors = []

    def guarded(i):
        try:
            target(i)
        except Exception as error:  # handed to the caller
            errors.append(error)
    threads = [threading.Thread(target=guarded, args=(i,)) for i in range(count)]
    for t in threads:
        t.start()
    return threads, errors


def join_threads(threads, errors):
    for t in threads:
        t.join()
    if errors:
        raise errors[0]


def run_level(port, concurrency, args, vocab):
    results = []
    lock = threading.Lock()
    stop_at = time.monotonic() + args.seconds

    def client(i):
        n = 0
        while time.monotonic() < stop_at:
            outcome = stream_once(port, prompt_ids(i * 1000 + n, args.prompt_tokens, vocab), args.gen_tokens)
            n += 1
            with lock:
                results.append(outcome)

    start = time.monotonic()
    join_threads(*run_threads(client, concurrency))
    elapsed = time.monotonic() - start
    ttft = [r[0] for r in results if r[0] is not None]
    gaps = [g for r in results for g in r[1]]
    tokens = sum(r[2] for r in results)
    return {"concurrency": concurrency, "requests": len(results), "tokens": tokens,
            "aggregate_tok_s": tokens / elapsed, "ttft_p50_ms": percentile(ttft, 50) * 1000,
            "ttft_p99_ms": percentile(ttft, 99) * 1000, "itl_p50_ms": percentile(gaps, 50) * 1000,
            "itl_p99_ms": percentile(gaps, 99) * 1000,
            "stream_tok_s": statistics.median(r[2] / r[3] for r in results) if results else 0}


def ttft_under_load(port, args, vocab):
    """TTFT of a new request on an idle server, then while 8 long streams run."""
    idle = [stream_once(port, prompt_ids(900000 + i, args.prompt_tokens, vocab), 8)[0] for i in range(5)]
    stop = threading.Event()

    def background(i):
        n = 0
        while not stop.is_set():
            stream_once(port, prompt_ids(800000 + i * 1000 + n, args.prompt_tokens, vocab), args.gen_tokens * 4)
            n += 1
    threads, errors = run_threads(background, 8)
    loaded = []
    try:
        time.sleep(3)
        for i in range(10):
            loaded.append(stream_once(port, prompt_ids(700000 + i, args.prompt_tokens, vocab), 8)[0])
            time.sleep(0.3)
    finally:
        stop.set()
        join_threads(threads, errors)
    return {"idle_ttft_p50_ms": percentile(idle, 50) * 1000, "idle_ttft_p99_ms": percentile(idle, 99) * 1000,
            "loaded_ttft_p50_ms": percentile(loaded, 50) * 1000, "loaded_ttft_p99_ms": percentile(loaded, 99) * 1000}


def measure(server, args, vocab):
    """The concurrency levels, then TTFT under load, on a started server (stopped after).
    One request first, not measured: berth maps the model and reads it on
    first use, llama-server reads it and runs a warm-up while it loads."""
    try:
        stream_once(server.port, prompt_ids(990000, args.prompt_tokens, vocab), 8)
        levels = []
        for c in args.levels.split(","):
            level = run_level(server.port, int(c), args, vocab)
            levels.append(level)
            print(f"{server.name} c={level['concurrency']}: {level['aggregate_tok_s']:.1f} tok/s, TTFT p50 "
                  f"{level['ttft_p50_ms']:.0f} ms p99 {level['ttft_p99_ms']:.0f} ms, ITL p50 "
                  f"{level['itl_p50_ms']:.1f} ms p99 {level['itl_p99_ms']:.1f} ms", file=sys.stderr, flush=True)
        load = ttft_under_load(server.port, args, vocab)
    finally:
        server.stop()
    return {"levels": levels, "ttft_under_load": load}


def print_levels(name, result):
    levels = result["levels"]
    base = levels[0]["aggregate_tok_s"]
    print(f"{name}:\n")
    print("| streams | aggregate tok/s | vs 1 stream | TTFT p50 / p99 ms | inter-token p50 / p99 ms | per stream tok/s |")
    print("| --- | --- | --- | --- | --- | --- |")
    for level in levels:
        print(f"| {level['concurrency']} | {level['aggregate_tok_s']:.1f} | {level['aggregate_tok_s'] / base:.2f}x "
              f"| {level['ttft_p50_ms']:.0f} / {level['ttft_p99_ms']:.0f} | {level['itl_p50_ms']:.1f} / "
              f"{level['itl_p99_ms']:.1f} | {level['stream_tok_s']:.1f} |")
    print()


def print_side_by_side(berth, llama):
    print("| streams | tok/s berth / llama.cpp | berth/llama.cpp | TTFT p99 ms berth / llama.cpp "
          "| inter-token p50 ms berth / llama.cpp |")
    print("| --- | --- | --- | --- | --- |")
    for b, l in zip(berth["levels"], llama["levels"]):
        print(f"| {b['concurrency']} | {b['aggregate_tok_s']:.1f} / {l['aggregate_tok_s']:.1f} "
              f"| {b['aggregate_tok_s'] / l['aggregate_tok_s']:.2f}x | {b['ttft_p99_ms']:.0f} / {l['ttft_p99_ms']:.0f} "
              f"| {b['itl_p50_ms']:.1f} / {l['itl_p50_ms']:.1f} |")
    print()


def print_ttft_under_load(name, load):
    print(f"{name}: TTFT of a new request: idle p50 {load['idle_ttft_p50_ms']:.0f} / p99 "
          f"{load['idle_ttft_p99_ms']:.0f} ms; with 8 streams running p50 {load['loaded_ttft_p50_ms']:.0f} / p99 "
          f"{load['loaded_ttft_p99_ms']:.0f} ms ({load['loaded_ttft_p99_ms'] / load['idle_ttft_p99_ms']:.2f}x)")


def llama_server_binary(args):
    """--llama-server's path, or the one bench/llm/build_llama_server.sh builds (or has built)."""
    if args.llama_server:
        return args.llama_server
    built = subprocess.run(["sh", os.path.join(HERE, "build_llama_server.sh")], check=True,
                           stdout=subprocess.PIPE, text=True)
    return built.stdout.strip().splitlines()[-1]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--berth", default=os.path.join(ROOT, "build", "berth"))
    parser.add_argument("--model", default=os.path.join(ROOT, "bench", "models", "llm", "llama-1b-Q4_K_M.gguf"))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--prompt-tokens", type=int, default=64)
    parser.add_argument("--gen-tokens", type=int, default=64)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--levels", default="1,2,4,8,16")
    llama = parser.add_mutually_exclusive_group()
    llama.add_argument("--llama-server", nargs="?", metavar="PATH",
                       help="llama.cpp's llama-server (default: built by bench/llm/build_llama_server.sh)")
    llama.add_argument("--no-llama", action="store_true", help="berth alone")
    args = parser.parse_args()
    if not os.path.exists(args.model):
        subprocess.run([sys.executable, os.path.join(HERE, "make_models.py"), "--out", os.path.dirname(args.model),
                        "--shapes", "llama-1b", "--types", "Q4_K_M"], check=True)
    sys.path.insert(0, os.path.join(ROOT, "scripts", "llm"))
    from gguf_reader import GGUFReader
    vocab = len(GGUFReader(args.model).metadata["tokenizer.ggml.tokens"])
    llama_binary = None if args.no_llama else llama_server_binary(args)

    report = {"model": os.path.basename(args.model), "threads": args.threads, "prompt_tokens": args.prompt_tokens,
              "gen_tokens": args.gen_tokens}
    report.update(measure(Server(args.berth, args.model, args.threads, 16), args, vocab))
    if llama_binary:
        version = subprocess.run([llama_binary, "--version"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                 text=True).stdout
        match = re.search(r"^version: (.*)$", version, re.MULTILINE)
        report["llama_cpp"] = {"version": match.group(1) if match else "unknown"}
        report["llama_cpp"].update(measure(LlamaServer(llama_binary, args.model, args.threads, 16), args, vocab))
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    out = os.path.join(ROOT, "bench", "results", f"llm-serve-{stamp}.json")
    os.makedirs(os.path.dirname(out), exist_ok=True)
    with open(out, "w") as f:
        json.dump(report, f, indent=1)
    print_levels("berth", report)
    if llama_binary:
        print_levels(f"llama.cpp {report['llama_cpp']['version']}", report["llama_cpp"])
        print_side_by_side(report, report["llama_cpp"])
    print_ttft_under_load("berth", report["ttft_under_load"])
    if llama_binary:
        print_ttft_under_load("llama.cpp", report["llama_cpp"]["ttft_under_load"])
    print(f"\n{out}")


if __name__ == "__main__":
    main()
