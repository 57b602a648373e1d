#!/usr/bin/python3
"""End-to-end: auth, SIGTERM draining, Prometheus metrics."""
import json
import os
import signal
import socket
import subprocess
import threading

import berth_testlib as t

ADD_REQUEST = t.infer_body(t.add_inputs([[1, 2, 3, 4]], [[1, 1, 1, 1]]))


class Auth(t.unittest.TestCase):
    """--api-key / --api-key-file / BERTH_API_KEY: Bearer required everywhere
    but the health routes."""

    @classmethod
    def setUpClass(cls):
        cls.repo = t.temp_dir("berth-auth-")
        t.binary_model(os.path.join(cls.repo, "add", "1", "model.onnx"), "Add")
        key_file = os.path.join(cls.repo, "keys")
        with open(key_file, "w") as f:
            f.write("# rotated keys, one per line\nkey-from-file\n")
        cls.server = t.BerthServer(["--model-repository", cls.repo, "--api-key-file", key_file],
                                   env={"BERTH_API_KEY": "key-from-env"})
        cls.server.wait_ready()
        cls.port = cls.server.port

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()

    PROTECTED = [("GET", "/v2"), ("GET", "/v2/models/add"), ("GET", "/v2/models/add/ready"),
                 ("GET", "/v2/models/add/config"), ("GET", "/v2/models/stats"), ("GET", "/metrics"),
                 ("POST", "/v2/repository/index"), ("POST", "/v2/models/add/infer"),
                 ("POST", "/v2/repository/models/add/load"), ("GET", "/v2/nothing")]

    def test_health_routes_are_open(self):
        for path in ("/v2/health/live", "/v2/health/ready", "/health"):
            self.assertEqual(t.request(self.port, "GET", path)[0], 200, path)
        url = f"http://127.0.0.1:{self.port}/v2/health/ready"
        self.assertEqual(subprocess.run([t.BERTH, "health", "--url", url], capture_output=True).returncode, 0)

    def test_readiness_tells_nobody_without_a_key_why(self):
        repo = t.temp_dir("berth-auth-ready-")
        os.makedirs(os.path.join(repo, "broken", "1"))
        with open(os.path.join(repo, "broken", "1", "model.onnx"), "wb") as f:
            f.write(b"not a model")
        server = t.BerthServer(["--model-repository", repo, "--api-key", "k"])
        try:
            t.wait_until(lambda: "failed to load" in server.log(), message="the load to fail")
            for path in ("/v2/health/ready", "/health"):
                status, _, body = t.request(server.port, "GET", path)
                self.assertEqual((status, json.loads(body)), (503, {"ready": False, "error": "not ready"}), path)
            # With the key, the model's own route says why.
            status, _, body = t.request(server.port, "GET", "/v2/models/broken/ready",
                                        headers={"Authorization": "Bearer k"})
            self.assertEqual(status, 503)
            self.assertIn(repo, json.loads(body)["error"])
        finally:
            self.assertEqual(server.stop(), 0)

    def test_every_other_route_needs_a_key(self):
        for method, path in self.PROTECTED:
            for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic a2V5LWZyb20tZW52"},
                            {"Authorization": "Bearer"}, {"Authorization": "key-from-env"}):
                body = json.dumps(ADD_REQUEST).encode() if method == "POST" else None
                status, response_headers, response = t.request(self.port, method, path, body, headers)
                self.assertEqual(status, 401, (method, path, headers))
                self.assertEqual(response_headers["www-authenticate"], "Bearer")
                self.assertIn("API key", json.loads(response)["error"])

    def test_valid_keys_from_env_and_file(self):
        for key in ("key-from-env", "key-from-file"):
            for scheme in ("Bearer", "bearer"):
                headers = {"Authorization": f"{scheme} {key}"}
                status, body = t.post_json(self.port, "/v2/models/add/infer", ADD_REQUEST, headers)
                self.assertEqual(status, 200, (key, body))
                self.assertEqual(t.request(self.port, "GET", "/metrics", headers=headers)[0], 200)

    def test_unauthenticated_upload_is_refused_before_the_body(self):
        # Headers announce 10 MB; the server answers 401 without waiting for it.
        raw = (b"POST /v2/models/add/infer HTTP/1.1\r\nHost: x\r\nContent-Length: 10000000\r\n\r\n")
        status, headers, body = t.raw_exchange(self.port, raw, timeout=30)
        self.assertEqual(status, 401)
        self.assertEqual(headers.get("connection"), "close")


class SigtermDrain(t.unittest.TestCase):
    """SIGTERM: readiness 503, the port closes, in-flight requests finish,
    exit 0."""

    def test_sigterm_drains_in_flight_requests(self):
        repo = t.temp_dir("berth-drain-")
        # A second a request: the three requests are seen in flight together
        # by a scrape every 20 ms whatever the CPU.
        t.timed_slow_model(os.path.join(repo, "slow", "1", "model.onnx"), seconds=1)
        server = t.BerthServer(["--model-repository", repo, "--exit-timeout-secs", "30"])
        server.wait_ready()
        port = server.port
        request = t.infer_body([{"name": "x", "shape": [1], "datatype": "FP32", "data": [1]}])
        self.assertEqual(t.post_json(port, "/v2/models/slow/infer", request)[0], 200)

        results = []

        def infer():
            try:
                results.append(t.post_json(port, "/v2/models/slow/infer", request))
            except Exception as e:  # noqa: BLE001
                results.append((0, repr(e)))

        clients = [threading.Thread(target=infer) for _ in range(3)]
        for c in clients:
            c.start()
        # A readiness probe whose request line arrives before the signal and
        # whose end arrives after it.
        probe = t.RawConnection(port)
        probe.send(b"GET /v2/health/ready HTTP/1.1\r\nHost: x\r\n")
        t.wait_until(lambda: t.metric_value(t.scrape(port), "berth_inference_inflight_requests",
                                            model="slow", version="1") == 3, message="3 requests in flight")
        server.signal(signal.SIGTERM)
        t.wait_until(lambda: "shutting down" in server.log(), message="drain start")
        probe.send(b"\r\n")
        status, headers, body = probe.read_response()
        probe.close()
        self.assertEqual(status, 503)
        self.assertEqual(headers.get("connection"), "close")
        self.assertFalse(json.loads(body)["ready"])

        def refused():
            try:
                socket.create_connection(("127.0.0.1", port), timeout=5).close()
                return False
            except OSError:
                return True
        t.wait_until(refused, timeout=30, message="the port to close")

        for c in clients:
            c.join(60)
        self.assertEqual([s for s, _ in results], [200, 200, 200], results)
        self.assertEqual(server.process.wait(60), 0)
        log = server.log()
        self.assertIn("shutting down", log)
        self.assertIn("stopped", log)
        server.stop()

    def test_exit_timeout_bounds_the_wait(self):
        repo = t.temp_dir("berth-drain-")
        # Three requests of 3 s each: far more than the exit timeout is left
        # when the signal comes.
        t.timed_slow_model(os.path.join(repo, "slow", "1", "model.onnx"), seconds=3)
        server = t.BerthServer(["--model-repository", repo, "--exit-timeout-secs", "0.5"])
        server.wait_ready()
        request = json.dumps(t.infer_body([{"name": "x", "shape": [1], "datatype": "FP32", "data": [1]}])).encode()
        connections = []
        for _ in range(3):
            c = t.RawConnection(server.port)
            c.send(b"POST /v2/models/slow/infer HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s" %
                   (len(request), request))
            connections.append(c)
        t.wait_until(lambda: t.metric_value(t.scrape(server.port), "berth_inference_inflight_requests",
                                            model="slow", version="1") == 3, message="requests in flight")
        server.signal(signal.SIGTERM)
        self.assertEqual(server.process.wait(30), 0)
        self.assertIn("exit timeout reached", server.log())
        # The server left without waiting for the 9 s of work: the requests
        # still running or queued got no answer.
        statuses = [c.read_response()[0] for c in connections]
        self.assertNotIn(200, statuses)
        for c in connections:
            c.close()
        server.stop()


class SecondSignal(t.unittest.TestCase):
    """A second SIGTERM exits at once in every phase of the shutdown, also
    while the models are unloading behind a load still in progress."""

    def test_second_signal_while_unloading_exits_at_once(self):
        repo = t.temp_dir("berth-second-")
        # Tens of thousands of nodes: the load is still running when the
        # signals come, and stopping waits for it.
        t.slow_model(os.path.join(repo, "big", "1", "model.onnx"), elements=4, steps=60000)
        server = t.BerthServer(["--model-repository", repo, "--exit-timeout-secs", "60"])
        try:
            t.wait_until(lambda: "loading model version" in server.log(), message="the load to start")
            server.signal(signal.SIGTERM)
            t.wait_until(lambda: "shutting down" in server.log(), message="the drain to start")
            server.signal(signal.SIGTERM)
            self.assertEqual(server.process.wait(30), 0)
            log = server.log()
            self.assertIn("second signal: exiting without waiting any longer", log)
            self.assertNotIn("model version ready", log)
        finally:
            server.stop()


class ConnectionLimit(t.unittest.TestCase):
    """At --max-connections, health probes still get answers (a few slots are
    kept for them) and everything else a 503."""

    def test_probes_are_answered_at_the_connection_limit(self):
        repo = t.temp_dir("berth-connections-")
        t.binary_model(os.path.join(repo, "add", "1", "model.onnx"), "Add")
        server = t.BerthServer(["--model-repository", repo, "--max-connections", "4"])
        idle = []
        try:
            server.wait_ready()
            for _ in range(4):
                idle.append(socket.create_connection(("127.0.0.1", server.port), timeout=30))
            infer = json.dumps(ADD_REQUEST).encode()
            # Once the server has taken all four, an inference is turned away.
            t.wait_until(lambda: t.request(server.port, "POST", "/v2/models/add/infer", infer)[0] == 503,
                         message="the limit to be reached")
            status, headers, body = t.request(server.port, "POST", "/v2/models/add/infer", infer)
            self.assertEqual((status, headers.get("retry-after")), (503, "1"))
            self.assertIn("too many open connections", json.loads(body)["error"])
            for path in ("/v2/health/live", "/v2/health/ready", "/health"):
                self.assertEqual(t.request(server.port, "GET", path)[0], 200, path)
            # The probe slots are few: past them, even a probe is turned away.
            for _ in range(16):
                idle.append(socket.create_connection(("127.0.0.1", server.port), timeout=30))
            def turned_away():
                try:
                    return t.request(server.port, "GET", "/v2/health/live")[0] == 503
                except OSError:  # refused before the request was read: also turned away
                    return True
            t.wait_until(turned_away, message="the probe slots to fill")
        finally:
            for connection in idle:
                connection.close()
            self.assertEqual(server.stop(), 0)


class ComputeDeadlinesAndCancellation(t.unittest.TestCase):
    """A request cannot hold a model instance forever: --compute-timeout-secs
    and the KServe `timeout` parameter stop it between nodes and loop
    iterations (504), and a client that hangs up has its queued or running
    work dropped (499 in the log); the model answers the next request."""

    @classmethod
    def setUpClass(cls):
        cls.repo = t.temp_dir("berth-deadline-")
        t.counting_loop_model(os.path.join(cls.repo, "loop", "1", "model.onnx"))
        t.timed_slow_model(os.path.join(cls.repo, "slow", "1", "model.onnx"), seconds=3)
        cls.server = t.BerthServer(["--model-repository", cls.repo, "--compute-timeout-secs", "1"])
        cls.server.wait_ready()
        cls.port = cls.server.port

    @classmethod
    def tearDownClass(cls):
        assert cls.server.stop() == 0

    @staticmethod
    def loop_request(trips):
        return t.infer_body([{"name": "trips", "shape": [1], "datatype": "INT64", "data": [trips]},
                             {"name": "x", "shape": [1], "datatype": "FP32", "data": [0]}])

    def test_a_runaway_loop_stops_at_the_compute_timeout(self):
        status, body = t.post_json(self.port, "/v2/models/loop/infer", self.loop_request(10 ** 12))
        self.assertEqual(status, 504, body)
        self.assertIn("compute deadline passed", body["error"])
        status, body = t.post_json(self.port, "/v2/models/loop/infer", self.loop_request(5))
        self.assertEqual((status, body["outputs"][0]["data"]), (200, [5]))

    def test_the_timeout_parameter_bounds_queue_and_compute(self):
        request = t.infer_body([{"name": "x", "shape": [1], "datatype": "FP32", "data": [1]}])
        request["parameters"] = {"timeout": 200000}  # 0.2 s, Triton's microseconds
        status, body = t.post_json(self.port, "/v2/models/slow/infer", request)
        self.assertEqual(status, 504, body)
        request["parameters"] = {"timeout": "soon"}
        self.assertEqual(t.post_json(self.port, "/v2/models/slow/infer", request)[0], 400)

    def test_a_client_that_hangs_up_has_its_work_dropped(self):
        request = json.dumps(self.loop_request(10 ** 12)).encode()
        connection = t.RawConnection(self.port)
        connection.send(b"POST /v2/models/loop/infer HTTP/1.1\r\nHost: x\r\nX-Request-Id: hangs-up\r\n"
                        b"Content-Length: %d\r\n\r\n%s" % (len(request), request))
        t.wait_until(lambda: t.metric_value(t.scrape(self.port), "berth_inference_inflight_requests",
                                            model="loop", version="1") == 1, message="the request to run")
        connection.close()
        t.wait_until(lambda: "id=hangs-up" in self.server.log(), message="the request to end")
        line = next(line for line in self.server.log().splitlines() if "id=hangs-up" in line)
        # 499: the run stopped because the client left (a deadline would be 504).
        self.assertIn("status=499", line)
        status, body = t.post_json(self.port, "/v2/models/loop/infer", self.loop_request(3))
        self.assertEqual((status, body["outputs"][0]["data"]), (200, [3]))


class QueueFullRejects(t.unittest.TestCase):
    """A full per-version queue answers 503 with Retry-After at once."""

    def test_full_queue_is_503_with_retry_after(self):
        repo = t.temp_dir("berth-queue-")
        # Three seconds a request: the first is still running when the last
        # two arrive, whatever the CPU.
        t.timed_slow_model(os.path.join(repo, "slow", "1", "model.onnx"), seconds=3)
        server = t.BerthServer(["--model-repository", repo, "--max-queue-size", "1"])
        try:
            server.wait_ready()
            request = json.dumps(t.infer_body([{"name": "x", "shape": [1], "datatype": "FP32", "data": [1]}])).encode()
            raw = (b"POST /v2/models/slow/infer HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s"
                   % (len(request), request))
            connections = [t.RawConnection(server.port, timeout=60) for _ in range(4)]
            # One runs, one waits, the others find the queue full. Each step
            # waits for the server to see the previous one, so the order is
            # not left to the scheduler.
            connections[0].send(raw)
            def running_and_waiting(running, waiting):
                families = t.scrape(server.port)
                labels = {"model": "slow", "version": "1"}
                return (t.metric_value(families, "berth_inference_inflight_requests", **labels) == running + waiting
                        and t.metric_value(families, "berth_inference_queue_depth", **labels) == waiting)

            t.wait_until(lambda: running_and_waiting(1, 0), message="first request running")
            connections[1].send(raw)
            t.wait_until(lambda: running_and_waiting(1, 1), message="second request queued")
            for c in connections[2:]:
                c.send(raw)
            responses = [c.read_response() for c in connections]
            for c in connections:
                c.close()
            statuses = sorted(r[0] for r in responses)
            self.assertEqual(statuses.count(200), 2, statuses)
            self.assertEqual(statuses.count(503), 2, statuses)
            rejected = [r for r in responses if r[0] == 503][0]
            self.assertEqual(rejected[1].get("retry-after"), "1")
            self.assertIn("queue is full", json.loads(rejected[2])["error"])
            families = t.scrape(server.port)
            self.assertEqual(t.metric_value(families, "berth_inference_requests_total", model="slow", version="1",
                                            outcome="rejected"), 2)
        finally:
            self.assertEqual(server.stop(), 0)


class ReadinessWhileLoading(t.unittest.TestCase):
    """Readiness is 503 until every model to serve has loaded; liveness is
    200 from the start."""

    def test_ready_is_503_while_a_model_loads(self):
        repo = t.temp_dir("berth-loading-")
        # Tens of thousands of nodes: compiling takes a noticeable moment.
        t.slow_model(os.path.join(repo, "big", "1", "model.onnx"), elements=4, steps=60000)
        server = t.BerthServer(["--model-repository", repo])
        try:
            status, body = t.get_json(server.port, "/v2/health/ready")
            self.assertEqual(t.get_json(server.port, "/v2/health/live")[0], 200)
            self.assertEqual(status, 503, body)
            self.assertIn("loading", body["error"])
            status, body = t.get_json(server.port, "/v2/models/big/ready")
            self.assertEqual((status, body["state"]), (503, "LOADING"))
            server.wait_ready(timeout=120)
            self.assertEqual(t.get_json(server.port, "/v2/models/big/ready")[0], 200)
        finally:
            self.assertEqual(server.stop(), 0)


class MetricsScrapedParsedIncreasing(t.unittest.TestCase):
    """/metrics parses as Prometheus text, names follow the conventions, and
    the counters and histograms move with the traffic."""

    REQUIRED = {
        "berth_inference_requests_total": "counter",
        "berth_inference_queue_duration_seconds": "histogram",
        "berth_inference_compute_duration_seconds": "histogram",
        "berth_inference_request_duration_seconds": "histogram",
        "berth_inference_inflight_requests": "gauge",
        "berth_inference_queue_depth": "gauge",
        "berth_model_state": "gauge",
        "berth_model_load_duration_seconds": "gauge",
        "berth_server_ready": "gauge",
        "berth_http_requests_total": "counter",
        "berth_http_request_duration_seconds": "histogram",
        "berth_http_open_connections": "gauge",
        "process_resident_memory_bytes": "gauge",
        "process_cpu_seconds_total": "counter",
        "process_start_time_seconds": "gauge",
        "berth_build_info": "gauge",
    }

    def test_metrics_scraped_parsed_and_increasing(self):
        repo = t.temp_dir("berth-metrics-")
        t.binary_model(os.path.join(repo, "add", "1", "model.onnx"), "Add")
        server = t.BerthServer(["--model-repository", repo])
        try:
            server.wait_ready()
            port = server.port
            t.post_json(port, "/v2/models/add/infer", ADD_REQUEST)
            infer_route = {"route": "/v2/models/{model}/infer"}

            def http_count(scrape, code):
                return t.metric_value(scrape, "berth_http_requests_total", code=code, **infer_route) or 0
            # A request is counted once its response has been written, so the
            # client can see the response first: wait for the count.
            before = t.wait_until(lambda: (lambda s: s if http_count(s, "200") == 1 else None)(t.scrape(port)),
                                  message="the first request counted")
            for name, kind in self.REQUIRED.items():
                self.assertIn(name, before, name)
                self.assertEqual(before[name]["type"], kind, name)
                self.assertTrue(before[name]["help"], name)
            labels = {"model": "add", "version": "1"}
            self.assertEqual(t.metric_value(before, "berth_model_state", state="ready", **labels), 1)
            self.assertEqual(t.metric_value(before, "berth_model_state", state="loading", **labels), 0)
            self.assertGreater(t.metric_value(before, "berth_model_load_duration_seconds", **labels), 0)
            self.assertGreater(t.metric_value(before, "process_resident_memory_bytes"), 1 << 20)
            self.assertEqual(t.metric_value(before, "berth_server_ready"), 1)
            build = [s for s in before["berth_build_info"]["samples"]][0]
            self.assertEqual(set(build[1]), {"version", "revision"})

            for _ in range(5):
                self.assertEqual(t.post_json(port, "/v2/models/add/infer", ADD_REQUEST)[0], 200)
            for _ in range(2):
                bad = t.infer_body(t.add_inputs([[1, 2, 3]], [[1, 2, 3]]))
                self.assertEqual(t.post_json(port, "/v2/models/add/infer", bad)[0], 400)
            after = t.wait_until(
                lambda: (lambda s: s if http_count(s, "200") == 6 and http_count(s, "400") == 2 else None)(
                    t.scrape(port)),
                message="6 requests answered 200 and 2 answered 400 counted")

            def delta(name, **extra):
                return (t.metric_value(after, name, **labels, **extra) or 0) - \
                    (t.metric_value(before, name, **labels, **extra) or 0)
            self.assertEqual(delta("berth_inference_requests_total", outcome="success"), 5)
            self.assertEqual(delta("berth_inference_requests_total", outcome="client_error"), 2)
            self.assertEqual(delta("berth_inference_compute_duration_seconds_count"), 5)
            self.assertEqual(delta("berth_inference_queue_duration_seconds_count"), 5)
            self.assertEqual(delta("berth_inference_request_duration_seconds_count"), 5)
            self.assertGreater(delta("berth_inference_compute_duration_seconds_sum"), 0)
            self.assertEqual(http_count(after, "200") - http_count(before, "200"), 5)
            self.assertEqual(http_count(after, "400"), 2)
            metrics_route = {"route": "/metrics", "code": "200"}
            # The scrape that produced `before` is counted once it has been written.
            self.assertGreater(t.metric_value(after, "berth_http_requests_total", **metrics_route),
                               t.metric_value(before, "berth_http_requests_total", **metrics_route) or 0)
            self.assertGreaterEqual(t.metric_value(after, "process_cpu_seconds_total"),
                                    t.metric_value(before, "process_cpu_seconds_total"))
        finally:
            self.assertEqual(server.stop(), 0)


class RequestLog(t.unittest.TestCase):
    """One log line per request (id, model, version, status, latency), as text
    or JSON."""

    def test_json_request_log(self):
        repo = t.temp_dir("berth-log-")
        t.binary_model(os.path.join(repo, "add", "1", "model.onnx"), "Add")
        server = t.BerthServer(["--model-repository", repo, "--log-format", "json"])
        try:
            server.wait_ready()
            body = dict(ADD_REQUEST, id="log-me")
            t.post_json(server.port, "/v2/models/add/infer", body)
            t.post_json(server.port, "/v2/models/add/versions/7/infer", body)
            t.wait_until(lambda: server.log().count('"msg":"request"') >= 2, message="request lines")
            lines = [json.loads(line) for line in server.log().splitlines() if line.startswith("{")]
            requests = [line for line in lines if line["msg"] == "request"]
            ok = [r for r in requests if r["status"] == "200"][0]
            self.assertEqual((ok["id"], ok["model"], ok["version"], ok["method"]), ("log-me", "add", "1", "POST"))
            self.assertGreater(float(ok["latency_ms"]), 0)
            missing = [r for r in requests if r["status"] == "404"][0]
            self.assertEqual((missing["model"], missing["version"]), ("add", "7"))
        finally:
            server.stop()


if __name__ == "__main__":
    t.main()
