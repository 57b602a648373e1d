#!/usr/bin/python3
"""Serving a language model under load: `berth serve MODEL.gguf --parallel 16`
called over OpenAI's streaming completions by 1, 2, 4, 8 and 16 concurrent
clients (closed loop: each sends its next request when its stream ends).

Reported per concurrency: aggregate generated tokens/s, time to first token
and inter-token time (p50, p99), each stream's tokens/s. Then the time to
first token of a new request while 8 streams run, against the same request
on an idle server.

  bench/llm/serve_bench.py [--berth build/berth] [--model bench/models/llm/llama-1b-Q4_K_M.gguf]
                           [--threads 2] [--prompt-tokens 64] [--gen-tokens 64] [--seconds 30]

The default model is bench/llm/make_models.py's Llama-3.2-1B-shaped Q4_K_M
(random weights, real shapes). Results: bench/results/llm-serve-<time>.json
and a Markdown table on stdout. Timing belongs here, never in `make test`.
"""
import argparse
import datetime
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


class Server:
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
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.port)) as sock:
                    sock.sendall(b"GET /v2/health/ready HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                    if b" 200 " in sock.recv(100):
                        break
            except OSError:
                pass
            time.sleep(0.1)

    def stop(self):
        self.process.terminate()
        self.process.wait(60)


def stream_once(port, prompt, gen_tokens):
    """One streamed completion: (time to first token, [gaps between tokens], tokens, seconds)."""
    body = json.dumps({"prompt": prompt, "max_tokens": gen_tokens, "temperature": 0, "ignore_eos": True,
                       "stream": True}).encode()
    start = time.monotonic()
    sock = socket.create_connection(("127.0.0.1", port), timeout=600)
    sock.sendall(f"POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\n"
                 "Connection: close\r\n\r\n".encode() + body)
    first = None
    last = None
    gaps = []
    tokens = 0
    buffer = b""
    with sock:
        while True:
            data = sock.recv(65536)
            if not data:
                break
            buffer += data
            while b"\n\n" in buffer:
                event, _, buffer = buffer.partition(b"\n\n")
                text = event[event.find(b"data: "):].decode("utf-8", "replace")
                if not text.startswith("data: {"):
                    continue
                chunk = json.loads(text[6:])
                if chunk.get("choices") and chunk["choices"][0].get("finish_reason") is None:
                    now = time.monotonic()
                    tokens += 1
                    if first is None:
                        first = now - start
                    else:
                        gaps.append(now - last)
                    last = now
    return first, gaps, tokens, time.monotonic() - start


def prompt_ids(index, length, vocab):
    """A prompt of `length` token ids, different per client (no prefix sharing)."""
    return [(1000 + 7919 * index + 104729 * i) % (vocab - 1000) + 500 for i in range(length)]


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
    threads = [threading.Thread(target=client, args=(i,)) for i in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
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
    threads = [threading.Thread(target=background, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    time.sleep(3)
    loaded = []
    for i in range(10):
        loaded.append(stream_once(port, prompt_ids(700000 + i, args.prompt_tokens, vocab), 8)[0])
        time.sleep(0.3)
    stop.set()
    for t in threads:
        t.join()
    return {"idle_ttft_p50_ms": percentile(idle, 50) * 1000, "idle_ttft_p99_ms": percentile(idle, 99) * 1000,
            "loaded_ttft_p50_ms": percentile(loaded, 50) * 1000, "loaded_ttft_p99_ms": percentile(loaded, 99) * 1000}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--berth", default=os.path.join(ROOT, "build", "berth"))
    parser.add_argument("--model", default=os.path.join(ROOT, "bench", "models", "llm", "llama-1b-Q4_K_M.gguf"))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--prompt-tokens", type=int, default=64)
    parser.add_argument("--gen-tokens", type=int, default=64)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--levels", default="1,2,4,8,16")
    args = parser.parse_args()
    if not os.path.exists(args.model):
        subprocess.run([sys.executable, os.path.join(HERE, "make_models.py"), "--out", os.path.dirname(args.model),
                        "--shapes", "llama-1b", "--types", "Q4_K_M"], check=True)
    sys.path.insert(0, os.path.join(ROOT, "scripts", "llm"))
    from gguf_reader import GGUFReader
    vocab = len(GGUFReader(args.model).metadata["tokenizer.ggml.tokens"])

    server = Server(args.berth, args.model, args.threads, 16)
    try:
        levels = [run_level(server.port, int(c), args, vocab) for c in args.levels.split(",")]
        for level in levels:
            print(f"c={level['concurrency']}: {level['aggregate_tok_s']:.1f} tok/s, TTFT p50 "
                  f"{level['ttft_p50_ms']:.0f} ms p99 {level['ttft_p99_ms']:.0f} ms, ITL p50 "
                  f"{level['itl_p50_ms']:.1f} ms p99 {level['itl_p99_ms']:.1f} ms", file=sys.stderr, flush=True)
        load = ttft_under_load(server.port, args, vocab)
    finally:
        server.stop()
    base = levels[0]["aggregate_tok_s"]
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    out = os.path.join(ROOT, "bench", "results", f"llm-serve-{stamp}.json")
    os.makedirs(os.path.dirname(out), exist_ok=True)
    with open(out, "w") as f:
        json.dump({"model": os.path.basename(args.model), "threads": args.threads, "prompt_tokens": args.prompt_tokens,
                   "gen_tokens": args.gen_tokens, "levels": levels, "ttft_under_load": load}, f, indent=1)
    print("| streams | aggregate tok/s | vs 1 stream | TTFT p50 / p99 ms | inter-token p50 / p99 ms | per stream tok/s |")
    print("| --- | --- | --- | --- | --- | --- |")
    for level in levels:
        print(f"| {level['concurrency']} | {level['aggregate_tok_s']:.1f} | {level['aggregate_tok_s'] / base:.2f}x "
              f"| {level['ttft_p50_ms']:.0f} / {level['ttft_p99_ms']:.0f} | {level['itl_p50_ms']:.1f} / "
              f"{level['itl_p99_ms']:.1f} | {level['stream_tok_s']:.1f} |")
    print(f"\nTTFT of a new request: idle p50 {load['idle_ttft_p50_ms']:.0f} / p99 {load['idle_ttft_p99_ms']:.0f} ms; "
          f"with 8 streams running p50 {load['loaded_ttft_p50_ms']:.0f} / p99 {load['loaded_ttft_p99_ms']:.0f} ms "
          f"({load['loaded_ttft_p99_ms'] / load['idle_ttft_p99_ms']:.2f}x)")
    print(f"\n{out}")


if __name__ == "__main__":
    main()
