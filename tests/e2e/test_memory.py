"""Memory limits of `berth serve`: a tiny request whose shapes come from its
values, and many large bodies at once, inside a memory-limited cgroup. The
server answers 507 (the request alone is too large) or 503 (the budget is
taken now) and is never OOM-killed; its limits default from the cgroup."""
import concurrent.futures
import os
import sys

import numpy as np
from onnx import TensorProto, helper, numpy_helper

import berth_testlib as t

GIB = 1 << 30
MIB = 1 << 20


def oom_kills(cgroup):
    """OOM kills in a cgroup v1 memory group (0 where the kernel does not say)."""
    with open(os.path.join(cgroup, "memory.oom_control")) as f:
        for line in f:
            if line.startswith("oom_kill "):
                return int(line.split()[1])
    return 0


def cgroup_peak(cgroup):
    with open(os.path.join(cgroup, "memory.max_usage_in_bytes")) as f:
        return int(f.read())


def memory_cgroup(test, limit):
    cgroup = t.make_cgroup("memory", {"memory.limit_in_bytes": str(limit)})
    if cgroup is None:
        test.skipTest("cannot make a memory cgroup here (needs root and cgroup v1 memory)")
    return cgroup


class ShapesFromValues(t.unittest.TestCase):
    """A 40-byte request asking for 16 GB of output, in a 1 GiB container: 507
    before anything is allocated, the server alive and small, the refusal
    counted; the same models answer requests that fit."""

    @classmethod
    def setUpClass(cls):
        cls.cgroup = memory_cgroup(cls, GIB)
        cls.repo = t.temp_dir("berth-memory-")
        t.shape_from_values_models(cls.repo)
        cls.server = t.BerthServer(["--model-repository", cls.repo, "--http-threads", "2"], cgroups=[cls.cgroup])
        cls.server.wait_ready()
        cls.port = cls.server.port

    @classmethod
    def tearDownClass(cls):
        assert cls.server.stop() == 0

    def infer(self, model, inputs):
        return t.post_json(self.port, f"/v2/models/{model}/infer", t.infer_body(inputs))

    def test_limits_default_from_the_cgroup(self):
        families = t.scrape(self.port)
        self.assertEqual(t.metric_value(families, "berth_memory_budget_bytes"), GIB // 4 * 3)
        self.assertEqual(t.metric_value(families, "berth_memory_request_limit_bytes"), GIB // 8 * 3)

    def test_huge_outputs_are_507_and_the_server_lives(self):
        x = {"name": "x", "shape": [1], "datatype": "FP32", "data": [2]}
        cases = [
            ("expand", [x, {"name": "shape", "shape": [2], "datatype": "INT64", "data": [4000, 1000000]}]),
            ("constant_of_shape", [{"name": "shape", "shape": [2], "datatype": "INT64", "data": [4000, 1000000]}]),
            ("tile", [{"name": "x", "shape": [1, 1], "datatype": "FP32", "data": [2]},
                      {"name": "repeats", "shape": [2], "datatype": "INT64", "data": [100000, 100000]}]),
            ("range", [{"name": "limit", "shape": [], "datatype": "FP32", "data": [4e9]}]),
        ]
        before = t.metric_value(t.scrape(self.port), "berth_memory_refusals_total", limit="request") or 0
        for model, inputs in cases:
            with self.subTest(model=model):
                status, body = self.infer(model, inputs)
                self.assertEqual(status, 507, body)
                self.assertIn("--max-request-memory", body["error"])
                self.assertEqual(t.request(self.port, "GET", "/v2/health/live")[0], 200)
        families = t.scrape(self.port)
        self.assertEqual(t.metric_value(families, "berth_memory_refusals_total", limit="request"),
                         before + len(cases))
        self.assertEqual(t.metric_value(families, "berth_inference_requests_total", model="expand", version="1",
                                        outcome="client_error"), 1)
        self.assertLess(self.server.rss_bytes(), GIB // 2)
        self.assertEqual(oom_kills(self.cgroup), 0)
        # What fits still runs.
        status, body = self.infer("expand", [x, {"name": "shape", "shape": [2], "datatype": "INT64",
                                                 "data": [2, 3]}])
        self.assertEqual((status, body["outputs"][0]["data"]), (200, [2.0] * 6))
        status, body = self.infer("range", [{"name": "limit", "shape": [], "datatype": "FP32", "data": [4]}])
        self.assertEqual((status, body["outputs"][0]["data"]), (200, [0, 1, 2, 3]))


def slow_sum_model(path, seconds):
    """y = steps * sum(x) over FP32 x [N], taking about `seconds` a request
    (the calibrated chain of t.timed_slow_model after the sum)."""
    steps = t.timed_slow_model(path, seconds)
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N"])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])
    c = numpy_helper.from_array(np.zeros(1 << 20, dtype=np.float32), "c")
    starts = numpy_helper.from_array(np.array([0], dtype=np.int64), "starts")
    ends = numpy_helper.from_array(np.array([1], dtype=np.int64), "ends")
    nodes = [helper.make_node("ReduceSum", ["x"], ["s"], keepdims=1), helper.make_node("Add", ["c", "s"], ["t0"])]
    for i in range(1, steps):
        nodes.append(helper.make_node("Add", [f"t{i - 1}", "s"], [f"t{i}"]))
    nodes.append(helper.make_node("Slice", [f"t{steps - 1}", "starts", "ends"], ["y"]))
    graph = helper.make_graph(nodes, "slow_sum", [x], [y], initializer=[c, starts, ends])
    t._save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 11)]), path)


class ManyLargeBodies(t.unittest.TestCase):
    """Sixteen 16 MB JSON requests at once, each allowed alone, in a 640 MiB
    container (budget 480 MiB): a request takes about 220 MB while its JSON
    is parsed and 34 MB (body and tensor) while it waits for the model, which
    takes 1.5 s a request. Those that fit run; the others are turned away
    with 503 and Retry-After at once, not queued into an OOM kill; every
    request gets an answer."""

    def test_concurrent_bodies_are_bounded_by_the_budget(self):
        limit = 640 * MIB
        cgroup = memory_cgroup(self, limit)
        repo = t.temp_dir("berth-bodies-")
        slow_sum_model(os.path.join(repo, "sum", "1", "model.onnx"), seconds=1.5)
        server = t.BerthServer(["--model-repository", repo, "--http-threads", "4"], cgroups=[cgroup])
        try:
            server.wait_ready()
            elements = 4 * MIB
            body = ('{"inputs":[{"name":"x","shape":[%d],"datatype":"FP32","data":[%s]}]}'
                    % (elements, ",".join(["0.5"] * elements))).encode()
            self.assertGreater(len(body), 16 * MIB)

            def send(_):
                status, headers, data = t.request(server.port, "POST", "/v2/models/sum/infer", body=body,
                                                  headers={"Content-Type": "application/json"}, timeout=120)
                return status, headers.get("retry-after"), data

            with concurrent.futures.ThreadPoolExecutor(16) as pool:
                results = list(pool.map(send, range(16)))
            statuses = sorted(status for status, _, _ in results)
            print(f"\n16 requests: {statuses.count(200)} x 200, {statuses.count(503)} x 503; "
                  f"charged peak {t.metric_value(t.scrape(server.port), 'berth_memory_peak_bytes') / MIB:.0f} MiB, "
                  f"RSS {server.rss_bytes() / MIB:.0f} MiB, cgroup peak {cgroup_peak(cgroup) / MIB:.0f} MiB",
                  file=sys.stderr)
            self.assertTrue(set(statuses) <= {200, 503}, statuses)
            self.assertIn(200, statuses)
            self.assertIn(503, statuses)
            for status, retry_after, data in results:
                if status == 503:
                    self.assertEqual(retry_after, "1")
                    self.assertIn(b"--memory-budget", data)
            families = t.scrape(server.port)
            self.assertGreaterEqual(t.metric_value(families, "berth_memory_refusals_total", limit="process"),
                                    statuses.count(503))
            self.assertLessEqual(t.metric_value(families, "berth_memory_peak_bytes"), limit // 4 * 3)
            self.assertEqual(oom_kills(cgroup), 0)
            self.assertLess(server.rss_bytes(), limit)
            # Once they are answered the budget is free again.
            t.wait_until(lambda: t.metric_value(t.scrape(server.port), "berth_memory_in_use_bytes") <
                         64 * MIB, message="the budget to be released")
            status, _, data = t.request(server.port, "POST", "/v2/models/sum/infer", body=body, timeout=120)
            self.assertEqual(status, 200, data[:300])
        finally:
            self.assertEqual(server.stop(), 0)


class ModelBeyondTheBudget(t.unittest.TestCase):
    """A model whose weights alone exceed what is left of --memory-budget
    fails to load with a message naming the flag; the others serve."""

    def test_a_model_larger_than_the_budget_is_a_load_error(self):
        repo = t.temp_dir("berth-model-budget-")
        t.binary_model(os.path.join(repo, "small", "1", "model.onnx"), "Add")
        x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1 << 21])
        y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1 << 21])
        weights = numpy_helper.from_array(np.full(1 << 21, 0.5, dtype=np.float32), "w")  # 8 MiB
        graph = helper.make_graph([helper.make_node("Add", ["x", "w"], ["y"])], "big", [x], [y], [weights])
        t._save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]),
                os.path.join(repo, "big", "1", "model.onnx"))
        server = t.BerthServer(["--model-repository", repo, "--memory-budget", "6MiB",
                                "--max-request-memory", "1MiB"])
        try:
            t.expect_failed_and_others_serve(self, server, "big", "--memory-budget")
        finally:
            self.assertEqual(server.stop(), 0)


if __name__ == "__main__":
    t.main()
