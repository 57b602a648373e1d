"""Shared helpers for berth's end-to-end tests: tiny ONNX models, a running
`berth serve` on a free loopback port, and HTTP clients (http.client and raw
sockets).

Run the tests with Debian's interpreter (python3-onnx, python3-numpy):

  /usr/bin/python3 tests/e2e/test_routes.py --berth build/berth [unittest args]

Every test file calls main(), which takes --berth (default: $BERTH or
build/berth) and hands the rest to unittest.
"""
import atexit
import http.client
import json
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

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

BERTH = os.environ.get("BERTH", "build/berth")
HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))


_TEMP_DIRS = []


def temp_dir(prefix="berth-e2e-"):
    """A fresh directory removed when the tests exit (kept if BERTH_KEEP_TEMP is set)."""
    path = tempfile.mkdtemp(prefix=prefix)
    _TEMP_DIRS.append(path)
    return path


@atexit.register
def _remove_temp_dirs():
    if not os.environ.get("BERTH_KEEP_TEMP"):
        for path in _TEMP_DIRS:
            shutil.rmtree(path, ignore_errors=True)


def main():
    global BERTH
    args = sys.argv[1:]
    if "--berth" in args:
        i = args.index("--berth")
        BERTH = args[i + 1]
        del args[i:i + 2]
    BERTH = os.path.abspath(BERTH)
    if not os.access(BERTH, os.X_OK):
        sys.exit(f"berth binary not found at {BERTH} (pass --berth PATH)")
    unittest.main(argv=[sys.argv[0]] + args, verbosity=2)


# ---- models -----------------------------------------------------------------

ONNX_TYPES = {
    "BOOL": TensorProto.BOOL, "UINT8": TensorProto.UINT8, "UINT16": TensorProto.UINT16,
    "UINT32": TensorProto.UINT32, "UINT64": TensorProto.UINT64, "INT8": TensorProto.INT8,
    "INT16": TensorProto.INT16, "INT32": TensorProto.INT32, "INT64": TensorProto.INT64,
    "FP16": TensorProto.FLOAT16, "FP32": TensorProto.FLOAT, "FP64": TensorProto.DOUBLE,
    "BYTES": TensorProto.STRING, "BF16": TensorProto.BFLOAT16,
}
NUMPY_TYPES = {
    "BOOL": np.bool_, "UINT8": np.uint8, "UINT16": np.uint16, "UINT32": np.uint32, "UINT64": np.uint64,
    "INT8": np.int8, "INT16": np.int16, "INT32": np.int32, "INT64": np.int64, "FP16": np.float16,
    "FP32": np.float32, "FP64": np.float64,
}


def _save(model, path):
    model.ir_version = 8
    os.makedirs(os.path.dirname(path), exist_ok=True)
    onnx.save(model, path)


def binary_model(path, op="Add", width=4):
    """z = op(x, y) on FP32 [N, width]."""
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", width])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", width])
    z = helper.make_tensor_value_info("z", TensorProto.FLOAT, ["N", width])
    graph = helper.make_graph([helper.make_node(op, ["x", "y"], ["z"])], op.lower(), [x, y], [z])
    _save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)


def reshape_model(path, input_shape, target_shape):
    """y = Reshape(x, target_shape) on FP32 x of `input_shape`; the target is a
    constant, so a mismatch makes a model that loads but can never run."""
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, input_shape)
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    shape = numpy_helper.from_array(np.array(target_shape, dtype=np.int64), "shape")
    graph = helper.make_graph([helper.make_node("Reshape", ["x", "shape"], ["y"])], "reshape", [x], [y], [shape])
    _save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)


def counting_loop_model(path):
    """y = Loop(trips, true, x) with y <- y + 1 per iteration: the client's
    `trips` (INT64 [1]) decides how long it runs."""
    trips = helper.make_tensor_value_info("trips", TensorProto.INT64, [1])
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])
    body = helper.make_graph(
        [helper.make_node("Identity", ["cond_in"], ["cond_out"]), helper.make_node("Add", ["v_in", "one"], ["v_out"])],
        "body",
        [helper.make_tensor_value_info("i", TensorProto.INT64, []),
         helper.make_tensor_value_info("cond_in", TensorProto.BOOL, []),
         helper.make_tensor_value_info("v_in", TensorProto.FLOAT, [1])],
        [helper.make_tensor_value_info("cond_out", TensorProto.BOOL, []),
         helper.make_tensor_value_info("v_out", TensorProto.FLOAT, [1])],
        [numpy_helper.from_array(np.ones(1, dtype=np.float32), "one")])
    cond = numpy_helper.from_array(np.array(True), "cond")
    scalar = helper.make_node("Squeeze", ["trips", "axes"], ["m"])
    axes = numpy_helper.from_array(np.array([0], dtype=np.int64), "axes")
    loop = helper.make_node("Loop", ["m", "cond", "x"], ["y"], body=body)
    graph = helper.make_graph([scalar, loop], "loop", [trips, x], [y], [cond, axes])
    _save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)


def two_output_model(path):
    """sum = x + y, product = x * y on FP32 [N, 4]."""
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 4])
    s = helper.make_tensor_value_info("sum", TensorProto.FLOAT, ["N", 4])
    p = helper.make_tensor_value_info("product", TensorProto.FLOAT, ["N", 4])
    graph = helper.make_graph([helper.make_node("Add", ["x", "y"], ["sum"]), helper.make_node("Mul", ["x", "y"], ["product"])],
                              "two", [x, y], [s, p])
    _save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)


def identity_model(path, datatype):
    """y = Identity(x) for one datatype, shape [-1]."""
    t = ONNX_TYPES[datatype]
    x = helper.make_tensor_value_info("x", t, ["N"])
    y = helper.make_tensor_value_info("y", t, ["N"])
    graph = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "identity", [x], [y])
    _save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)


def slow_model(path, elements=1 << 20, steps=100):
    """y = (c + x + x + ... + x)[0:1] with c a constant of `elements` floats:
    `steps` full passes over 4 MiB per request, a fraction of a second."""
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])
    c = numpy_helper.from_array(np.zeros(elements, dtype=np.float32), "c")
    starts = numpy_helper.from_array(np.array([0], dtype=np.int64), "starts")
    ends = numpy_helper.from_array(np.array([1], dtype=np.int64), "ends")
    nodes = [helper.make_node("Add", ["c", "x"], ["t0"])]
    for i in range(1, steps):
        nodes.append(helper.make_node("Add", [f"t{i - 1}", "x"], [f"t{i}"]))
    nodes.append(helper.make_node("Slice", [f"t{steps - 1}", "starts", "ends"], ["y"]))
    graph = helper.make_graph(nodes, "slow", [x], [y], initializer=[c, starts, ends])
    _save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)


def timed_slow_model(path, seconds, elements=1 << 20):
    """slow_model with as many steps as take about `seconds` a request on
    this machine when it is idle (timed with `berth bench`): a busy machine
    only makes a request take longer, so tests that need requests to stay in
    flight for a while hold on any CPU."""
    probe_steps = 200
    slow_model(path, elements, probe_steps)
    bench = subprocess.run([BERTH, "bench", path, "--warmup", "1", "--iters", "5"], capture_output=True,
                           text=True, timeout=300, check=True)
    per_step = json.loads(bench.stdout)["min_ms"] / 1000 / probe_steps
    steps = max(probe_steps, min(100000, int(seconds / max(per_step, 1e-7))))
    slow_model(path, elements, steps)
    return steps


def shape_from_values_models(repo):
    """Models whose output size the client's values decide: Expand to a given
    shape, ConstantOfShape, Tile by given repeats, Range to a given limit."""
    def save(name, nodes, inputs, outputs, initializers=()):
        graph = helper.make_graph(nodes, name, inputs, outputs, list(initializers))
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
        _save(model, os.path.join(repo, name, "1", "model.onnx"))

    shape = helper.make_tensor_value_info("shape", TensorProto.INT64, [None])
    save("expand", [helper.make_node("Expand", ["x", "shape"], ["y"])],
         [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1]), shape],
         [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)])
    save("constant_of_shape", [helper.make_node("ConstantOfShape", ["shape"], ["y"],
                                                value=helper.make_tensor("v", TensorProto.FLOAT, [1], [1.0]))],
         [shape], [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)])
    save("tile", [helper.make_node("Tile", ["x", "repeats"], ["y"])],
         [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1]),
          helper.make_tensor_value_info("repeats", TensorProto.INT64, [2])],
         [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)])
    save("range", [helper.make_node("Range", ["start", "limit", "delta"], ["y"])],
         [helper.make_tensor_value_info("limit", TensorProto.FLOAT, [])],
         [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
         [numpy_helper.from_array(np.array(0, dtype=np.float32), "start"),
          numpy_helper.from_array(np.array(1, dtype=np.float32), "delta")])


def expect_failed_and_others_serve(test, server, failed, error_fragment, serving="small"):
    """`failed` ends FAILED with `error_fragment` in its error, while
    `serving` (a binary_model "Add") becomes ready and answers."""
    wait_until(lambda: f"model version failed to load model={failed}" in server.log(), message=f"{failed} to fail")
    status, body = get_json(server.port, f"/v2/models/{failed}/ready")
    test.assertEqual((status, body["state"]), (503, "FAILED"))
    test.assertIn(error_fragment, body["error"])
    wait_until(lambda: get_json(server.port, f"/v2/models/{serving}/ready")[0] == 200, message=f"{serving} ready")
    status, body = post_json(server.port, f"/v2/models/{serving}/infer",
                             infer_body(add_inputs([[6, 6, 6, 6]], [[3, 3, 3, 3]])))
    test.assertEqual((status, body["outputs"][0]["data"]), (200, [9, 9, 9, 9]))


def make_cgroup(controller, settings):
    """A fresh cgroup v1 group under `controller` ("pids", "memory") with the
    given files written ({"pids.max": "40"}), removed when the tests exit; or
    None where this machine does not let us make one (the test then skips)."""
    root = os.path.join("/sys/fs/cgroup", controller)
    if not os.path.isdir(root) or not os.access(root, os.W_OK):
        return None
    path = os.path.join(root, f"berth-test-{os.getpid()}-{len(_CGROUPS)}")
    try:
        os.mkdir(path)
        for name, value in settings.items():
            with open(os.path.join(path, name), "w") as f:
                f.write(value)
    except OSError:
        return None
    _CGROUPS.append(path)
    return path


_CGROUPS = []


@atexit.register
def _remove_cgroups():
    for path in _CGROUPS:
        for _ in range(50):  # a group goes once its last task has exited
            try:
                os.rmdir(path)
                break
            except OSError:
                time.sleep(0.1)


def write_config(model_dir, text):
    os.makedirs(model_dir, exist_ok=True)
    with open(os.path.join(model_dir, "config.pbtxt"), "w") as f:
        f.write(text)


def copy_digits(repo):
    shutil.copytree(os.path.join(ROOT, "examples", "models", "digits"), os.path.join(repo, "digits"),
                    ignore=shutil.ignore_patterns("*.py", "__pycache__"))


# ---- the server ---------------------------------------------------------------

class BerthServer:
    """`berth serve` on a free loopback port, logging to a file."""

    def __init__(self, args, env=None, workdir=None, cgroups=(), listen=("--host", "127.0.0.1", "--port", "0")):
        """`cgroups`: cgroup folders (v1 or v2) the server runs in, from its
        first thread on. `listen`: the address flags (any free port by default)."""
        self.workdir = workdir or temp_dir("berth-serve-")
        self.log_path = os.path.join(self.workdir, "server.log")
        self.args = [BERTH, "serve"] + list(listen) + list(args)
        if cgroups:
            join = " && ".join(f"echo $$ > {os.path.join(c, 'cgroup.procs')}" for c in cgroups)
            self.args = ["sh", "-c", join + ' && exec "$@"', "sh"] + self.args
        full_env = dict(os.environ)
        for key in list(full_env):
            if key.startswith("BERTH_"):
                del full_env[key]
        full_env.update(env or {})
        self.log_file = open(self.log_path, "wb")
        self.process = subprocess.Popen(self.args, stdout=self.log_file, stderr=subprocess.STDOUT, env=full_env)
        self.port = self._wait_for_port()

    def _wait_for_port(self, timeout=30):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            match = re.search(r'listening.*port(?:=|":")(\d+)', self.log())
            if match:
                return int(match.group(1))
            if self.process.poll() is not None:
                raise RuntimeError(f"berth serve exited with {self.process.returncode}:\n{self.log()}")
            time.sleep(0.02)
        raise RuntimeError(f"berth serve did not start listening:\n{self.log()}")

    def log(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def wait_ready(self, timeout=30):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                status, _, _ = request(self.port, "GET", "/v2/health/ready")
                if status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.02)
        raise RuntimeError(f"server never became ready:\n{self.log()}")

    def rss_bytes(self):
        with open(f"/proc/{self.process.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
        return 0

    def sanitized(self):
        """True when the binary runs under AddressSanitizer (its quarantine keeps freed memory resident)."""
        with open(f"/proc/{self.process.pid}/maps") as f:
            return "libasan" in f.read()

    def signal(self, sig=signal.SIGTERM):
        self.process.send_signal(sig)

    def stop(self, timeout=30):
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log_file.close()
        return self.process.returncode


# ---- HTTP clients -------------------------------------------------------------

def request(port, method, path, body=None, headers=None, timeout=30):
    """One request on a fresh connection: (status, headers dict (lower-case), body bytes)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        data = response.read()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, data
    finally:
        connection.close()


def get_json(port, path, headers=None):
    status, _, body = request(port, "GET", path, headers=headers)
    return status, json.loads(body) if body else None


def post_json(port, path, payload, headers=None):
    status, response_headers, body = request(port, "POST", path, body=payload, headers=headers)
    return status, json.loads(body) if body else None


class KeepAliveClient:
    """One persistent HTTP/1.1 connection (reconnects only when asked to)."""

    def __init__(self, port, timeout=30):
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)

    def request(self, method, path, body=None, headers=None):
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
        self.connection.request(method, path, body=body, headers=headers or {})
        response = self.connection.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()

    def close(self):
        self.connection.close()


def raw_exchange(port, data, timeout=10, send_delay=None, shutdown_write=False):
    """Sends raw bytes (optionally one chunk per send_delay seconds) and reads
    one response: (status, headers dict, body bytes). Status 0 = no response."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        if send_delay is None:
            sock.sendall(data)
        else:
            for piece in data:
                try:
                    sock.sendall(piece)
                except OSError:
                    break
                time.sleep(send_delay)
        if shutdown_write:
            sock.shutdown(socket.SHUT_WR)
        return read_response(sock)
    finally:
        sock.close()


class RawConnection:
    """A socket with a read buffer, for pipelined responses."""

    def __init__(self, port, timeout=10):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.buffer = b""

    def send(self, data):
        self.sock.sendall(data)

    def read_response(self):
        status, headers, body, self.buffer = _read_response(self.sock, self.buffer)
        return status, headers, body

    def close(self):
        self.sock.close()


def read_response(sock):
    status, headers, body, _ = _read_response(sock, b"")
    return status, headers, body


def _read_response(sock, buffer):
    try:
        while b"\r\n\r\n" not in buffer:
            chunk = sock.recv(65536)
            if not chunk:
                return 0, {}, buffer, b""
            buffer += chunk
    except (ConnectionResetError, socket.timeout):
        return 0, {}, buffer, b""
    head, _, rest = buffer.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0"))
    try:
        while len(rest) < length:
            chunk = sock.recv(65536)
            if not chunk:
                break
            rest += chunk
    except (ConnectionResetError, socket.timeout):
        pass
    return status, headers, rest[:length], rest[length:]


# ---- protocol helpers ---------------------------------------------------------

def infer_body(inputs, outputs=None, request_id=None, parameters=None):
    body = {"inputs": inputs}
    if outputs is not None:
        body["outputs"] = outputs
    if request_id is not None:
        body["id"] = request_id
    if parameters is not None:
        body["parameters"] = parameters
    return body


def add_inputs(x, y, datatype="FP32"):
    x = np.asarray(x)
    y = np.asarray(y)
    return [{"name": "x", "shape": list(x.shape), "datatype": datatype, "data": x.flatten().tolist()},
            {"name": "y", "shape": list(y.shape), "datatype": datatype, "data": y.flatten().tolist()}]


def encode_binary_request(json_header, blobs):
    """Triton binary extension: returns (body, headers)."""
    header = json.dumps(json_header).encode()
    body = header + b"".join(blobs)
    return body, {"Inference-Header-Content-Length": str(len(header)), "Content-Type": "application/octet-stream"}


def decode_binary_response(headers, body):
    """Returns (json_header, {output name: raw bytes})."""
    length = int(headers.get("inference-header-content-length", len(body)))
    header = json.loads(body[:length])
    blobs = {}
    offset = length
    for output in header.get("outputs", []):
        size = output.get("parameters", {}).get("binary_data_size")
        if size is not None:
            blobs[output["name"]] = body[offset:offset + size]
            offset += size
    return header, blobs


def bytes_to_binary(values):
    return b"".join(len(v).to_bytes(4, "little") + v for v in values)


def binary_to_bytes(data):
    values, offset = [], 0
    while offset < len(data):
        n = int.from_bytes(data[offset:offset + 4], "little")
        values.append(data[offset + 4:offset + 4 + n])
        offset += 4 + n
    return values


# ---- Prometheus text format ---------------------------------------------------------

_METRIC_NAME = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
_SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$')
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"(,|$)')


def parse_prometheus(text):
    """Strict parser for the text exposition format 0.0.4. Returns
    {family: {"type": t, "help": h, "samples": [(name, labels dict, value)]}};
    raises AssertionError on anything malformed."""
    families = {}
    current = None
    for number, line in enumerate(text.split("\n"), 1):
        if not line:
            continue
        if line.startswith("# HELP "):
            name, _, help_text = line[7:].partition(" ")
            assert _METRIC_NAME.match(name), f"line {number}: bad metric name {name!r}"
            families.setdefault(name, {"type": None, "help": None, "samples": []})["help"] = help_text
            continue
        if line.startswith("# TYPE "):
            name, _, kind = line[7:].partition(" ")
            assert kind in ("counter", "gauge", "histogram", "summary", "untyped"), f"line {number}: type {kind!r}"
            family = families.setdefault(name, {"type": None, "help": None, "samples": []})
            assert family["type"] is None, f"line {number}: second TYPE for {name}"
            assert not family["samples"], f"line {number}: TYPE after samples for {name}"
            family["type"] = kind
            current = name
            continue
        assert not line.startswith("#"), f"line {number}: unexpected comment {line!r}"
        match = _SAMPLE.match(line)
        assert match, f"line {number}: malformed sample {line!r}"
        name, _, label_text, value = match.groups()
        labels = {}
        if label_text:
            position = 0
            while position < len(label_text):
                label = _LABEL.match(label_text, position)
                assert label, f"line {number}: malformed labels {label_text!r}"
                labels[label.group(1)] = label.group(2)
                position = label.end()
        number_value = float(value.replace("+Inf", "inf").replace("-Inf", "-inf"))
        family_name = name
        for suffix in ("_bucket", "_sum", "_count"):
            if name.endswith(suffix) and name[:-len(suffix)] in families and \
                    families[name[:-len(suffix)]]["type"] == "histogram":
                family_name = name[:-len(suffix)]
        assert family_name == current, f"line {number}: sample {name} outside its family block ({current})"
        families[family_name]["samples"].append((name, labels, number_value))
    for name, family in families.items():
        assert family["type"] is not None, f"{name} has no TYPE"
        if family["type"] == "counter":
            assert name.endswith("_total"), f"counter {name} does not end in _total"
        if family["type"] == "histogram":
            check_histogram(name, family["samples"])
    return families


def check_histogram(name, samples):
    series = {}
    for sample_name, labels, value in samples:
        key = tuple(sorted((k, v) for k, v in labels.items() if k != "le"))
        entry = series.setdefault(key, {"buckets": [], "count": None, "sum": None})
        if sample_name.endswith("_bucket"):
            entry["buckets"].append((float(labels["le"].replace("+Inf", "inf")), value))
        elif sample_name.endswith("_count"):
            entry["count"] = value
        elif sample_name.endswith("_sum"):
            entry["sum"] = value
    for key, entry in series.items():
        bounds = [b for b, _ in entry["buckets"]]
        assert bounds == sorted(bounds), f"{name}{key}: buckets out of order"
        assert bounds and bounds[-1] == float("inf"), f"{name}{key}: no +Inf bucket"
        counts = [c for _, c in entry["buckets"]]
        assert counts == sorted(counts), f"{name}{key}: buckets not cumulative"
        assert entry["count"] == counts[-1], f"{name}{key}: _count != +Inf bucket"
        assert entry["sum"] is not None, f"{name}{key}: no _sum"


def metric_value(families, name, **labels):
    family_name = name
    for suffix in ("_bucket", "_sum", "_count"):
        if name.endswith(suffix) and name[:-len(suffix)] in families:
            family_name = name[:-len(suffix)]
    for sample_name, sample_labels, value in families.get(family_name, {}).get("samples", []):
        if sample_name == name and all(sample_labels.get(k) == v for k, v in labels.items()):
            return value
    return None


def scrape(port, headers=None):
    status, response_headers, body = request(port, "GET", "/metrics", headers=headers)
    assert status == 200, status
    assert response_headers["content-type"].startswith("text/plain"), response_headers
    return parse_prometheus(body.decode())


def wait_until(predicate, timeout=20, interval=0.05, message="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = predicate()
        if result:
            return result
        time.sleep(interval)
    raise AssertionError(f"timed out waiting for {message}")


class Traffic:
    """Keeps `threads` keep-alive clients sending unversioned infer requests
    until stopped; records (status, model_version or error text) for each,
    and the order in which the requests were sent."""

    def __init__(self, port, model, body, threads=3):
        self.port, self.model, self.body = port, model, json.dumps(body).encode()
        self.results = []
        self.sent_order = []  # per result: how many requests had been sent before it
        self.started = 0
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.threads = [threading.Thread(target=self._run, daemon=True) for _ in range(threads)]
        for t in self.threads:
            t.start()

    def _run(self):
        client = KeepAliveClient(self.port)
        while not self.stopping.is_set():
            with self.lock:
                order = self.started
                self.started += 1
            try:
                status, _, body = client.request("POST", f"/v2/models/{self.model}/infer", self.body,
                                                 {"Content-Type": "application/json"})
                payload = json.loads(body)
                result = (status, payload.get("model_version") if status == 200 else payload.get("error"))
            except Exception as e:  # noqa: BLE001 - a failed request is a result too
                result = (0, repr(e))
                client.close()
                client = KeepAliveClient(self.port)
            with self.lock:
                self.results.append(result)
                self.sent_order.append(order)
        client.close()

    def sent(self):
        """A mark: requests sent from now on have a send order >= it."""
        with self.lock:
            return self.started

    def versions_seen_since(self, mark):
        """Versions that answered the requests sent at or after `mark`."""
        with self.lock:
            return [v for (s, v), order in zip(self.results, self.sent_order) if s == 200 and order >= mark]

    def count(self):
        with self.lock:
            return len(self.results)

    def answered_since(self, mark):
        with self.lock:
            return sum(1 for order in self.sent_order if order >= mark)

    def stop(self):
        self.stopping.set()
        for t in self.threads:
            t.join(30)
        return self.results
