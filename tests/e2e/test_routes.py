#!/usr/bin/python3
"""End-to-end: every route, JSON and binary tensors (every datatype), version
routing. Each class starts its own `berth serve` on a free loopback port."""
import gzip
import json
import os
import socket
import subprocess
import zlib

import numpy as np

import berth_testlib as t


class EveryRoute(t.unittest.TestCase):
    """Each route of the issue, with its status code and body shape."""

    @classmethod
    def setUpClass(cls):
        cls.repo = t.temp_dir("berth-routes-")
        t.binary_model(os.path.join(cls.repo, "add", "1", "model.onnx"), "Add")
        t.copy_digits(cls.repo)
        cls.server = t.BerthServer(["--model-repository", cls.repo])
        cls.server.wait_ready()
        cls.port = cls.server.port

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()

    def test_health_live(self):
        status, body = t.get_json(self.port, "/v2/health/live")
        self.assertEqual((status, body), (200, {"live": True}))

    def test_health_ready_and_alias(self):
        for path in ("/v2/health/ready", "/health"):
            status, body = t.get_json(self.port, path)
            self.assertEqual((status, body), (200, {"ready": True}), path)
        status, headers, body = t.request(self.port, "HEAD", "/v2/health/ready")
        self.assertEqual((status, body), (200, b""))
        self.assertEqual(headers["content-length"], str(len(b'{"ready":true}')))

    def test_server_metadata(self):
        status, body = t.get_json(self.port, "/v2")
        self.assertEqual(status, 200)
        self.assertEqual(body["name"], "berth")
        self.assertIn("binary_tensor_data", body["extensions"])
        self.assertTrue(body["version"])

    def test_model_metadata(self):
        for path in ("/v2/models/add", "/v2/models/add/versions/1"):
            status, body = t.get_json(self.port, path)
            self.assertEqual(status, 200, path)
            self.assertEqual(body["name"], "add")
            self.assertEqual(body["versions"], ["1"])
            self.assertEqual(body["platform"], "onnxruntime_onnx")
            self.assertEqual(body["inputs"], [{"name": "x", "datatype": "FP32", "shape": [-1, 4]},
                                              {"name": "y", "datatype": "FP32", "shape": [-1, 4]}])
            self.assertEqual(body["outputs"], [{"name": "z", "datatype": "FP32", "shape": [-1, 4]}])

    def test_model_ready(self):
        for path in ("/v2/models/add/ready", "/v2/models/add/versions/1/ready"):
            status, body = t.get_json(self.port, path)
            self.assertEqual(status, 200, path)
            self.assertTrue(body["ready"])
            self.assertEqual(body["state"], "READY")

    def test_model_infer(self):
        for path in ("/v2/models/add/infer", "/v2/models/add/versions/1/infer"):
            status, body = t.post_json(self.port, path, t.infer_body(t.add_inputs([[1, 2, 3, 4]], [[10, 20, 30, 40]])))
            self.assertEqual(status, 200, body)
            self.assertEqual(body["model_name"], "add")
            self.assertEqual(body["model_version"], "1")
            self.assertEqual(body["outputs"], [{"name": "z", "datatype": "FP32", "shape": [1, 4],
                                                "data": [11, 22, 33, 44]}])

    def test_model_config(self):
        for path in ("/v2/models/digits/config", "/v2/models/digits/versions/1/config"):
            status, body = t.get_json(self.port, path)
            self.assertEqual(status, 200, path)
            self.assertEqual(body["name"], "digits")
            self.assertEqual(body["platform"], "onnxruntime_onnx")
            self.assertEqual([i["name"] for i in body["input"]], ["image"])
            self.assertEqual([o["name"] for o in body["output"]], ["probabilities", "label"])
            self.assertEqual(body["input"][0]["data_type"], "TYPE_FP32")
            self.assertEqual(body["instance_group"][0]["count"], 1)

    def test_model_stats(self):
        t.post_json(self.port, "/v2/models/add/infer", t.infer_body(t.add_inputs([[1, 2, 3, 4]], [[1, 1, 1, 1]])))
        status, body = t.get_json(self.port, "/v2/models/stats")
        self.assertEqual(status, 200)
        self.assertEqual(sorted(s["name"] for s in body["model_stats"]), ["add", "digits"])
        for path in ("/v2/models/add/stats", "/v2/models/add/versions/1/stats"):
            status, body = t.get_json(self.port, path)
            self.assertEqual(status, 200, path)
            (stats,) = body["model_stats"]
            self.assertEqual((stats["name"], stats["version"], stats["state"]), ("add", "1", "READY"))
            self.assertGreaterEqual(stats["inference_stats"]["success"]["count"], 1)
            self.assertGreater(stats["inference_stats"]["compute_infer"]["ns"], 0)

    def test_repository_index(self):
        status, body = t.post_json(self.port, "/v2/repository/index", {})
        self.assertEqual(status, 200)
        self.assertEqual(sorted((m["name"], m["version"], m["state"]) for m in body),
                         [("add", "1", "READY"), ("digits", "1", "READY")])
        status, body = t.post_json(self.port, "/v2/repository/index", {"ready": True})
        self.assertEqual(len(body), 2)

    def test_repository_load_unload_need_explicit_mode(self):
        for action in ("load", "unload"):
            status, body = t.post_json(self.port, f"/v2/repository/models/add/{action}", {})
            self.assertEqual(status, 400, action)
            self.assertIn("explicit", body["error"])

    def test_metrics(self):
        status, headers, body = t.request(self.port, "GET", "/metrics")
        self.assertEqual(status, 200)
        self.assertTrue(headers["content-type"].startswith("text/plain; version=0.0.4"))
        families = t.parse_prometheus(body.decode())
        self.assertIn("berth_build_info", families)

    def test_unknown_route_and_wrong_method(self):
        status, body = t.get_json(self.port, "/v3/nothing")
        self.assertEqual(status, 404)
        self.assertIn("error", body)
        status, headers, body = t.request(self.port, "GET", "/v2/models/add/infer")
        self.assertEqual(status, 405)
        self.assertEqual(headers["allow"], "POST")
        self.assertIn("error", json.loads(body))

    def test_digits_demo_request(self):
        with open(os.path.join(t.ROOT, "examples", "requests", "digits.json")) as f:
            request = json.load(f)
        status, body = t.post_json(self.port, "/v2/models/digits/infer", request)
        self.assertEqual(status, 200, body)
        self.assertEqual(body["id"], "digits-example")
        outputs = {o["name"]: o for o in body["outputs"]}
        self.assertEqual([o["name"] for o in body["outputs"]], ["label", "probabilities"])
        self.assertEqual(outputs["label"]["datatype"], "INT64")
        probabilities = outputs["probabilities"]["data"]
        self.assertAlmostEqual(sum(probabilities), 1.0, places=4)
        self.assertEqual(outputs["label"]["data"][0], int(np.argmax(probabilities)))

    def test_berth_health_command(self):
        url = f"http://127.0.0.1:{self.port}/v2/health/ready"
        self.assertEqual(subprocess.run([t.BERTH, "health", "--url", url], capture_output=True).returncode, 0)
        env = dict(os.environ, BERTH_PORT=str(self.port), BERTH_HOST="0.0.0.0")
        self.assertEqual(subprocess.run([t.BERTH, "health"], capture_output=True, env=env).returncode, 0)
        closed = subprocess.run([t.BERTH, "health", "--url", "http://127.0.0.1:1/v2/health/ready",
                                 "--timeout-secs", "2"], capture_output=True)
        self.assertEqual(closed.returncode, 1)

    def test_keep_alive_and_pipelining(self):
        body = json.dumps(t.infer_body(t.add_inputs([[1, 1, 1, 1]], [[2, 2, 2, 2]]))).encode()
        one = (b"POST /v2/models/add/infer HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
               b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
        ready = b"GET /v2/health/ready HTTP/1.1\r\nHost: x\r\n\r\n"
        connection = t.RawConnection(self.port)
        connection.send(one + ready + one)  # three pipelined requests, answered in order
        first = connection.read_response()
        second = connection.read_response()
        third = connection.read_response()
        connection.close()
        self.assertEqual([first[0], second[0], third[0]], [200, 200, 200])
        self.assertEqual(json.loads(second[2]), {"ready": True})
        self.assertEqual(json.loads(third[2])["outputs"][0]["data"], [3, 3, 3, 3])


class JsonAndBinaryTensors(t.unittest.TestCase):
    """JSON (flat and nested) and Triton's binary extension, for every datatype."""

    DATATYPES = ["BOOL", "UINT8", "UINT16", "UINT32", "UINT64", "INT8", "INT16", "INT32", "INT64",
                 "FP16", "FP32", "FP64", "BF16", "BYTES"]

    @classmethod
    def setUpClass(cls):
        cls.repo = t.temp_dir("berth-tensors-")
        t.binary_model(os.path.join(cls.repo, "add", "1", "model.onnx"), "Add")
        t.two_output_model(os.path.join(cls.repo, "two", "1", "model.onnx"))
        for datatype in cls.DATATYPES:
            t.identity_model(os.path.join(cls.repo, f"id_{datatype.lower()}", "1", "model.onnx"), datatype)
        cls.server = t.BerthServer(["--model-repository", cls.repo])
        cls.server.wait_ready()
        cls.port = cls.server.port

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()

    @staticmethod
    def sample(datatype):
        if datatype == "BOOL":
            return [True, False, True]
        if datatype == "BYTES":
            return ["berth", "", "日本"]
        if datatype in ("FP16", "BF16"):
            return [1.5, -2.0, 0.25]
        if datatype in ("FP32", "FP64"):
            return [0.1, -2.5, 1e10]
        if datatype.startswith("UINT"):
            info = np.iinfo(t.NUMPY_TYPES[datatype])
            return [0, 7, int(info.max)]
        info = np.iinfo(t.NUMPY_TYPES[datatype])
        return [int(info.min), -1, int(info.max)]

    @staticmethod
    def to_binary(datatype, values):
        if datatype == "BYTES":
            return t.bytes_to_binary([v.encode() for v in values])
        if datatype == "BF16":
            return b"".join((np.float32(v).view(np.uint32) >> 16).astype("<u2").tobytes() for v in values)
        return np.array(values, dtype=t.NUMPY_TYPES[datatype]).astype(
            np.dtype(t.NUMPY_TYPES[datatype]).newbyteorder("<")).tobytes()

    def test_json_flat_and_nested(self):
        flat = t.infer_body([{"name": "x", "shape": [2, 4], "datatype": "FP32", "data": [1, 2, 3, 4, 5, 6, 7, 8]},
                             {"name": "y", "shape": [2, 4], "datatype": "FP32",
                              "data": [[1, 1, 1, 1], [2, 2, 2, 2]]}])
        status, body = t.post_json(self.port, "/v2/models/add/infer", flat)
        self.assertEqual(status, 200, body)
        self.assertEqual(body["outputs"][0]["shape"], [2, 4])
        self.assertEqual(body["outputs"][0]["data"], [2, 3, 4, 5, 7, 8, 9, 10])

    def test_every_datatype_as_json(self):
        for datatype in self.DATATYPES:
            values = self.sample(datatype)
            request = t.infer_body([{"name": "x", "shape": [3], "datatype": datatype, "data": values}])
            status, body = t.post_json(self.port, f"/v2/models/id_{datatype.lower()}/infer", request)
            self.assertEqual(status, 200, (datatype, body))
            (output,) = body["outputs"]
            self.assertEqual((output["datatype"], output["shape"]), (datatype, [3]), datatype)
            if datatype in ("FP32",):
                np.testing.assert_allclose(output["data"], np.float32(values), rtol=1e-7)
            else:
                self.assertEqual(output["data"], values, datatype)

    def test_every_datatype_as_binary_both_ways(self):
        for datatype in self.DATATYPES:
            values = self.sample(datatype)
            raw = self.to_binary(datatype, values)
            header = {"inputs": [{"name": "x", "shape": [3], "datatype": datatype,
                                  "parameters": {"binary_data_size": len(raw)}}],
                      "outputs": [{"name": "y", "parameters": {"binary_data": True}}]}
            body, headers = t.encode_binary_request(header, [raw])
            status, response_headers, response = t.request(self.port, "POST",
                                                           f"/v2/models/id_{datatype.lower()}/infer", body, headers)
            self.assertEqual(status, 200, (datatype, response[:200]))
            self.assertEqual(response_headers["content-type"], "application/octet-stream")
            decoded, blobs = t.decode_binary_response(response_headers, response)
            (output,) = decoded["outputs"]
            self.assertNotIn("data", output)
            self.assertEqual(output["parameters"]["binary_data_size"], len(raw), datatype)
            self.assertEqual(blobs["y"], raw, datatype)

    def test_binary_input_json_output(self):
        x = np.arange(8, dtype=np.float32).reshape(2, 4)
        y = np.full((2, 4), 0.5, dtype=np.float32)
        header = {"id": "bin-in", "inputs": [
            {"name": "x", "shape": [2, 4], "datatype": "FP32", "parameters": {"binary_data_size": x.nbytes}},
            {"name": "y", "shape": [2, 4], "datatype": "FP32", "parameters": {"binary_data_size": y.nbytes}}]}
        body, headers = t.encode_binary_request(header, [x.tobytes(), y.tobytes()])
        status, response_headers, response = t.request(self.port, "POST", "/v2/models/add/infer", body, headers)
        self.assertEqual(status, 200, response)
        self.assertNotIn("inference-header-content-length", response_headers)
        payload = json.loads(response)
        self.assertEqual(payload["id"], "bin-in")
        self.assertEqual(payload["outputs"][0]["data"], (x + y).flatten().tolist())

    def test_json_input_binary_output_for_all(self):
        request = t.infer_body(t.add_inputs([[1, 2, 3, 4]], [[1, 1, 1, 1]]), parameters={"binary_data_output": True})
        status, headers, response = t.request(self.port, "POST", "/v2/models/two/infer", request)
        self.assertEqual(status, 200)
        decoded, blobs = t.decode_binary_response(headers, response)
        self.assertEqual([o["name"] for o in decoded["outputs"]], ["sum", "product"])
        np.testing.assert_array_equal(np.frombuffer(blobs["sum"], dtype="<f4"), [2, 3, 4, 5])
        np.testing.assert_array_equal(np.frombuffer(blobs["product"], dtype="<f4"), [1, 2, 3, 4])

    def test_requested_output_subset_and_mixed_encoding(self):
        request = t.infer_body(t.add_inputs([[1, 2, 3, 4]], [[2, 2, 2, 2]]),
                               outputs=[{"name": "product", "parameters": {"binary_data": True}}, {"name": "sum"}])
        status, headers, response = t.request(self.port, "POST", "/v2/models/two/infer", request)
        self.assertEqual(status, 200)
        decoded, blobs = t.decode_binary_response(headers, response)
        self.assertEqual([o["name"] for o in decoded["outputs"]], ["product", "sum"])
        self.assertEqual(decoded["outputs"][1]["data"], [3, 4, 5, 6])
        np.testing.assert_array_equal(np.frombuffer(blobs["product"], dtype="<f4"), [2, 4, 6, 8])
        status, body = t.post_json(self.port, "/v2/models/two/infer",
                                   t.infer_body(t.add_inputs([[1, 2, 3, 4]], [[2, 2, 2, 2]]),
                                                outputs=[{"name": "sum"}]))
        self.assertEqual([o["name"] for o in body["outputs"]], ["sum"])

    def test_parameters_and_id(self):
        request = t.infer_body(t.add_inputs([[1, 2, 3, 4]], [[0, 0, 0, 0]]), request_id="req-42",
                               parameters={"priority": 1, "tag": "x", "ratio": 0.5, "flag": False})
        status, body = t.post_json(self.port, "/v2/models/add/infer", request)
        self.assertEqual(status, 200, body)
        self.assertEqual(body["id"], "req-42")
        request["inputs"][0]["parameters"] = {"note": "per-input parameters are accepted too"}
        status, body = t.post_json(self.port, "/v2/models/add/infer", request)
        self.assertEqual(status, 200, body)

    def test_chunked_request_body(self):
        body = json.dumps(t.infer_body(t.add_inputs([[1, 2, 3, 4]], [[1, 1, 1, 1]]))).encode()
        chunks = b"".join(b"%x\r\n%s\r\n" % (len(body[i:i + 7]), body[i:i + 7]) for i in range(0, len(body), 7))
        raw = (b"POST /v2/models/add/infer HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" +
               chunks + b"0\r\n\r\n")
        status, _, response = t.raw_exchange(self.port, raw)
        self.assertEqual(status, 200, response)
        self.assertEqual(json.loads(response)["outputs"][0]["data"], [2, 3, 4, 5])


class VersionRouting(t.unittest.TestCase):
    """Explicit versions go to that version; unversioned requests to the
    highest ready one; the version policy decides what is loaded."""

    @classmethod
    def setUpClass(cls):
        cls.repo = t.temp_dir("berth-versions-")
        for version, op in ((1, "Add"), (2, "Mul"), (3, "Sub")):
            t.binary_model(os.path.join(cls.repo, "calc", str(version), "model.onnx"), op)
            t.binary_model(os.path.join(cls.repo, "latest", str(version), "model.onnx"), op)
            t.binary_model(os.path.join(cls.repo, "pinned", str(version), "model.onnx"), op)
        t.write_config(os.path.join(cls.repo, "calc"), 'version_policy: { all: {} }\n')
        t.write_config(os.path.join(cls.repo, "pinned"), 'version_policy: { specific: { versions: [1, 2] } }\n')
        cls.server = t.BerthServer(["--model-repository", cls.repo])
        cls.server.wait_ready()
        cls.port = cls.server.port

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()

    def infer(self, path):
        return t.post_json(self.port, path, t.infer_body(t.add_inputs([[6, 6, 6, 6]], [[3, 3, 3, 3]])))

    def test_explicit_versions(self):
        for version, expected in ((1, 9), (2, 18), (3, 3)):
            status, body = self.infer(f"/v2/models/calc/versions/{version}/infer")
            self.assertEqual(status, 200, body)
            self.assertEqual(body["model_version"], str(version))
            self.assertEqual(body["outputs"][0]["data"], [expected] * 4)

    def test_unversioned_goes_to_highest_ready(self):
        status, body = self.infer("/v2/models/calc/infer")
        self.assertEqual((status, body["model_version"]), (200, "3"))
        status, body = self.infer("/v2/models/pinned/infer")
        self.assertEqual((status, body["model_version"]), (200, "2"))

    def test_policy_latest_loads_only_the_newest(self):
        status, body = self.infer("/v2/models/latest/infer")
        self.assertEqual((status, body["model_version"]), (200, "3"))
        status, body = self.infer("/v2/models/latest/versions/1/infer")
        self.assertIn(status, (404, 503))
        self.assertIn("error", body)
        status, body = t.get_json(self.port, "/v2/models/latest")
        self.assertEqual(body["versions"], ["3"])

    def test_metadata_lists_ready_versions(self):
        status, body = t.get_json(self.port, "/v2/models/calc")
        self.assertEqual(body["versions"], ["1", "2", "3"])
        status, body = t.get_json(self.port, "/v2/models/pinned/versions/3/ready")
        self.assertEqual(status, 404)

    def test_unknown_version_and_model(self):
        status, body = self.infer("/v2/models/calc/versions/9/infer")
        self.assertEqual(status, 404)
        self.assertIn("no version 9", body["error"])
        status, body = self.infer("/v2/models/nope/infer")
        self.assertEqual(status, 404)
        self.assertIn("unknown model", body["error"])


class SingleModelFileAndEnvironment(t.unittest.TestCase):
    """`berth serve MODEL.onnx` serves one model (named after the file, version
    1), configured through BERTH_* environment variables alone."""

    def test_shorthand_and_env_configuration(self):
        directory = t.temp_dir("berth-single-")
        path = os.path.join(directory, "adder.onnx")
        t.binary_model(path, "Add")
        server = t.BerthServer([], env={"BERTH_MODEL": path, "BERTH_LOG_FORMAT": "json",
                                        "BERTH_MAX_QUEUE_SIZE": "4", "BERTH_HTTP_THREADS": "1"})
        try:
            server.wait_ready()
            status, body = t.get_json(server.port, "/v2/models/adder")
            self.assertEqual((status, body["versions"]), (200, ["1"]))
            status, body = t.post_json(server.port, "/v2/models/adder/infer",
                                       t.infer_body(t.add_inputs([[1, 2, 3, 4]], [[1, 1, 1, 1]])))
            self.assertEqual((status, body["outputs"][0]["data"]), (200, [2, 3, 4, 5]))
            self.assertTrue(server.log().startswith("{"), "BERTH_LOG_FORMAT=json was not applied")
        finally:
            self.assertEqual(server.stop(), 0)


class FaultAttribution(t.unittest.TestCase):
    """Whose fault a failed inference is decides its status: a request that
    does not fit the model is the client's (400, outcome client_error); a
    request that fits and still fails inside a broken model is the model's
    (500, server_error), even when the kernel reports it as a bad argument."""

    def test_broken_model_is_500_bad_request_is_400(self):
        repo = t.temp_dir("berth-fault-")
        t.binary_model(os.path.join(repo, "add", "1", "model.onnx"), "Add")
        # Loads (shape inference is advisory) but can never run: [1, 4] has 4
        # elements and the constant shape asks for 3.
        t.reshape_model(os.path.join(repo, "broken", "1", "model.onnx"), [1, 4], [3])
        server = t.BerthServer(["--model-repository", repo])
        try:
            server.wait_ready()
            good = t.infer_body([{"name": "x", "shape": [1, 4], "datatype": "FP32", "data": [1, 2, 3, 4]}])
            status, body = t.post_json(server.port, "/v2/models/broken/infer", good)
            self.assertEqual(status, 500, body)
            self.assertIn("model 'broken' version 1", body["error"])
            self.assertIn("Reshape", body["error"])
            wrong_shape = t.infer_body(t.add_inputs([[1, 2, 3]], [[1, 2, 3]]))
            status, body = t.post_json(server.port, "/v2/models/add/infer", wrong_shape)
            self.assertEqual(status, 400, body)
            self.assertIn("input 'x' expects", body["error"])
            families = t.scrape(server.port)
            outcome = lambda model, kind: t.metric_value(families, "berth_inference_requests_total", model=model,
                                                         version="1", outcome=kind)
            self.assertEqual((outcome("broken", "server_error"), outcome("broken", "client_error")), (1, 0))
            self.assertEqual((outcome("add", "client_error"), outcome("add", "server_error")), (1, 0))
            # The server stays ready, and the broken model keeps answering 500.
            self.assertEqual(t.request(server.port, "GET", "/v2/health/ready")[0], 200)
            self.assertEqual(t.post_json(server.port, "/v2/models/broken/infer", good)[0], 500)
        finally:
            self.assertEqual(server.stop(), 0)


class TritonConfigJson(t.unittest.TestCase):
    """The model config route prints what Triton prints: every field, 64-bit
    integers as numbers (protobuf's JSON mapping makes them strings), enums
    by name. Compared whole with golden files for the demo and a batched
    model (regenerate with BERTH_UPDATE_GOLDEN=1 after a deliberate change)."""

    @classmethod
    def setUpClass(cls):
        cls.repo = t.temp_dir("berth-config-json-")
        t.copy_digits(cls.repo)
        t.binary_model(os.path.join(cls.repo, "batched", "1", "model.onnx"), "Add")
        t.write_config(os.path.join(cls.repo, "batched"),
                       'max_batch_size: 8\n'
                       'dynamic_batching { preferred_batch_size: [4, 8] max_queue_delay_microseconds: 500\n'
                       '  default_queue_policy { max_queue_size: 16 default_timeout_microseconds: 100000 } }\n'
                       'instance_group [ { count: 2 kind: KIND_CPU } ]\n')
        cls.server = t.BerthServer(["--model-repository", cls.repo])
        cls.server.wait_ready()

    @classmethod
    def tearDownClass(cls):
        assert cls.server.stop() == 0

    def check_golden(self, model):
        status, config = t.get_json(self.server.port, f"/v2/models/{model}/config")
        self.assertEqual(status, 200, config)
        path = os.path.join(t.HERE, "golden", f"{model}_config.json")
        if os.environ.get("BERTH_UPDATE_GOLDEN"):
            with open(path, "w") as f:
                json.dump(config, f, indent=1, sort_keys=True)
                f.write("\n")
        with open(path) as f:
            self.assertEqual(config, json.load(f))
        return config

    def test_demo_config_matches_its_golden_file(self):
        config = self.check_golden("digits")
        self.assertEqual(config["input"][0]["dims"], [-1, 64])
        self.assertEqual(config["max_batch_size"], 0)

    def test_batched_config_matches_its_golden_file(self):
        config = self.check_golden("batched")
        self.assertEqual(config["input"][0]["dims"], [4])
        batching = config["dynamic_batching"]
        self.assertEqual(batching["max_queue_delay_microseconds"], 500)
        self.assertEqual(batching["preferred_batch_size"], [4, 8])
        self.assertEqual(batching["default_queue_policy"]["default_timeout_microseconds"], 100000)
        self.assertEqual(config["instance_group"][0]["count"], 2)


class TritonFlags(t.unittest.TestCase):
    """A Triton deployment's arguments start berth as they are; a Triton flag
    berth does not support is an error naming it."""

    def test_a_triton_command_line_serves(self):
        repo = t.temp_dir("berth-triton-flags-")
        t.copy_digits(repo)
        t.binary_model(os.path.join(repo, "add", "1", "model.onnx"), "Add")
        with socket.socket() as probe:  # a free port, as an operator would pick one
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        server = t.BerthServer(["--model-repository", repo, "--model-control-mode", "explicit",
                                "--load-model", "digits", "--repository-poll-secs", "5", "--exit-timeout-secs", "5",
                                "--strict-readiness", "true", "--log-verbose", "1", "--log-format", "default",
                                "--http-thread-count", "2"],
                               listen=("--http-address", "127.0.0.1", "--http-port", str(port)))
        try:
            self.assertEqual(server.port, port)
            server.wait_ready()
            status, index = t.post_json(port, "/v2/repository/index", {})
            self.assertEqual(sorted((m["name"], m["state"]) for m in index),
                             [("add", "UNAVAILABLE"), ("digits", "READY")])
            self.assertIn(" debug request ", server.log())  # --log-verbose 1: the probes are logged
        finally:
            self.assertEqual(server.stop(), 0)

    def test_non_strict_readiness_is_ready_with_a_failed_model(self):
        repo = t.temp_dir("berth-non-strict-")
        t.binary_model(os.path.join(repo, "add", "1", "model.onnx"), "Add")
        os.makedirs(os.path.join(repo, "broken", "1"))
        with open(os.path.join(repo, "broken", "1", "model.onnx"), "wb") as f:
            f.write(b"not a model")
        strict = t.BerthServer(["--model-repository", repo])
        relaxed = t.BerthServer(["--model-repository", repo, "--strict-readiness", "false"])
        try:
            for server in (strict, relaxed):
                t.wait_until(lambda: "model version failed to load model=broken" in server.log(), message="broken")
            self.assertEqual(t.request(strict.port, "GET", "/v2/health/ready")[0], 503)
            self.assertEqual(t.request(relaxed.port, "GET", "/v2/health/ready")[0], 200)
            self.assertEqual(t.get_json(relaxed.port, "/v2/models/broken/ready")[0], 503)
        finally:
            self.assertEqual(strict.stop(), 0)
            self.assertEqual(relaxed.stop(), 0)

    def test_unsupported_triton_flags_are_errors_naming_them(self):
        for flag, words in (("--grpc-port=8001", "gRPC"), ("--allow-metrics=true", "/metrics"),
                            ("--log-file=/tmp/x", "stdout"), ("--cache-config=local,size=1", "cache")):
            result = subprocess.run([t.BERTH, "serve", "--model-repository", "/nonexistent", flag],
                                    capture_output=True, text=True, timeout=30)
            self.assertEqual(result.returncode, 2, flag)
            name = flag.split("=")[0]
            self.assertIn(f"{name}: a Triton flag berth does not support", result.stderr)
            self.assertIn(words, result.stderr)


class TritonStatistics(t.unittest.TestCase):
    """Statistics with Triton's semantics and fields: inference_count adds a
    request's batch size, execution_count one per execution; compute_input,
    compute_infer, compute_output per request and per batch size; cache
    counters (zero: no cache); the model's memory."""

    def test_a_batch_of_three_counts_three(self):
        repo = t.temp_dir("berth-stats-")
        t.binary_model(os.path.join(repo, "batched", "1", "model.onnx"), "Add")
        t.write_config(os.path.join(repo, "batched"), "max_batch_size: 8\n")
        server = t.BerthServer(["--model-repository", repo])
        try:
            server.wait_ready()
            three = t.infer_body(t.add_inputs([[1, 2, 3, 4]] * 3, [[1, 1, 1, 1]] * 3))
            one = t.infer_body(t.add_inputs([[1, 2, 3, 4]], [[1, 1, 1, 1]]))
            for body in (three, one, three):
                self.assertEqual(t.post_json(server.port, "/v2/models/batched/infer", body)[0], 200)
            bad = t.infer_body(t.add_inputs([[1, 2, 3]], [[1, 1, 1]]))
            self.assertEqual(t.post_json(server.port, "/v2/models/batched/infer", bad)[0], 400)
            status, body = t.get_json(server.port, "/v2/models/batched/versions/1/stats")
            self.assertEqual(status, 200)
            stats = body["model_stats"][0]
            # The bad request is refused before it runs: no execution.
            self.assertEqual((stats["inference_count"], stats["execution_count"]), (7, 3))
            inference = stats["inference_stats"]
            self.assertEqual((inference["success"]["count"], inference["fail"]["count"]), (3, 1))
            for key in ("compute_input", "compute_infer", "compute_output"):
                self.assertEqual(inference[key]["count"], 3, key)
                self.assertGreater(inference[key]["ns"], 0, key)
            self.assertEqual(inference["cache_hit"], {"count": 0, "ns": 0})
            self.assertEqual(inference["cache_miss"], {"count": 0, "ns": 0})
            batches = {b["batch_size"]: b for b in stats["batch_stats"]}
            self.assertEqual(sorted(batches), [1, 3])
            self.assertEqual(batches[3]["compute_infer"]["count"], 2)
            self.assertEqual(batches[1]["compute_input"]["count"], 1)
            self.assertEqual(stats["memory_usage"][0]["type"], "CPU")
            self.assertEqual(stats["response_stats"], {})
        finally:
            self.assertEqual(server.stop(), 0)


class RawBinaryRequests(t.unittest.TestCase):
    """Triton's raw binary request: Inference-Header-Content-Length 0 and the
    body the only input's bytes; the shape comes from the model, its one
    variable dimension from the byte count; every output comes back binary."""

    @classmethod
    def setUpClass(cls):
        cls.repo = t.temp_dir("berth-raw-")
        t.copy_digits(cls.repo)
        t.binary_model(os.path.join(cls.repo, "add", "1", "model.onnx"), "Add")
        cls.server = t.BerthServer(["--model-repository", cls.repo])
        cls.server.wait_ready()
        with open(os.path.join(t.ROOT, "examples", "requests", "digits.json")) as f:
            cls.request = json.load(f)
        cls.image = np.array(cls.request["inputs"][0]["data"], dtype=np.float32)

    @classmethod
    def tearDownClass(cls):
        assert cls.server.stop() == 0

    def raw(self, model, body):
        return t.request(self.server.port, "POST", f"/v2/models/{model}/infer", body=body,
                         headers={"Inference-Header-Content-Length": "0",
                                  "Content-Type": "application/octet-stream"})

    def test_raw_body_gives_the_json_answer(self):
        status, body = t.post_json(self.server.port, "/v2/models/digits/infer", self.request)
        self.assertEqual(status, 200)
        json_label = next(o for o in body["outputs"] if o["name"] == "label")["data"]
        status, headers, data = self.raw("digits", self.image.tobytes())
        self.assertEqual(status, 200, data[:300])
        header, blobs = t.decode_binary_response(headers, data)
        self.assertEqual(np.frombuffer(blobs["label"], dtype=np.int64).tolist(), json_label)
        probabilities = next(o for o in header["outputs"] if o["name"] == "probabilities")
        self.assertEqual(probabilities["shape"], [1, 10])

    def test_the_variable_dimension_comes_from_the_byte_count(self):
        two = np.concatenate([self.image, self.image[::-1].copy()])
        status, headers, data = self.raw("digits", two.tobytes())
        self.assertEqual(status, 200, data[:300])
        header, blobs = t.decode_binary_response(headers, data)
        self.assertEqual(np.frombuffer(blobs["label"], dtype=np.int64).shape, (2,))

    def test_wrong_sizes_and_several_inputs_are_400(self):
        for model, body, words in (("digits", b"\0" * 10, "does not fill input 'image'"),
                                   ("add", b"\0" * 32, "one input"),
                                   ("digits", b"", "no body")):
            status, _, data = self.raw(model, body)
            self.assertEqual(status, 400, (model, data))
            self.assertIn(words, json.loads(data)["error"])


class CompressedBodies(t.unittest.TestCase):
    """Content-Encoding gzip and deflate request bodies are inflated (the
    body limit applies to the inflated size, while inflating); other codings
    are 415; responses are compressed when Accept-Encoding asks."""

    @classmethod
    def setUpClass(cls):
        cls.repo = t.temp_dir("berth-gzip-")
        t.copy_digits(cls.repo)
        cls.server = t.BerthServer(["--model-repository", cls.repo, "--max-request-bytes", "1MiB"])
        cls.server.wait_ready()
        with open(os.path.join(t.ROOT, "examples", "requests", "digits.json"), "rb") as f:
            cls.body = f.read()
        status, expected = t.post_json(cls.server.port, "/v2/models/digits/infer", json.loads(cls.body))
        assert status == 200
        cls.label = next(o for o in expected["outputs"] if o["name"] == "label")["data"]

    @classmethod
    def tearDownClass(cls):
        assert cls.server.stop() == 0

    def post(self, body, encoding, accept=None):
        headers = {"Content-Type": "application/json", "Content-Encoding": encoding}
        if accept:
            headers["Accept-Encoding"] = accept
        return t.request(self.server.port, "POST", "/v2/models/digits/infer", body=body, headers=headers)

    def label_of(self, data):
        return next(o for o in json.loads(data)["outputs"] if o["name"] == "label")["data"]

    def test_gzip_and_deflate_bodies_are_accepted(self):
        for encoding, body in (("gzip", gzip.compress(self.body)), ("deflate", zlib.compress(self.body)),
                               ("deflate", zlib.compress(self.body, wbits=-15)),  # raw RFC 1951
                               ("identity", self.body)):
            status, _, data = self.post(body, encoding)
            self.assertEqual(status, 200, (encoding, data[:200]))
            self.assertEqual(self.label_of(data), self.label, encoding)

    def test_other_codings_and_lists_are_415(self):
        for encoding in ("br", "gzip, gzip", "compress"):
            status, _, data = self.post(gzip.compress(self.body), encoding)
            self.assertEqual(status, 415, encoding)
            self.assertIn("Content-Encoding", json.loads(data)["error"])

    def test_a_bomb_stops_at_the_limit(self):
        bomb = gzip.compress(b" " * ((1 << 20) + 4096), compresslevel=9)  # 1 KB past the 1 MiB limit inflated
        self.assertLess(len(bomb), 1200)
        before = self.server.rss_bytes()
        for _ in range(20):
            status, _, data = self.post(bomb, "gzip")
            self.assertEqual(status, 413, data[:200])
        self.assertIn(b"once decompressed", data)
        self.assertLess(self.server.rss_bytes() - before, 16 << 20)
        status, _, data = self.post(gzip.compress(self.body)[:-20], "gzip")  # truncated
        self.assertEqual(status, 400)
        self.assertIn(b"cannot be decompressed", data)
        self.assertEqual(t.request(self.server.port, "GET", "/v2/health/ready")[0], 200)

    def test_responses_are_compressed_when_asked(self):
        status, headers, data = self.post(self.body, "identity", accept="gzip, deflate")
        self.assertEqual((status, headers.get("content-encoding")), (200, None))  # under 1 KiB: as it is
        # /metrics is several KiB.
        status, headers, data = t.request(self.server.port, "GET", "/metrics",
                                          headers={"Accept-Encoding": "br;q=1, gzip;q=0.5"})
        self.assertEqual((status, headers.get("content-encoding"), headers.get("vary")),
                         (200, "gzip", "Accept-Encoding"))
        self.assertIn(b"berth_build_info", gzip.decompress(data))
        status, headers, data = t.request(self.server.port, "GET", "/metrics",
                                          headers={"Accept-Encoding": "deflate, gzip;q=0"})
        self.assertEqual(headers.get("content-encoding"), "deflate")
        self.assertIn(b"berth_build_info", zlib.decompress(data))
        status, headers, data = t.request(self.server.port, "GET", "/metrics")
        self.assertEqual(headers.get("content-encoding"), None)


if __name__ == "__main__":
    t.main()
