#!/usr/bin/python3
"""End-to-end: model repository control — poll mode adding and removing a
version under continuous traffic, a broken new version, explicit load/unload."""
import os
import shutil
import time

import berth_testlib as t

ADD_REQUEST = t.infer_body(t.add_inputs([[6, 6, 6, 6]], [[3, 3, 3, 3]]))


def stage_version(repo, model, version, op=None, content=None):
    """Writes a version into a hidden staging directory, then renames it into
    place, so a poll never sees a half-written version."""
    staging = os.path.join(repo, f".staging-{model}-{version}")
    os.makedirs(staging)
    if content is not None:
        with open(os.path.join(staging, "model.onnx"), "wb") as f:
            f.write(content)
    else:
        t.binary_model(os.path.join(staging, "model.onnx"), op)
    os.rename(staging, os.path.join(repo, model, str(version)))


def remove_version(repo, model, version):
    trash = os.path.join(repo, f".trash-{model}-{version}-{time.time()}")
    os.rename(os.path.join(repo, model, str(version)), trash)
    shutil.rmtree(trash)


class PollAddRemoveUnderTraffic(t.unittest.TestCase):
    """Poll mode: a new version becomes routable only once ready, the old one
    unloads after its in-flight requests; then the new one is removed and the
    old one comes back — all under continuous traffic with zero failures."""

    def test_add_then_remove_version_with_zero_failed_requests(self):
        repo = t.temp_dir("berth-poll-")
        t.binary_model(os.path.join(repo, "m", "1", "model.onnx"), "Add")
        server = t.BerthServer(["--model-repository", repo, "--model-control", "poll",
                                "--repository-poll-secs", "0.2"])
        try:
            server.wait_ready()
            traffic = t.Traffic(server.port, "m", ADD_REQUEST, threads=3)
            t.wait_until(lambda: traffic.count() > 50, message="initial traffic")

            mark = traffic.sent()
            stage_version(repo, "m", 2, "Mul")
            t.wait_until(lambda: "2" in traffic.versions_seen_since(mark), message="version 2 serving")
            # Once version 2 answers, version 1 is dropped from routing and
            # unloads: every request sent after that goes to version 2.
            t.wait_until(lambda: "model version unloaded model=m version=1" in server.log(), message="v1 unloaded")
            mark = traffic.sent()
            t.wait_until(lambda: traffic.answered_since(mark) > 50, message="traffic on version 2")
            self.assertEqual(set(traffic.versions_seen_since(mark)), {"2"})

            mark = traffic.sent()
            remove_version(repo, "m", 2)
            t.wait_until(lambda: "1" in traffic.versions_seen_since(mark), message="version 1 serving again")
            t.wait_until(lambda: "model version unloaded model=m version=2" in server.log(), message="v2 unloaded")
            mark = traffic.sent()
            t.wait_until(lambda: traffic.answered_since(mark) > 50 and traffic.count() > 200,
                         message="traffic on version 1")
            self.assertEqual(set(traffic.versions_seen_since(mark)), {"1"})

            results = traffic.stop()
            failures = [r for r in results if r[0] != 200]
            self.assertEqual(failures, [], f"{len(failures)} of {len(results)} requests failed")
            self.assertGreater(len(results), 200)
            # Version 2 computes 6*3, version 1 6+3: both were really served.
            self.assertEqual({v for _, v in results}, {"1", "2"})
        finally:
            self.assertEqual(server.stop(), 0)


class BrokenVersionKeepsOld(t.unittest.TestCase):
    """A new version that fails to load leaves the previous one serving and is
    reported in the log, the metrics, and the ready and stats routes."""

    def test_broken_new_version_is_reported_and_old_keeps_serving(self):
        repo = t.temp_dir("berth-broken-")
        t.binary_model(os.path.join(repo, "m", "1", "model.onnx"), "Add")
        server = t.BerthServer(["--model-repository", repo, "--model-control", "poll",
                                "--repository-poll-secs", "0.2"])
        try:
            server.wait_ready()
            traffic = t.Traffic(server.port, "m", ADD_REQUEST, threads=2)
            stage_version(repo, "m", 2, content=b"this is not an ONNX model")

            def version_2_failed():
                status, body = t.get_json(server.port, "/v2/models/m/versions/2/ready")
                return status == 503 and body.get("state") == "FAILED" and body
            body = t.wait_until(version_2_failed, message="version 2 reported FAILED")
            self.assertFalse(body["ready"])
            self.assertIn("model 'm' version 2", body["error"])

            mark = traffic.sent()
            t.wait_until(lambda: traffic.answered_since(mark) > 50, message="traffic after the failure")
            self.assertEqual(set(traffic.versions_seen_since(mark)), {"1"})

            status, body = t.get_json(server.port, "/v2/models/m/ready")
            self.assertEqual((status, body["ready"]), (200, True))
            status, _ = t.get_json(server.port, "/v2/health/ready")
            self.assertEqual(status, 200)

            status, body = t.get_json(server.port, "/v2/models/m/stats")
            states = {s["version"]: s for s in body["model_stats"]}
            self.assertEqual(states["1"]["state"], "READY")
            self.assertEqual(states["2"]["state"], "FAILED")
            self.assertIn("version 2", states["2"]["reason"])
            status, index = t.post_json(server.port, "/v2/repository/index", {})
            self.assertIn(("m", "2", "FAILED"), [(e["name"], e.get("version"), e["state"]) for e in index])

            families = t.scrape(server.port)
            self.assertGreaterEqual(t.metric_value(families, "berth_model_load_failures_total", model="m", version="2"), 1)
            self.assertEqual(t.metric_value(families, "berth_model_state", model="m", version="2", state="failed"), 1)
            self.assertEqual(t.metric_value(families, "berth_model_state", model="m", version="1", state="ready"), 1)
            self.assertIn("model version failed to load model=m version=2", server.log())

            # Fixing the files makes the next poll retry: version 2 takes over.
            remove_version(repo, "m", 2)
            stage_version(repo, "m", 2, "Mul")
            mark = traffic.sent()
            t.wait_until(lambda: "2" in traffic.versions_seen_since(mark), message="fixed version 2 serving")

            results = traffic.stop()
            self.assertEqual([r for r in results if r[0] != 200], [])
        finally:
            self.assertEqual(server.stop(), 0)


class ExplicitLoadUnload(t.unittest.TestCase):
    """--model-control explicit: only --load-model models load at start; the
    load and unload routes do the rest."""

    def test_load_and_unload_routes(self):
        repo = t.temp_dir("berth-explicit-")
        t.binary_model(os.path.join(repo, "a", "1", "model.onnx"), "Add")
        t.binary_model(os.path.join(repo, "b", "1", "model.onnx"), "Mul")
        os.makedirs(os.path.join(repo, "bad", "1"))
        with open(os.path.join(repo, "bad", "1", "model.onnx"), "wb") as f:
            f.write(b"\x00garbage")
        server = t.BerthServer(["--model-repository", repo, "--model-control", "explicit", "--load-model", "a"])
        try:
            server.wait_ready()
            port = server.port
            self.assertEqual(t.post_json(port, "/v2/models/a/infer", ADD_REQUEST)[0], 200)
            status, body = t.post_json(port, "/v2/models/b/infer", ADD_REQUEST)
            self.assertEqual(status, 503)
            self.assertIn("not loaded", body["error"])
            status, index = t.post_json(port, "/v2/repository/index", {})
            states = {e["name"]: e["state"] for e in index}
            self.assertEqual(states, {"a": "READY", "b": "UNAVAILABLE", "bad": "UNAVAILABLE"})

            # Triton's answers: 200 with an empty body.
            status, headers, raw = t.request(port, "POST", "/v2/repository/models/b/load", {})
            self.assertEqual((status, raw, headers["content-length"]), (200, b"", "0"))
            status, body = t.post_json(port, "/v2/models/b/infer", ADD_REQUEST)
            self.assertEqual((status, body["outputs"][0]["data"]), (200, [18, 18, 18, 18]))

            status, headers, raw = t.request(port, "POST", "/v2/repository/models/b/unload", {})
            self.assertEqual((status, raw, headers["content-length"]), (200, b"", "0"))
            status, body = t.post_json(port, "/v2/models/b/infer", ADD_REQUEST)
            self.assertEqual(status, 503)
            t.wait_until(lambda: "model version unloaded model=b version=1" in server.log(), message="b unloaded")
            status, index = t.post_json(port, "/v2/repository/index", {})
            self.assertIn({"name": "b", "version": "1", "state": "UNAVAILABLE", "reason": "unloaded"}, index)
            status, body = t.get_json(port, "/v2/models/b/ready")
            self.assertEqual((status, body["ready"]), (503, False))

            # Loading again works; so does unloading the startup model.
            self.assertEqual(t.post_json(port, "/v2/repository/models/b/load", {})[0], 200)
            self.assertEqual(t.post_json(port, "/v2/models/b/infer", ADD_REQUEST)[0], 200)
            self.assertEqual(t.post_json(port, "/v2/repository/models/a/unload", {})[0], 200)
            self.assertEqual(t.post_json(port, "/v2/models/a/infer", ADD_REQUEST)[0], 503)

            status, body = t.post_json(port, "/v2/repository/models/bad/load", {})
            self.assertEqual(status, 400)
            self.assertIn("model 'bad' version 1", body["error"])
            status, body = t.post_json(port, "/v2/repository/models/missing/load", {})
            self.assertEqual(status, 404)
            status, body = t.post_json(port, "/v2/repository/models/..%2F..%2Fetc/load", {})
            self.assertEqual(status, 400)
            self.assertIn("error", body)
            status, body = t.post_json(port, "/v2/repository/models/missing/unload", {})
            self.assertEqual(status, 404)
            # Nothing the repository should serve is missing: still ready.
            self.assertEqual(t.get_json(port, "/v2/health/ready")[0], 200)
        finally:
            self.assertEqual(server.stop(), 0)


class ThreadLimit(t.unittest.TestCase):
    """Under a pids limit, a version whose instance threads cannot all start
    fails to load with a clear error; the server and the other models go on."""

    def test_instance_threads_beyond_a_pids_limit_are_a_load_error(self):
        cgroup = t.make_cgroup("pids", {"pids.max": "40"})
        if cgroup is None:
            self.skipTest("cannot make a pids cgroup here (needs root and cgroup v1 pids)")
        repo = t.temp_dir("berth-threads-")
        t.binary_model(os.path.join(repo, "small", "1", "model.onnx"), "Add")
        t.binary_model(os.path.join(repo, "many", "1", "model.onnx"), "Add")
        t.write_config(os.path.join(repo, "many"), "instance_group [ { count: 64 } ]")
        server = t.BerthServer(["--model-repository", repo, "--intra-op-threads", "1", "--http-threads", "2"],
                               cgroups=[cgroup])
        try:
            t.expect_failed_and_others_serve(self, server, "many", "pids")
            self.assertIn("cannot start model instance thread", server.log())
            self.assertEqual(t.request(server.port, "GET", "/v2/health/live")[0], 200)
        finally:
            self.assertEqual(server.stop(), 0)

    def test_instance_threads_beyond_the_server_limit_are_a_load_error(self):
        # No cgroup needed: the server's own thread budget refuses first.
        repo = t.temp_dir("berth-thread-budget-")
        t.binary_model(os.path.join(repo, "small", "1", "model.onnx"), "Add")
        t.binary_model(os.path.join(repo, "many", "1", "model.onnx"), "Add")
        t.write_config(os.path.join(repo, "many"), "instance_group [ { count: 64 } ]")
        server = t.BerthServer(["--model-repository", repo, "--max-instance-threads", "8"])
        try:
            t.expect_failed_and_others_serve(self, server, "many", "--max-instance-threads")
        finally:
            self.assertEqual(server.stop(), 0)


class FifoFilesDoNotHangLoading(t.unittest.TestCase):
    """A FIFO where a model file, its external data or its config.pbtxt should
    be fails that model at once; the loader goes on to the others."""

    def test_fifos_fail_their_model_and_nothing_else(self):
        repo = t.temp_dir("berth-fifo-")
        t.binary_model(os.path.join(repo, "ok", "1", "model.onnx"), "Add")
        os.makedirs(os.path.join(repo, "pipe_model", "1"))
        os.mkfifo(os.path.join(repo, "pipe_model", "1", "model.onnx"))
        t.binary_model(os.path.join(repo, "pipe_config", "1", "model.onnx"), "Add")
        os.mkfifo(os.path.join(repo, "pipe_config", "config.pbtxt"))
        # A weight kept as external data in weights.bin, which is a FIFO.
        weights = t.TensorProto(name="w", data_type=t.TensorProto.FLOAT, dims=[1, 4],
                                data_location=t.TensorProto.EXTERNAL)
        weights.external_data.add(key="location", value="weights.bin")
        x = t.helper.make_tensor_value_info("x", t.TensorProto.FLOAT, [1, 4])
        y = t.helper.make_tensor_value_info("y", t.TensorProto.FLOAT, [1, 4])
        graph = t.helper.make_graph([t.helper.make_node("Add", ["x", "w"], ["y"])], "g", [x], [y], [weights])
        os.makedirs(os.path.join(repo, "pipe_data", "1"))
        os.mkfifo(os.path.join(repo, "pipe_data", "1", "weights.bin"))
        with open(os.path.join(repo, "pipe_data", "1", "model.onnx"), "wb") as f:
            f.write(t.helper.make_model(graph, opset_imports=[t.helper.make_opsetid("", 17)]).SerializeToString())
        server = t.BerthServer(["--model-repository", repo, "--model-control", "poll", "--repository-poll-secs", "0.2"])
        try:
            t.wait_until(lambda: t.get_json(server.port, "/v2/models/ok/ready")[0] == 200, message="ok to load")
            for model, state in (("pipe_model", "FAILED"), ("pipe_data", "FAILED")):
                t.wait_until(lambda: t.get_json(server.port, f"/v2/models/{model}/ready")[1].get("state") == state,
                             message=f"{model} to fail")
                self.assertIn("is a FIFO", t.get_json(server.port, f"/v2/models/{model}/ready")[1]["error"])
            status, body = t.get_json(server.port, "/v2/models/pipe_config/ready")
            self.assertEqual(status, 503)
            self.assertIn("is a FIFO", body["error"])
            # The loader is not stuck: a model added now loads too.
            os.makedirs(os.path.join(repo, "later"))
            stage_version(repo, "later", 1, "Mul")
            t.wait_until(lambda: t.get_json(server.port, "/v2/models/later/ready")[0] == 200, message="later to load")
        finally:
            self.assertEqual(server.stop(), 0)


class HostileConfigInPollMode(t.unittest.TestCase):
    """A config.pbtxt dropped into a running poll-mode repository that would
    crash a protobuf parser (an unknown field nested 30,000 deep, 150 KB) is
    reported as a config error; the server and the loaded version go on."""

    def test_deeply_nested_config_is_an_error_not_a_crash(self):
        repo = t.temp_dir("berth-deep-config-")
        t.binary_model(os.path.join(repo, "m", "1", "model.onnx"), "Add")
        server = t.BerthServer(["--model-repository", repo, "--model-control", "poll", "--repository-poll-secs", "0.2"])
        try:
            server.wait_ready()
            with open(os.path.join(repo, "m", "config.pbtxt"), "w") as f:
                f.write("zz " + "{ a " * 30000 + "}" * 30000 + "\n")

            def reported():
                status, body = t.post_json(server.port, "/v2/repository/index", {})
                return any("nested deeper than 32 levels" in entry.get("reason", "") for entry in body)
            t.wait_until(reported, message="the config error to be reported")
            self.assertEqual(server.process.poll(), None)
            status, body = t.post_json(server.port, "/v2/models/m/infer", ADD_REQUEST)
            self.assertEqual((status, body["outputs"][0]["data"]), (200, [9, 9, 9, 9]))
        finally:
            self.assertEqual(server.stop(), 0)


if __name__ == "__main__":
    t.main()
