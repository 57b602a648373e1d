"""OpenAI's API on GGUF language models, end to end: `berth serve MODEL.gguf`
with the committed KJV models (SentencePiece and byte-level BPE), called over
raw sockets (the SSE bytes), http.client and the official `openai` npm client.

  /usr/bin/python3 tests/e2e/test_openai.py --berth build/berth [unittest args]
"""
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
import unittest

import berth_testlib as lib

sys.path.insert(0, os.path.join(lib.ROOT, "scripts", "llm"))
from gguf_reader import GGUFReader  # noqa: E402
from gguf_writer import GGUFWriter, ValueType  # noqa: E402

MODELS = os.path.join(lib.ROOT, "tests", "data", "llm", "models")
LLAMA = os.path.join(MODELS, "kjv-llama-f32.gguf")
QWEN = os.path.join(MODELS, "kjv-qwen2-f32.gguf")
OPENAI_CLIENT = os.path.join(lib.HERE, "openai_client.mjs")
NODE_MODULES = os.path.join(lib.ROOT, "tests", "llm", "ref", "node_modules")
TEMPLATES = os.path.join(lib.ROOT, "tests", "data", "llm", "chat_templates")


def with_chat_template(source, template_file):
    """A copy of a GGUF model with tokenizer.chat_template set to the file's
    text (None: without a chat template)."""
    reader = GGUFReader(source)
    writer = GGUFWriter()
    for key, value in reader.metadata.items():
        vtype, element = reader.metadata_types[key]
        if key not in ("general.alignment", "tokenizer.chat_template"):
            writer.add(key, value, element if vtype == ValueType.ARRAY else vtype)
    if template_file:
        with open(os.path.join(TEMPLATES, template_file)) as f:
            writer.add("tokenizer.chat_template", f.read())
    for tensor in reader.tensors.values():
        writer.add_raw_tensor(tensor.name, tensor.dims, tensor.type_name, reader.tensor_bytes(tensor.name))
    path = os.path.join(lib.temp_dir(), os.path.basename(source))
    writer.write(path)
    return path


def post(port, path, payload, headers=None, timeout=60):
    status, response_headers, body = lib.request(port, "POST", path, payload, headers, timeout=timeout)
    return status, response_headers, json.loads(body) if body else None


def generate_cli(model, prompt, max_tokens):
    """`berth generate` greedy: the text the server must give."""
    out = subprocess.run([lib.BERTH, "generate", model, "--prompt", prompt, "--temperature", "0", "-n",
                          str(max_tokens), "--ignore-eos", "--threads", "1", "--batch-size", "256"],
                         capture_output=True, check=True)
    return out.stdout.decode()[:-1]  # its final newline


def open_stream(port, path, payload):
    """Sends a request on a raw socket; returns the socket and the response head."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=60)
    body = json.dumps(payload).encode()
    sock.sendall(f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                 f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
    buffer = b""
    while b"\r\n\r\n" not in buffer:
        chunk = sock.recv(65536)
        if not chunk:
            raise AssertionError("connection closed before the response head")
        buffer += chunk
    head, _, rest = buffer.partition(b"\r\n\r\n")
    return sock, head.decode("latin-1"), rest


def read_chunked(sock, rest):
    """The body of a chunked response, checking the chunk framing."""
    data = rest
    body = b""
    while True:
        while b"\r\n" not in data:
            more = sock.recv(65536)
            if not more:
                raise AssertionError("connection closed inside the chunked body")
            data += more
        size_line, _, data = data.partition(b"\r\n")
        size = int(size_line, 16)
        while len(data) < size + 2:
            more = sock.recv(65536)
            if not more:
                raise AssertionError("connection closed inside a chunk")
            data += more
        if data[size:size + 2] != b"\r\n":
            raise AssertionError("a chunk does not end with CRLF")
        if size == 0:
            return body
        body += data[:size]
        data = data[size + 2:]


def sse_events(body):
    """The `data:` payloads of an event stream, checking its framing."""
    text = body.decode("utf-8")
    if not text.endswith("\n\n"):
        raise AssertionError(f"the stream does not end with a blank line: {text[-50:]!r}")
    events = []
    for block in text[:-2].split("\n\n"):
        if not block.startswith("data: ") or "\n" in block:
            raise AssertionError(f"not one data line: {block!r}")
        events.append(block[len("data: "):])
    return events


def stream(port, path, payload):
    sock, head, rest = open_stream(port, path, payload)
    try:
        lines = head.split("\r\n")
        headers = {line.split(":", 1)[0].lower(): line.split(":", 1)[1].strip() for line in lines[1:]}
        return int(lines[0].split()[1]), headers, read_chunked(sock, rest)
    finally:
        sock.close()


class CompletionsBothTokenizers(unittest.TestCase):
    """Completions, streamed and not, give `berth generate`'s text on both
    tokenizer families; the SSE bytes are OpenAI's."""

    def test_completions(self):
        for model in (LLAMA, QWEN):
            with self.subTest(model=os.path.basename(model)):
                server = lib.BerthServer([model, "--parallel", "2", "--llm-threads", "1"])
                server.wait_ready()
                try:
                    self.check_model(server.port, model)
                finally:
                    self.assertEqual(server.stop(), 0)

    def check_model(self, port, model):
        name = os.path.basename(model)[:-5]
        expected = generate_cli(model, "And God said", 24)
        status, _, body = post(port, "/v1/completions", {"model": name, "prompt": "And God said",
                                                         "max_tokens": 24, "temperature": 0, "ignore_eos": True})
        self.assertEqual(status, 200, body)
        self.assertEqual(body["object"], "text_completion")
        self.assertTrue(body["id"].startswith("cmpl-"))
        self.assertEqual(body["model"], name)
        choice = body["choices"][0]
        self.assertEqual(choice["text"], expected)
        self.assertEqual(choice["finish_reason"], "length")
        self.assertIsNone(choice["logprobs"])
        self.assertEqual(body["usage"]["completion_tokens"], 24)
        self.assertEqual(body["usage"]["total_tokens"], body["usage"]["prompt_tokens"] + 24)

        status, headers, raw = stream(port, "/v1/completions", {
            "model": name, "prompt": "And God said", "max_tokens": 24, "temperature": 0, "ignore_eos": True,
            "stream": True, "stream_options": {"include_usage": True}})
        self.assertEqual(status, 200)
        self.assertEqual(headers["content-type"], "text/event-stream")
        self.assertEqual(headers["transfer-encoding"], "chunked")
        self.assertNotIn("content-length", headers)
        events = sse_events(raw)
        self.assertEqual(events[-1], "[DONE]")
        chunks = [json.loads(e) for e in events[:-1]]
        usage = chunks[-1]
        self.assertEqual(usage["choices"], [])
        self.assertEqual(usage["usage"]["completion_tokens"], 24)
        text = ""
        for chunk in chunks[:-1]:
            self.assertEqual(chunk["object"], "text_completion")
            self.assertIsNone(chunk["usage"])
            text += chunk["choices"][0]["text"]
        self.assertEqual(text, expected)
        self.assertEqual(chunks[-2]["choices"][0]["finish_reason"], "length")
        self.assertTrue(all(c["choices"][0]["finish_reason"] is None for c in chunks[:-2]))
        self.assertEqual(len({c["id"] for c in chunks}), 1)

        # Logprobs: one per token, the alternatives best first.
        status, _, body = post(port, "/v1/completions", {"prompt": "And God said", "max_tokens": 5,
                                                         "temperature": 0, "logprobs": 3, "ignore_eos": True})
        self.assertEqual(status, 200, body)
        logprobs = body["choices"][0]["logprobs"]
        self.assertEqual(len(logprobs["tokens"]), 5)
        self.assertEqual("".join(logprobs["tokens"]), body["choices"][0]["text"])
        for value, top in zip(logprobs["token_logprobs"], logprobs["top_logprobs"]):
            self.assertLessEqual(value, 0)
            self.assertEqual(len(top), 3)
            self.assertAlmostEqual(max(top.values()), value, places=5)  # greedy: the best one

        # Token ids as the prompt, and /tokenize and /detokenize agreeing.
        status, _, tokens = post(port, "/tokenize", {"prompt": "And God said"})
        self.assertEqual(status, 200, tokens)
        self.assertEqual(tokens["count"], len(tokens["tokens"]))
        status, _, back = post(port, "/detokenize", {"tokens": tokens["tokens"]})
        self.assertEqual(status, 200, back)
        self.assertIn("And God said", back["prompt"])
        status, _, body = post(port, "/v1/completions", {"prompt": tokens["tokens"], "max_tokens": 24,
                                                         "temperature": 0, "ignore_eos": True})
        self.assertEqual(status, 200, body)
        self.assertEqual(body["choices"][0]["text"], expected)

        # Several prompts and n: choices in order, prompt tokens counted once per prompt.
        status, _, body = post(port, "/v1/completions", {"prompt": ["And God said", "And God said"], "n": 2,
                                                         "max_tokens": 24, "temperature": 0, "ignore_eos": True})
        self.assertEqual(status, 200, body)
        self.assertEqual([c["index"] for c in body["choices"]], [0, 1, 2, 3])
        self.assertTrue(all(c["text"] == expected for c in body["choices"]))
        self.assertEqual(body["usage"]["prompt_tokens"], 2 * tokens["count"])
        self.assertEqual(body["usage"]["completion_tokens"], 4 * 24)

        # Stop strings: the text ends before them.
        cut = expected.find(" ", 4)
        status, _, body = post(port, "/v1/completions", {"prompt": "And God said", "max_tokens": 24,
                                                         "temperature": 0, "stop": [expected[cut:cut + 3]]})
        self.assertEqual(status, 200, body)
        self.assertEqual(body["choices"][0]["text"], expected[:cut])
        self.assertEqual(body["choices"][0]["finish_reason"], "stop")

        # A seed makes sampling reproducible; another seed (almost surely) differs.
        def sampled(seed):
            payload = {"prompt": "And God said", "max_tokens": 24, "temperature": 1.0, "seed": seed,
                       "ignore_eos": True}
            return post(port, "/v1/completions", payload)[2]["choices"][0]["text"]
        self.assertEqual(sampled(7), sampled(7))
        self.assertNotEqual(sampled(7), sampled(8))

        status, models = lib.get_json(port, "/v1/models")
        self.assertEqual(status, 200)
        self.assertEqual(models["object"], "list")
        self.assertEqual([m["id"] for m in models["data"]], [name])
        status, model_card = lib.get_json(port, f"/v1/models/{name}")
        self.assertEqual(model_card["id"], name)
        self.assertEqual(lib.get_json(port, "/v1/models/nope")[0], 404)


class RequestFields(unittest.TestCase):
    """Every sampling field changes what it should: each is checked against
    the same request without it."""

    def test_fields(self):
        server = lib.BerthServer([LLAMA, "--llm-threads", "1", "--parallel", "2"])
        try:
            server.wait_ready()
            port = server.port

            def complete(**fields):
                payload = {"prompt": "And God said", "max_tokens": 12, "temperature": 0, "ignore_eos": True}
                payload.update(fields)
                status, _, body = post(port, "/v1/completions", payload)
                self.assertEqual(status, 200, body)
                return body

            def text(**fields):
                return complete(**fields)["choices"][0]["text"]

            greedy = complete(logprobs=1)
            base = greedy["choices"][0]["text"]
            first = greedy["choices"][0]["logprobs"]["tokens"][0]
            status, _, ids = post(port, "/tokenize", {"prompt": first, "add_special_tokens": False})
            first_id = ids["tokens"][-1]
            # max_completion_tokens is max_tokens' newer name.
            self.assertEqual(complete(max_completion_tokens=5)["usage"]["completion_tokens"], 5)
            # logit_bias: -100 bans the greedy first token; +100 forces another.
            self.assertNotEqual(text(logit_bias={str(first_id): -100}).split(" ")[:2], base.split(" ")[:2])
            forced = text(logit_bias={str(first_id + 1): 100}, max_tokens=3)
            status, _, piece = post(port, "/detokenize", {"tokens": [first_id + 1] * 3})
            self.assertEqual(forced, piece["prompt"])
            # top_k 1 and a tiny top_p are greedy at any temperature; min_p 1 too.
            self.assertEqual(text(temperature=1.5, top_k=1, seed=1), base)
            self.assertEqual(text(temperature=1.5, top_p=0.0001, seed=2), base)
            self.assertEqual(text(temperature=1.5, min_p=1.0, seed=3), base)
            # Sampling at temperature 2 with different seeds differs from greedy somewhere.
            self.assertTrue(any(text(temperature=2.0, seed=seed) != base for seed in range(4)))
            # Penalties against repetition change a greedy text that repeats.
            long_base = text(max_tokens=40)
            self.assertNotEqual(text(max_tokens=40, repetition_penalty=1.5), long_base)
            self.assertNotEqual(text(max_tokens=40, frequency_penalty=2.0), long_base)
            self.assertNotEqual(text(max_tokens=40, presence_penalty=2.0), long_base)
            # user is accepted and changes nothing; unknown fields are ignored.
            self.assertEqual(text(user="someone", some_future_field={"x": 1}), base)
            # Content given as text parts is the same as a string.
            status, _, a = post(port, "/v1/chat/completions", {
                "messages": [{"role": "user", "content": "And God said"}], "max_tokens": 8, "temperature": 0})
            status, _, b = post(port, "/v1/chat/completions", {
                "messages": [{"role": "user", "content": [{"type": "text", "text": "And God "},
                                                          {"type": "text", "text": "said"}]}],
                "max_tokens": 8, "temperature": 0})
            self.assertEqual(a["choices"][0]["message"], b["choices"][0]["message"])
            # n with a seed: reproducible choices that differ from each other.
            one = complete(temperature=1.0, seed=11, n=3)
            two = complete(temperature=1.0, seed=11, n=3)
            self.assertEqual([c["text"] for c in one["choices"]], [c["text"] for c in two["choices"]])
            self.assertGreater(len({c["text"] for c in one["choices"]}), 1)
            # A system message goes through the template too (it changes the prompt).
            status, _, sys_body = post(port, "/v1/chat/completions", {
                "messages": [{"role": "system", "content": "In the beginning"},
                             {"role": "user", "content": "And God said"}], "max_tokens": 4, "temperature": 0})
            self.assertGreater(sys_body["usage"]["prompt_tokens"], a["usage"]["prompt_tokens"])
        finally:
            self.assertEqual(server.stop(), 0)


class ConcurrentStreamsMatchAlone(unittest.TestCase):
    """8 streams at once at temperature 0 give exactly the tokens each gives alone."""

    def test_eight_streams(self):
        prompts = ["And God said", "In the beginning", "Blessed are the", "Thou shalt not", "And Moses said",
                   "The LORD is my", "And it came to pass", "For God so loved"]
        server = lib.BerthServer([QWEN, "--parallel", "4", "--llm-threads", "1", "--max-waiting", "16"])
        server.wait_ready()
        try:
            alone = {}
            for prompt in prompts:
                status, _, body = post(server.port, "/v1/completions", {"prompt": prompt, "max_tokens": 32,
                                                                        "temperature": 0, "ignore_eos": True})
                self.assertEqual(status, 200, body)
                alone[prompt] = body["choices"][0]["text"]
            together = {}

            def run(prompt):
                status, _, raw = stream(server.port, "/v1/completions", {
                    "prompt": prompt, "max_tokens": 32, "temperature": 0, "ignore_eos": True, "stream": True})
                events = sse_events(raw)
                together[prompt] = "".join(json.loads(e)["choices"][0]["text"] for e in events[:-1])
            threads = [threading.Thread(target=run, args=(p,)) for p in prompts]
            for t in threads:
                t.start()
            for t in threads:
                t.join(120)
            self.assertEqual(together, alone)
        finally:
            self.assertEqual(server.stop(), 0)


class QueueDisconnectAndDrain(unittest.TestCase):
    """One slot: a full queue answers 429 with Retry-After; a client that
    hangs up frees its slot for the next request; SIGTERM finishes streams."""

    def test_queue_and_disconnect(self):
        server = lib.BerthServer([LLAMA, "--parallel", "1", "--max-waiting", "1", "--llm-threads", "1"])
        server.wait_ready()
        try:
            long = {"prompt": "And", "max_tokens": 250, "temperature": 0, "ignore_eos": True, "stream": True}
            sock, head, _ = open_stream(server.port, "/v1/completions", long)
            self.assertIn("200", head.split("\r\n")[0])
            waiting = {}

            def queued():
                waiting["response"] = post(server.port, "/v1/completions",
                                           {"prompt": "And God said", "max_tokens": 4, "temperature": 0})
            thread = threading.Thread(target=queued)
            thread.start()
            lib.wait_until(lambda: lib.metric_value(lib.scrape(server.port),
                                                    "berth_llm_waiting_sequences", model="kjv-llama-f32") == 1,
                           message="a request waiting")
            status, headers, body = post(server.port, "/v1/completions", {"prompt": "x", "max_tokens": 4})
            self.assertEqual(status, 429, body)
            self.assertEqual(headers.get("retry-after"), "1")
            self.assertEqual(body["error"]["type"], "rate_limit_error")
            # The streaming client goes away: the waiting request runs.
            sock.close()
            thread.join(60)
            status, _, body = waiting["response"]
            self.assertEqual(status, 200, body)
            self.assertEqual(body["usage"]["completion_tokens"], 4)
            families = lib.scrape(server.port)
            self.assertEqual(lib.metric_value(families, "berth_llm_requests_total", model="kjv-llama-f32",
                                              outcome="cancelled"), 1)
            self.assertEqual(lib.metric_value(families, "berth_llm_requests_total", model="kjv-llama-f32",
                                              outcome="rejected"), 1)
        finally:
            self.assertEqual(server.stop(), 0)

    def test_sigterm_finishes_streams(self):
        server = lib.BerthServer([LLAMA, "--parallel", "2", "--llm-threads", "1"])
        server.wait_ready()
        results = {}

        def run(i):
            results[i] = stream(server.port, "/v1/completions", {
                "prompt": "And God said", "max_tokens": 120, "temperature": 0, "ignore_eos": True, "stream": True})
        threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
        for t in threads:
            t.start()
        lib.wait_until(lambda: lib.metric_value(lib.scrape(server.port),
                                                "berth_llm_running_sequences", model="kjv-llama-f32") == 2,
                       message="both streams running")
        server.signal()
        for t in threads:
            t.join(120)
        self.assertEqual(server.process.wait(60), 0)
        for i in range(2):
            status, _, raw = results[i]
            self.assertEqual(status, 200)
            events = sse_events(raw)
            self.assertEqual(events[-1], "[DONE]")
            self.assertEqual(json.loads(events[-2])["choices"][0]["finish_reason"], "length")
        server.stop()


BAD_COMPLETIONS = [
    ({"prompt": "x", "max_tokens": -1}, "max_tokens"),
    ({"prompt": "x", "max_tokens": 2 ** 31}, "max_tokens"),
    ({"prompt": "x", "max_tokens": "10"}, "max_tokens"),
    ({"prompt": "x", "max_tokens": 1.5}, "max_tokens"),
    ({"prompt": "x", "max_completion_tokens": 0}, "max_completion_tokens"),
    ({"prompt": "x", "n": 10 ** 6}, "n"),
    ({"prompt": "x", "n": 0}, "n"),
    ({"prompt": "x", "top_k": -5}, "top_k"),
    ({"prompt": "x", "temperature": -1}, "temperature"),
    ({"prompt": "x", "temperature": 3}, "temperature"),
    ({"prompt": "x", "top_p": 0}, "top_p"),
    ({"prompt": "x", "top_p": 1.5}, "top_p"),
    ({"prompt": "x", "min_p": -0.1}, "min_p"),
    ({"prompt": "x", "presence_penalty": 5}, "presence_penalty"),
    ({"prompt": "x", "frequency_penalty": "high"}, "frequency_penalty"),
    ({"prompt": "x", "repetition_penalty": 0}, "repetition_penalty"),
    ({"prompt": "x", "logprobs": 10 ** 9}, "logprobs"),
    ({"prompt": "x", "logit_bias": {"999999": 1}}, None),
    ({"prompt": "x", "logit_bias": {"abc": 1}}, "logit_bias"),
    ({"prompt": "x", "logit_bias": {"5": 1000}}, "logit_bias"),
    ({"prompt": "x", "logit_bias": [1, 2]}, "logit_bias"),
    ({"prompt": "x", "stop": 5}, "stop"),
    ({"prompt": "x", "stop": [""]}, "stop"),
    ({"prompt": "x", "stop": ["a"] * 100}, "stop"),
    ({"prompt": "x", "stream": "yes"}, "stream"),
    ({"prompt": "x", "stream_options": {"include_usage": True}}, "stream_options"),
    ({"prompt": "x", "seed": "one"}, "seed"),
    ({"prompt": "x", "response_format": {"type": "yaml"}}, "response_format.type"),
    ({"prompt": "x", "response_format": {"type": "json_schema"}}, "response_format.json_schema"),
    ({}, "prompt"),
    ({"prompt": 42}, "prompt"),
    ({"prompt": []}, "prompt"),
    ({"prompt": [[1, 2], "x", {"a": 1}]}, "prompt"),
    ({"prompt": [1, 2, 99999999]}, None),
    ({"prompt": "x" * 200000}, None),
    ({"prompt": "x", "model": "nope"}, "model"),
    ({"prompt": "x", "model": 7}, "model"),
]


class BadRequests(unittest.TestCase):
    """Each bad request is a 4xx with OpenAI's error object; the server keeps serving."""

    def test_bad_requests(self):
        server = lib.BerthServer([LLAMA, "--llm-threads", "1", "--max-request-bytes", "4000000"])
        server.wait_ready()
        try:
            port = server.port
            cases = [("/v1/completions", json.dumps(body).encode(), param) for body, param in BAD_COMPLETIONS]
            chat = [
                ({"messages": "hi"}, "messages"),
                ({}, "messages"),
                ({"messages": []}, "messages"),
                ({"messages": [{"role": "wizard", "content": "hi"}]}, "messages[0].role"),
                ({"messages": [{"content": "hi"}]}, "messages[0].role"),
                ({"messages": [{"role": "user"}]}, "messages[0].content"),
                ({"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {}}]}]},
                 "messages[0].content"),
                ({"messages": [{"role": "user", "content": 5}]}, "messages[0].content"),
                ({"messages": [{"role": "user", "content": "hi"}], "top_logprobs": 3}, "top_logprobs"),
                ({"messages": [{"role": "user", "content": "hi"}], "logprobs": True, "top_logprobs": 10 ** 9},
                 "top_logprobs"),
            ]
            cases += [("/v1/chat/completions", json.dumps(body).encode(), param) for body, param in chat]
            nested = {"role": "user", "content": "hi"}
            for _ in range(200):
                nested = {"nested": nested}
            cases.append(("/v1/chat/completions", json.dumps({"messages": [nested]}).encode(), None))
            cases.append(("/v1/completions", b'{"prompt": "\xff\xfe"}', None))
            cases.append(("/v1/completions", b'{"prompt": "x", "temperature": NaN}', "temperature"))
            cases.append(("/v1/completions", b'{"prompt": ', None))
            cases.append(("/v1/completions", b'[1, 2]', None))
            cases.append(("/tokenize", b'{"prompt": 5}', "prompt"))
            cases.append(("/detokenize", b'{"tokens": [-1]}', "tokens"))
            cases.append(("/detokenize", b'{"tokens": [99999999]}', None))
            self.assertGreaterEqual(len(cases), 30)
            for path, body, param in cases:
                with self.subTest(path=path, body=body[:80]):
                    status, _, raw = lib.request(port, "POST", path, body, {"Content-Type": "application/json"})
                    self.assertGreaterEqual(status, 400, raw[:200])
                    self.assertLess(status, 500, raw[:200])
                    error = json.loads(raw)["error"]
                    self.assertIsInstance(error["message"], str)
                    self.assertTrue(error["message"])
                    self.assertIn("type", error)
                    self.assertIn("code", error)
                    if param is not None:
                        self.assertEqual(error["param"], param)
            # A body over the limit: 413 from the transport.
            status, _, _ = lib.request(port, "POST", "/v1/completions", b'{"prompt": "' + b"x" * 5000000 + b'"}')
            self.assertEqual(status, 413)
            status, _, body = post(port, "/v1/completions", {"prompt": "And God said", "max_tokens": 3})
            self.assertEqual(status, 200, body)
        finally:
            self.assertEqual(server.stop(), 0)


SCHEMAS = [
    {"type": "object", "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
     "required": ["name", "age"], "additionalProperties": False},
    {"type": "object", "properties": {"verses": {"type": "array", "items": {"type": "string"}, "maxItems": 3},
                                      "book": {"enum": ["Genesis", "Exodus", "Psalms"]}},
     "required": ["book", "verses"], "additionalProperties": False},
    {"type": "object", "properties": {"ok": {"type": "boolean"}, "score": {"type": "number"}, "none": {"type": "null"},
                                      "inner": {"type": "object", "properties": {"k": {"const": "v"}},
                                                "required": ["k"], "additionalProperties": False}},
     "required": ["ok", "score", "none", "inner"], "additionalProperties": False},
]


class ChatAndStructuredOutput(unittest.TestCase):
    """Chat through the model's own template (SentencePiece model) and a
    --chat-template file (Qwen2.5's, on the BPE model): the rendered prompt's text, streamed
    with the role first; json_object and json_schema outputs parse and
    validate; a model without a template answers 400."""

    def test_chat(self):
        import jsonschema
        servers = [
            (lib.BerthServer([LLAMA, "--llm-threads", "1", "--parallel", "2"]), "Question: And God said\nAnswer:"),
            (lib.BerthServer([QWEN, "--llm-threads", "1", "--parallel", "2", "--chat-template",
                              os.path.join(TEMPLATES, "Qwen-Qwen2.5-7B-Instruct.jinja")]),
             "<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\n"
             "<|im_start|>user\nAnd God said<|im_end|>\n<|im_start|>assistant\n"),
        ]
        try:
            for server, rendered in servers:
                server.wait_ready()
                port = server.port
                messages = [{"role": "user", "content": "And God said"}]
                status, _, chat = post(port, "/v1/chat/completions", {"messages": messages, "max_tokens": 16,
                                                                      "temperature": 0, "ignore_eos": True})
                self.assertEqual(status, 200, chat)
                self.assertEqual(chat["object"], "chat.completion")
                self.assertTrue(chat["id"].startswith("chatcmpl-"))
                message = chat["choices"][0]["message"]
                self.assertEqual(message["role"], "assistant")
                # The same as completing the template's text.
                status, _, plain = post(port, "/v1/completions", {"prompt": rendered, "max_tokens": 16,
                                                                  "temperature": 0, "ignore_eos": True})
                self.assertEqual(message["content"], plain["choices"][0]["text"])
                self.assertEqual(chat["usage"]["prompt_tokens"], plain["usage"]["prompt_tokens"])

                status, headers, raw = stream(port, "/v1/chat/completions", {
                    "messages": messages, "max_tokens": 16, "temperature": 0, "ignore_eos": True, "stream": True})
                events = sse_events(raw)
                self.assertEqual(events[-1], "[DONE]")
                chunks = [json.loads(e) for e in events[:-1]]
                self.assertEqual(chunks[0]["choices"][0]["delta"], {"role": "assistant", "content": ""})
                self.assertTrue(all(c["object"] == "chat.completion.chunk" for c in chunks))
                self.assertEqual("".join(c["choices"][0]["delta"].get("content", "") for c in chunks),
                                 message["content"])
                self.assertEqual(chunks[-1]["choices"][0]["finish_reason"], "length")

                status, _, body = post(port, "/v1/chat/completions", {
                    "messages": messages, "max_tokens": 4, "temperature": 0, "logprobs": True, "top_logprobs": 2})
                self.assertEqual(status, 200, body)
                content = body["choices"][0]["logprobs"]["content"]
                self.assertEqual(len(content), body["usage"]["completion_tokens"])
                for entry in content:
                    self.assertEqual(bytes(entry["bytes"]).decode("utf-8", "replace"), entry["token"])
                    self.assertEqual(len(entry["top_logprobs"]), 2)

                # Multi-turn: the history's prompt tokens come from the cache.
                history = messages + [{"role": "assistant", "content": message["content"]},
                                      {"role": "user", "content": "And the earth"}]
                status, _, body = post(port, "/v1/chat/completions", {"messages": history, "max_tokens": 4})
                self.assertEqual(status, 200, body)
                self.assertGreater(body["usage"]["prompt_tokens_details"]["cached_tokens"], 0)

                for i, schema in enumerate(SCHEMAS * 2):
                    payload = {"messages": messages, "max_tokens": 120, "temperature": 1.0, "seed": i,
                               "response_format": {"type": "json_schema",
                                                   "json_schema": {"name": f"s{i}", "schema": schema}}}
                    status, _, body = post(port, "/v1/chat/completions", payload)
                    self.assertEqual(status, 200, body)
                    document = json.loads(body["choices"][0]["message"]["content"])
                    jsonschema.validate(document, schema)
                    self.assertEqual(body["choices"][0]["finish_reason"], "stop")
                status, _, body = post(port, "/v1/chat/completions", {
                    "messages": messages, "max_tokens": 80, "temperature": 1.0, "seed": 5,
                    "response_format": {"type": "json_object"}})
                self.assertEqual(status, 200, body)
                self.assertIsInstance(json.loads(body["choices"][0]["message"]["content"]), dict)
                status, _, body = post(port, "/v1/chat/completions", {
                    "messages": messages, "response_format": {"type": "json_schema", "json_schema": {
                        "name": "r", "schema": {"$ref": "#/$defs/a", "$defs": {"a": {"$ref": "#/$defs/a"}}}}}})
                self.assertEqual(status, 400, body)
                deep = {"type": "string"}
                for _ in range(500):
                    deep = {"type": "array", "items": deep}
                status, _, body = post(port, "/v1/chat/completions", {
                    "messages": messages, "response_format": {"type": "json_schema",
                                                              "json_schema": {"name": "d", "schema": deep}}})
                self.assertEqual(status, 400, body)
        finally:
            for server, _ in servers:
                self.assertEqual(server.stop(), 0)

    def test_no_template_and_bad_template(self):
        server = lib.BerthServer([with_chat_template(LLAMA, None), "--llm-threads", "1"])
        try:
            server.wait_ready()
            status, _, body = post(server.port, "/v1/chat/completions",
                                   {"messages": [{"role": "user", "content": "hi"}]})
            self.assertEqual(status, 400, body)
            self.assertIn("chat template", body["error"]["message"])
        finally:
            self.assertEqual(server.stop(), 0)
        bad = os.path.join(lib.temp_dir(), "bad.jinja")
        with open(bad, "w") as f:
            f.write("{% for m in messages %}{{ m.content }")
        server = lib.BerthServer([LLAMA, "--llm-threads", "1", "--chat-template", bad])
        try:
            lib.wait_until(lambda: "cannot be used" in server.log(), message="the load failure logged")
            status, _, body = post(server.port, "/v1/completions", {"prompt": "x", "model": "kjv-llama-f32"})
            self.assertEqual(status, 503, body)
            self.assertIn("--chat-template", body["error"]["message"])
        finally:
            server.stop()


class Embeddings(unittest.TestCase):
    """/v1/embeddings: the mean of the final hidden states, L2-normalised,
    as a float64 PyTorch reference computes it; float and base64 encodings;
    batched inputs equal to the same inputs alone; token-id inputs."""

    def test_embeddings(self):
        import base64
        import struct
        import numpy as np
        for model in (LLAMA, QWEN):
            with self.subTest(model=os.path.basename(model)):
                server = lib.BerthServer([model, "--llm-threads", "1", "--parallel", "3"])
                try:
                    server.wait_ready()
                    port = server.port
                    texts = ["And God said", "In the beginning God created the heaven and the earth.", "Amen"]
                    status, _, batch = post(port, "/v1/embeddings", {"input": texts})
                    self.assertEqual(status, 200, batch)
                    self.assertEqual(batch["object"], "list")
                    vectors = [np.array(d["embedding"]) for d in batch["data"]]
                    self.assertEqual([d["index"] for d in batch["data"]], [0, 1, 2])
                    for v in vectors:
                        self.assertAlmostEqual(float(np.linalg.norm(v)), 1.0, places=5)
                    for text, v in zip(texts, vectors):
                        status, _, alone = post(port, "/v1/embeddings", {"input": text})
                        self.assertEqual(alone["data"][0]["embedding"], list(v))
                    status, _, ids = post(port, "/tokenize", {"prompt": texts[1]})
                    self.assertEqual(batch["usage"]["prompt_tokens"],
                                     sum(post(port, "/tokenize", {"prompt": t})[2]["count"] for t in texts))
                    status, _, by_ids = post(port, "/v1/embeddings", {"input": ids["tokens"]})
                    self.assertEqual(by_ids["data"][0]["embedding"], list(vectors[1]))
                    status, _, encoded = post(port, "/v1/embeddings", {"input": texts[1], "encoding_format": "base64"})
                    raw = base64.b64decode(encoded["data"][0]["embedding"])
                    self.assertEqual(list(struct.unpack(f"<{len(raw) // 4}f", raw)),
                                     [float(np.float32(x)) for x in vectors[1]])
                    # The float64 reference: mean of the hidden states, normalised.
                    out = os.path.join(lib.temp_dir(), "hidden.npy")
                    subprocess.run(["/usr/bin/python3", os.path.join(lib.ROOT, "tests", "llm", "torch_reference.py"),
                                    "--model", model, "--tokens", ",".join(map(str, ids["tokens"])), "--out", out,
                                    "--hidden"], check=True, capture_output=True)
                    reference = np.load(out).astype(np.float64).mean(axis=0)
                    reference /= np.linalg.norm(reference)
                    self.assertLess(float(np.abs(reference - vectors[1]).max()), 1e-4)
                    self.assertEqual(post(port, "/v1/embeddings", {"input": "x", "dimensions": 3})[0], 400)
                    self.assertEqual(post(port, "/v1/embeddings", {"input": ""})[0], 400)
                    self.assertEqual(post(port, "/v1/embeddings", {"input": "x", "encoding_format": "hex"})[0], 400)
                    self.assertEqual(post(port, "/v1/embeddings", {})[0], 400)
                finally:
                    self.assertEqual(server.stop(), 0)


class OfficialClient(unittest.TestCase):
    """The `openai` npm package (v6) against berth: models, completions
    streamed and not, errors surfaced as APIError with the right status."""

    def test_openai_client(self):
        if not os.path.isdir(os.path.join(NODE_MODULES, "openai")) or not shutil.which("node"):
            self.skipTest("the openai npm package is not installed (make llm-ref)")
        server = lib.BerthServer([LLAMA, "--parallel", "2", "--llm-threads", "1"])
        server.wait_ready()
        try:
            out = subprocess.run(["node", OPENAI_CLIENT, f"http://127.0.0.1:{server.port}/v1", "kjv-llama-f32",
                                  "chat"],
                                 capture_output=True, text=True, timeout=120,
                                 env=dict(os.environ, NODE_PATH=NODE_MODULES))
            self.assertEqual(out.returncode, 0, out.stderr + out.stdout)
            result = json.loads(out.stdout)
            expected = generate_cli(LLAMA, "And God said", 16)
            self.assertEqual(result["models"], ["kjv-llama-f32"])
            self.assertEqual(result["completion"], expected)
            self.assertEqual(result["streamed"], expected)
            self.assertEqual(result["stream_usage"]["completion_tokens"], 16)
            self.assertEqual(result["errors"], {"unknown_model": 404, "bad_temperature": 400})
            self.assertEqual(result["chat_role"], "assistant")
            self.assertEqual(len(result["embeddings"]), 2)  # the client decodes its default base64 itself
            self.assertTrue(all(n > 0 for n in result["embeddings"]))
            self.assertEqual(result["chat_streamed"], result["chat"])
            self.assertTrue(result["chat"])
        finally:
            self.assertEqual(server.stop(), 0)


if __name__ == "__main__":
    lib.main()
