#!/usr/bin/python3
"""`berth pull` end to end against a local HTTP server on 127.0.0.1.

The server (stdlib http.server, in a thread of this process) serves a temp
directory with Range support and injects faults by path prefix:
  /files/P          plain
  /flaky/N/P        the first N requests for P answer 500
  /truncate/P       the first request sends half the body, then closes
  /norange/P        ignores Range (always 200 with the whole body)
  /s3/BUCKET/KEY    an S3 stand-in that verifies AWS SigV4 (its own
                    implementation, independent of berth's) before serving KEY
Every request is logged (method, path, Range) so tests can check retries and
resumes. Run: pull_test.py --berth build/berth
"""
import hashlib
import hmac
import http.server
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.error
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import berth_cli_test  # noqa: E402

BERTH = None
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ACCESS_KEY = "AKIDBERTHTEST"
SECRET_KEY = "berth/secret+key"
SESSION_TOKEN = "session-token-123"


def sha256(data):
    return hashlib.sha256(data).hexdigest()


class State:
    def __init__(self, root):
        self.root = root
        self.log = []
        self.counts = {}
        self.lock = threading.Lock()


def verify_sigv4(handler, secret):
    """Recomputes the request's SigV4 signature; returns an error or None."""
    auth = handler.headers.get("Authorization", "")
    if not auth.startswith("AWS4-HMAC-SHA256 "):
        return "no SigV4 Authorization header"
    fields = dict(part.strip().split("=", 1) for part in auth[len("AWS4-HMAC-SHA256 "):].split(","))
    access, date, region, service, terminator = fields["Credential"].split("/")
    if access != ACCESS_KEY or terminator != "aws4_request" or service != "s3":
        return "bad credential scope " + fields["Credential"]
    signed = fields["SignedHeaders"].split(";")
    for required in ("host", "x-amz-date", "x-amz-content-sha256"):
        if required not in signed:
            return "header %s is not signed" % required
    path, _, query = handler.path.partition("?")
    pairs = sorted(
        (urllib.parse.quote(urllib.parse.unquote(k), safe="-_.~"), urllib.parse.quote(urllib.parse.unquote(v), safe="-_.~"))
        for k, _, v in (p.partition("=") for p in query.split("&") if p))
    canonical_query = "&".join("%s=%s" % kv for kv in pairs)
    canonical_headers = "".join("%s:%s\n" % (name, " ".join(handler.headers.get(name, "").split())) for name in signed)
    amz_date = handler.headers["x-amz-date"]
    creq = "\n".join([handler.command, path, canonical_query, canonical_headers, fields["SignedHeaders"],
                      handler.headers["x-amz-content-sha256"]])
    scope = "/".join([date, region, service, terminator])
    sts = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope, sha256(creq.encode())])
    key = ("AWS4" + secret).encode()
    for part in (date, region, service, terminator):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    expected = hmac.new(key, sts.encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, fields["Signature"]):
        return "signature mismatch"
    if handler.headers.get("x-amz-security-token") != SESSION_TOKEN or "x-amz-security-token" not in signed:
        return "session token missing or unsigned"
    return None


def make_handler(state):
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def send_plain(self, code, text):
            body = text.encode()
            self.send_response(code)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def send_hostile(self, mode):
            """endless: a body without end; huge: Content-Length 2^50; trickle:
            a byte every half second."""
            self.send_response(200)
            if mode == "huge":
                self.send_header("Content-Length", str(2 ** 50))
            elif mode == "trickle":
                self.send_header("Content-Length", "100000")
            self.send_header("Connection", "close")
            self.end_headers()
            self.close_connection = True
            chunk = b"x" * 65536 if mode != "trickle" else b"x"
            deadline = time.monotonic() + 60  # bounded even if the client never gives up
            try:
                while time.monotonic() < deadline:
                    self.wfile.write(chunk)
                    if mode == "trickle":
                        self.wfile.flush()
                        time.sleep(0.5)
            except OSError:
                pass  # the client gave up, as it should

        def do_GET(self):
            path = urllib.parse.urlsplit(self.path).path
            with state.lock:
                state.log.append((path, self.headers.get("Range")))
                state.counts[path] = state.counts.get(path, 0) + 1
                count = state.counts[path]
            parts = path.lstrip("/").split("/")
            mode, rest = parts[0], parts[1:]
            honour_range = True
            if mode == "flaky":
                failures, rest = int(rest[0]), rest[1:]
                if count <= failures:
                    return self.send_plain(500, "injected failure %d" % count)
            elif mode == "norange":
                honour_range = False
            elif mode in ("endless", "huge", "trickle"):
                return self.send_hostile(mode)
            elif mode == "s3":
                error = verify_sigv4(self, SECRET_KEY)
                if error:
                    return self.send_plain(403, "<Error><Code>SignatureDoesNotMatch</Code>%s</Error>" % error)
                rest = rest[1:]  # drop the bucket
            elif mode not in ("files", "truncate"):
                return self.send_plain(404, "no such mode")
            file_path = os.path.join(state.root, *[urllib.parse.unquote(p) for p in rest])
            if not os.path.isfile(file_path):
                return self.send_plain(404, "not found")
            with open(file_path, "rb") as f:
                data = f.read()
            start = 0
            range_header = self.headers.get("Range")
            if honour_range and range_header and range_header.startswith("bytes="):
                start = int(range_header[6:].split("-")[0])
                if start >= len(data):
                    self.send_response(416)
                    self.send_header("Content-Range", "bytes */%d" % len(data))
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_response(206)
                self.send_header("Content-Range", "bytes %d-%d/%d" % (start, len(data) - 1, len(data)))
            else:
                self.send_response(200)
            body = data[start:]
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Accept-Ranges", "bytes")
            self.end_headers()
            if mode == "truncate" and count == 1:
                self.wfile.write(body[: len(body) // 2])
                self.wfile.flush()
                self.close_connection = True
                return
            self.wfile.write(body)

    return Handler


class PullTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="berth-pull-test-")
        cls.root = os.path.join(cls.tmp, "served")
        os.makedirs(os.path.join(cls.root, "repo", "digits", "1"))
        cls.model = os.urandom(300_000)
        cls.config = b'name: "digits"\nplatform: "onnx"\n'
        cls.write(os.path.join("repo", "digits", "1", "model.onnx"), cls.model)
        cls.write(os.path.join("repo", "digits", "config.pbtxt"), cls.config)
        cls.write("model.onnx", cls.model)
        cls.write(os.path.join("repo", "manifest.sha256"),
                  ("%s  ./digits/1/model.onnx\n%s  digits/config.pbtxt\n" % (sha256(cls.model), sha256(cls.config))).encode())
        cls.write("evil.sha256", ("%s  ../escaped.onnx\n" % sha256(cls.model)).encode())
        # The demo model, for `berth serve --model-url`.
        digits = os.path.join(ROOT, "examples", "models", "digits")
        os.makedirs(os.path.join(cls.root, "demo", "digits", "1"))
        lines = []
        for relative in ("digits/config.pbtxt", "digits/1/model.onnx"):
            with open(os.path.join(digits, relative.split("/", 1)[1]), "rb") as f:
                data = f.read()
            cls.write(os.path.join("demo", relative), data)
            lines.append("%s  %s\n" % (sha256(data), relative))
        cls.write(os.path.join("demo", "manifest.sha256"), "".join(lines).encode())
        cls.state = State(cls.root)
        cls.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), make_handler(cls.state))
        cls.server.daemon_threads = True
        cls.base = "http://127.0.0.1:%d" % cls.server.server_address[1]
        cls.thread = threading.Thread(target=cls.server.serve_forever, daemon=True)
        cls.thread.start()

    @classmethod
    def tearDownClass(cls):
        cls.server.shutdown()
        cls.server.server_close()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    @classmethod
    def write(cls, relative, data):
        with open(os.path.join(cls.root, relative), "wb") as f:
            f.write(data)

    def setUp(self):
        self.dest = tempfile.mkdtemp(prefix="dest-", dir=self.tmp)
        with self.state.lock:
            self.state.log.clear()
            self.state.counts.clear()

    def pull(self, *args, env=None):
        # No proxy: the fault server is on loopback.
        full_env = {k: v for k, v in os.environ.items()
                    if not k.startswith(("AWS_", "BERTH_")) and not k.lower().endswith("_proxy")}
        full_env.update(env or {})
        result = subprocess.run([BERTH, "pull", *args, "--backoff-secs", "0.05"], capture_output=True, text=True,
                                timeout=120, env=full_env)
        return result

    def requests_for(self, path):
        return [r for r in self.state.log if r[0] == path]

    def read(self, relative):
        with open(os.path.join(self.dest, relative), "rb") as f:
            return f.read()

    def leftovers(self):
        return [n for _, _, files in os.walk(self.dest) for n in files if n.endswith(".partial")]

    def test_single_file_verified(self):
        r = self.pull(self.base + "/files/model.onnx", self.dest, "--sha256", sha256(self.model).upper())
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(self.read("model.onnx"), self.model)
        self.assertIn("pulled 1 file(s)", r.stdout)
        self.assertEqual(self.leftovers(), [])

    def test_file_name_ignores_query(self):
        r = self.pull(self.base + "/files/model.onnx?X-Amz-Signature=abc", self.dest)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(self.read("model.onnx"), self.model)

    def test_sha256_mismatch_deletes_the_download(self):
        r = self.pull(self.base + "/files/model.onnx", self.dest, "--sha256", "0" * 64)
        self.assertEqual(r.returncode, 1)
        self.assertIn("sha256 mismatch", r.stderr)
        self.assertIn(sha256(self.model), r.stderr)
        self.assertEqual(os.listdir(self.dest), [])
        self.assertEqual(len(self.requests_for("/files/model.onnx")), 1, "a mismatch is not retried")

    def test_retries_after_500s(self):
        r = self.pull(self.base + "/flaky/2/model.onnx", self.dest, "--sha256", sha256(self.model), "--retries", "3")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(self.read("model.onnx"), self.model)
        self.assertEqual(len(self.requests_for("/flaky/2/model.onnx")), 3)
        self.assertEqual(r.stderr.count("pull: retrying"), 2, r.stderr)

    def test_gives_up_after_the_last_retry(self):
        r = self.pull(self.base + "/flaky/50/model.onnx", self.dest, "--retries", "2")
        self.assertEqual(r.returncode, 1)
        self.assertIn("giving up after 3 attempts", r.stderr)
        self.assertIn("HTTP 500", r.stderr)
        self.assertEqual(len(self.requests_for("/flaky/50/model.onnx")), 3)
        self.assertFalse(os.path.exists(os.path.join(self.dest, "model.onnx")))

    def test_404_is_not_retried(self):
        r = self.pull(self.base + "/files/missing.onnx", self.dest)
        self.assertEqual(r.returncode, 1)
        self.assertIn("404", r.stderr)
        self.assertEqual(len(self.requests_for("/files/missing.onnx")), 1)

    def test_resumes_a_broken_transfer_with_range(self):
        r = self.pull(self.base + "/truncate/model.onnx", self.dest, "--sha256", sha256(self.model))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(self.read("model.onnx"), self.model)
        log = self.requests_for("/truncate/model.onnx")
        self.assertEqual(len(log), 2, log)
        self.assertIsNone(log[0][1])
        self.assertEqual(log[1][1], "bytes=%d-" % (len(self.model) // 2))

    def test_resumes_a_partial_file_left_by_an_earlier_run(self):
        with open(os.path.join(self.dest, ".model.onnx.partial"), "wb") as f:
            f.write(self.model[:1000])
        r = self.pull(self.base + "/files/model.onnx", self.dest, "--sha256", sha256(self.model))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(self.requests_for("/files/model.onnx")[0][1], "bytes=1000-")
        self.assertEqual(self.read("model.onnx"), self.model)
        self.assertEqual(self.leftovers(), [])

    def test_server_that_ignores_range_restarts_the_file(self):
        with open(os.path.join(self.dest, ".model.onnx.partial"), "wb") as f:
            f.write(b"x" * 5000)
        r = self.pull(self.base + "/norange/model.onnx", self.dest, "--sha256", sha256(self.model))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(self.read("model.onnx"), self.model)

    def test_file_already_present_is_not_downloaded_again(self):
        with open(os.path.join(self.dest, "model.onnx"), "wb") as f:
            f.write(self.model)
        r = self.pull(self.base + "/files/model.onnx", self.dest, "--sha256", sha256(self.model))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(self.state.log, [])
        self.assertIn("1 already present", r.stdout)

    def test_directory_source_with_manifest(self):
        r = self.pull(self.base + "/files/repo/", self.dest)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(self.read("digits/1/model.onnx"), self.model)
        self.assertEqual(self.read("digits/config.pbtxt"), self.config)
        self.assertFalse(os.path.exists(os.path.join(self.dest, "manifest.sha256")))

    def test_single_file_digest_from_manifest(self):
        r = self.pull(self.base + "/files/repo/digits/1/model.onnx", self.dest, "--manifest",
                      os.path.join(self.root, "evil.sha256"))
        self.assertEqual(r.returncode, 1, "the manifest does not list model.onnx")
        manifest = os.path.join(self.tmp, "single.sha256")
        with open(manifest, "w") as f:
            f.write("%s  model.onnx\n" % sha256(self.model))
        r = self.pull(self.base + "/files/repo/digits/1/model.onnx", self.dest, "--manifest", manifest)
        self.assertEqual(r.returncode, 0, r.stderr)

    def test_refuses_manifest_path_traversal(self):
        r = self.pull(self.base + "/files/repo/", self.dest, "--manifest", self.base + "/files/evil.sha256")
        self.assertEqual(r.returncode, 1)
        self.assertIn("refusing", r.stderr)
        self.assertFalse(os.path.exists(os.path.join(os.path.dirname(self.dest), "escaped.onnx")))
        self.assertEqual(self.requests_for("/files/repo/../escaped.onnx"), [])

    def test_refuses_symlink_out_of_destination(self):
        outside = tempfile.mkdtemp(prefix="outside-", dir=self.tmp)
        os.symlink(outside, os.path.join(self.dest, "digits"))
        r = self.pull(self.base + "/files/repo/", self.dest)
        self.assertEqual(r.returncode, 1)
        self.assertIn("outside", r.stderr)
        self.assertEqual(os.listdir(outside), [])

    def test_refuses_traversal_in_url_file_name(self):
        r = self.pull(self.base + "/files/%2E%2E", self.dest)
        self.assertEqual(r.returncode, 1)
        self.assertEqual(self.state.log, [])

    def s3_env(self, secret=SECRET_KEY):
        return {"AWS_ACCESS_KEY_ID": ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": secret, "AWS_SESSION_TOKEN": SESSION_TOKEN,
                "AWS_REGION": "eu-west-3", "AWS_ENDPOINT_URL_S3": self.base + "/s3"}

    def test_s3_signed_get(self):
        r = self.pull("s3://models/model.onnx", self.dest, "--sha256", sha256(self.model), env=self.s3_env())
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(self.read("model.onnx"), self.model)
        self.assertEqual(self.requests_for("/s3/models/model.onnx")[0][1], None)

    def test_s3_directory_with_manifest(self):
        r = self.pull("s3://models/repo/", self.dest, env=self.s3_env())
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(self.read("digits/config.pbtxt"), self.config)

    def test_s3_wrong_secret_is_refused(self):
        r = self.pull("s3://models/model.onnx", self.dest, env=self.s3_env(secret="wrong"))
        self.assertEqual(r.returncode, 1)
        self.assertIn("HTTP 403", r.stderr)
        self.assertNotIn("wrong", r.stderr.replace("wrong secret", ""))


    # Hostile sources: limits end them, the partial file goes, and the
    # message says which limit.

    def test_endless_body_stops_at_max_bytes(self):
        r = self.pull(self.base + "/endless/model.onnx", self.dest, "--max-bytes", "1000000", "--retries", "0")
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("larger than the 1000000 bytes allowed (--max-bytes", r.stderr)
        self.assertEqual(self.leftovers(), [])

    def test_huge_content_length_is_refused_before_the_body(self):
        r = self.pull(self.base + "/huge/model.onnx", self.dest, "--retries", "0")
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("--max-bytes", r.stderr)
        self.assertEqual(self.leftovers(), [])

    def test_trickle_is_cut_off_by_the_minimum_rate(self):
        r = self.pull(self.base + "/trickle/model.onnx", self.dest, "--min-rate", "100", "--stall-timeout-secs", "1",
                      "--retries", "1")
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("giving up after 2 attempts", r.stderr)

    def test_overall_deadline(self):
        r = self.pull(self.base + "/trickle/model.onnx", self.dest, "--min-rate", "1", "--stall-timeout-secs", "30",
                      "--timeout-secs", "2")
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("did not finish within --timeout-secs 2 s", r.stderr)

    def test_unverified_file_is_a_warning_or_refused(self):
        r = self.pull(self.base + "/files/model.onnx", self.dest)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("no digest given; the file is fetched but not verified", r.stderr)
        r = self.pull(self.base + "/files/model.onnx", os.path.join(self.dest, "strict"), "--require-digest")
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("--require-digest", r.stderr)
        self.assertFalse(os.path.exists(os.path.join(self.dest, "strict", "model.onnx")))

    # `berth serve --model-url` fetches with the same code before serving.

    def serve(self, *args, env=None):
        """`berth serve` on a port the kernel picks; returns the process, the
        port (read from its "listening" log line) and its log lines so far."""
        full_env = {k: v for k, v in os.environ.items()
                    if not k.startswith(("AWS_", "BERTH_")) and not k.lower().endswith("_proxy")}
        full_env.update(env or {})
        process = subprocess.Popen([BERTH, "serve", "--port", "0", "--model-repository", self.dest, *args],
                                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=full_env, text=True)
        lines = []
        listening = threading.Event()

        def read_log():
            for line in process.stdout:
                lines.append(line)
                if re.search(r'listening.*port(?:=|":")(\d+)', line):
                    listening.set()
            listening.set()  # exited without listening
        self.log_reader = threading.Thread(target=read_log, daemon=True)
        self.log_reader.start()
        listening.wait(120)
        match = next((re.search(r'listening.*port(?:=|":")(\d+)', line) for line in lines
                      if re.search(r'listening.*port(?:=|":")(\d+)', line)), None)
        return process, int(match.group(1)) if match else 0, lines

    def test_serves_what_it_fetched(self):
        process, port, log = self.serve("--model-url", self.base + "/files/demo/")
        try:
            self.assertTrue(port, "".join(log))
            opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
            deadline = time.monotonic() + 60
            status = None
            while time.monotonic() < deadline and process.poll() is None:
                try:
                    with opener.open("http://127.0.0.1:%d/v2/models/digits/ready" % port, timeout=10) as r:
                        status = r.status
                        break
                except OSError:  # refused, reset, 503 while loading (HTTPError), timed out
                    time.sleep(0.1)
            self.assertEqual(status, 200, "".join(log))
            with open(os.path.join(ROOT, "examples", "models", "digits", "config.pbtxt"), "rb") as f:
                self.assertEqual(self.read("digits/config.pbtxt"), f.read())
            self.assertEqual(len(self.requests_for("/files/demo/digits/1/model.onnx")), 1)
        finally:
            process.send_signal(signal.SIGTERM)
            self.assertEqual(process.wait(30), 0)
            self.log_reader.join(30)

    def test_bad_digest_stops_before_serving(self):
        process, _, log = self.serve("--model-url", self.base + "/files/model.onnx",
                                     env={"BERTH_MODEL_SHA256": "0" * 64})
        process.wait(60)
        self.log_reader.join(30)
        output = "".join(log)
        self.assertNotEqual(process.returncode, 0)
        self.assertIn("--model-url", output)
        self.assertIn("sha256", output.lower())
        self.assertEqual(self.leftovers(), [])
        self.assertFalse(os.path.exists(os.path.join(self.dest, "model.onnx")))

    def test_needs_a_repository(self):
        r = subprocess.run([BERTH, "serve", "--model-url", self.base + "/files/model.onnx"], capture_output=True,
                           text=True, timeout=30)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("--model-repository", r.stderr)


if __name__ == "__main__":
    berth_cli_test.main(sys.modules[__name__])
