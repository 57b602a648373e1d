#!/usr/bin/python3
"""End-to-end: dynamic batching (config.pbtxt's dynamic_batching) on a real
server: concurrent requests run together and each gets exactly its own rows;
requests that cannot share a run (other shapes, outputs that are not per
row, a request that fails) are answered as if they ran alone; the queue
policy's timeout turns a request away with 503."""
import os
import threading

import numpy as np
from onnx import TensorProto, helper, numpy_helper

import berth_testlib as t

WIDTH, HIDDEN, CLASSES = 16, 32, 4


def mlp_model(path, seed=7):
    """y = relu(x W1 + b1) W2 + b2 on FP32 x [N, WIDTH]; returns the weights."""
    rng = np.random.default_rng(seed)
    w1 = rng.standard_normal((WIDTH, HIDDEN)).astype(np.float32)
    b1 = rng.standard_normal(HIDDEN).astype(np.float32)
    w2 = rng.standard_normal((HIDDEN, CLASSES)).astype(np.float32)
    b2 = rng.standard_normal(CLASSES).astype(np.float32)
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", WIDTH])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", CLASSES])
    nodes = [helper.make_node("Gemm", ["x", "w1", "b1"], ["h"]), helper.make_node("Relu", ["h"], ["r"]),
             helper.make_node("Gemm", ["r", "w2", "b2"], ["y"])]
    inits = [numpy_helper.from_array(a, n) for a, n in ((w1, "w1"), (b1, "b1"), (w2, "w2"), (b2, "b2"))]
    graph = helper.make_graph(nodes, "mlp", [x], [y], initializer=inits)
    t._save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    return lambda v: np.maximum(v @ w1 + b1, 0) @ w2 + b2


def column_sum_model(path):
    """y = ReduceSum(x, axis 0, keepdims): one row whatever the batch, so its
    output cannot be cut back into the requests' rows."""
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["M", 4])
    axes = numpy_helper.from_array(np.array([0], dtype=np.int64), "axes")
    graph = helper.make_graph([helper.make_node("ReduceSum", ["x", "axes"], ["y"], keepdims=1)], "colsum", [x], [y],
                              initializer=[axes])
    t._save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)


def lookup_model(path):
    """y = Gather(table, i): an index past the table fails the run that holds it."""
    i = helper.make_tensor_value_info("i", TensorProto.INT64, ["N", 1])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 1, 3])
    table = numpy_helper.from_array(np.arange(30, dtype=np.float32).reshape(10, 3), "table")
    graph = helper.make_graph([helper.make_node("Gather", ["table", "i"], ["y"])], "lookup", [i], [y],
                              initializer=[table])
    t._save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)


def tensor(name, array, datatype="FP32"):
    return {"name": name, "shape": list(array.shape), "datatype": datatype, "data": array.flatten().tolist()}


def run_concurrently(port, model, bodies):
    """Posts every body at once (one thread each); the (status, json) answers in order."""
    answers = [None] * len(bodies)
    start = threading.Barrier(len(bodies))

    def post(index):
        start.wait()
        answers[index] = t.post_json(port, f"/v2/models/{model}/infer", bodies[index])

    threads = [threading.Thread(target=post, args=(i,)) for i in range(len(bodies))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return answers


def executions(port, model):
    status, stats = t.get_json(port, f"/v2/models/{model}/stats")
    assert status == 200, stats
    entry = stats["model_stats"][0]
    return entry["inference_count"], entry["execution_count"], entry["batch_stats"]


BATCHING = "max_batch_size: 64\ndynamic_batching { max_queue_delay_microseconds: 50000 }\n"


class DynamicBatching(t.unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.repo = t.temp_dir("berth-batching-")
        cls.reference = staticmethod(mlp_model(os.path.join(cls.repo, "mlp", "1", "model.onnx")))
        t.write_config(os.path.join(cls.repo, "mlp"), BATCHING)
        mlp_model(os.path.join(cls.repo, "mlp_alone", "1", "model.onnx"))
        t.write_config(os.path.join(cls.repo, "mlp_alone"), "max_batch_size: 64\n")
        column_sum_model(os.path.join(cls.repo, "colsum", "1", "model.onnx"))
        t.write_config(os.path.join(cls.repo, "colsum"), BATCHING)
        lookup_model(os.path.join(cls.repo, "lookup", "1", "model.onnx"))
        t.write_config(os.path.join(cls.repo, "lookup"), BATCHING)
        cls.server = t.BerthServer(["--model-repository", cls.repo])
        cls.server.wait_ready()
        cls.port = cls.server.port

    @classmethod
    def tearDownClass(cls):
        assert cls.server.stop() == 0

    def test_concurrent_requests_share_runs_and_get_their_own_rows(self):
        rng = np.random.default_rng(1)
        inputs = [rng.standard_normal((1 + i % 3, WIDTH)).astype(np.float32) for i in range(24)]
        bodies = [t.infer_body([tensor("x", x)], request_id=f"r{i}") for i, x in enumerate(inputs)]
        before = executions(self.port, "mlp")
        successes = self.successes()
        answers = run_concurrently(self.port, "mlp", bodies)
        alone = [t.post_json(self.port, "/v2/models/mlp_alone/infer", body) for body in bodies]
        for i, ((status, body), x) in enumerate(zip(answers, inputs)):
            self.assertEqual(status, 200, body)
            self.assertEqual(body["id"], f"r{i}")
            output = body["outputs"][0]
            self.assertEqual(output["shape"], [x.shape[0], CLASSES])
            got = np.array(output["data"], dtype=np.float32).reshape(output["shape"])
            np.testing.assert_allclose(got, self.reference(x), rtol=1e-4, atol=1e-4)
            self.assertEqual(alone[i][0], 200)
            np.testing.assert_allclose(got, np.array(alone[i][1]["outputs"][0]["data"]).reshape(output["shape"]),
                                       rtol=1e-5, atol=1e-5)
        after = executions(self.port, "mlp")
        rows = sum(x.shape[0] for x in inputs)
        self.assertEqual(after[0] - before[0], rows)  # inference_count: every request's rows
        runs = after[1] - before[1]
        self.assertLess(runs, len(inputs), "24 requests at once never shared a run")
        # Batch statistics are per execution: the sizes add up to the rows.
        self.assertEqual(sum(int(b["batch_size"]) * int(b["compute_infer"]["count"]) for b in after[2]),
                         after[0])
        families = t.parse_prometheus(t.request(self.port, "GET", "/metrics")[2].decode())
        self.assertEqual(t.metric_value(families, "berth_inference_batch_size_sum", model="mlp"), after[0])
        self.assertEqual(t.metric_value(families, "berth_inference_batch_size_count", model="mlp"), after[1])
        self.assertEqual(self.successes() - successes, len(inputs))

    def successes(self):
        families = t.parse_prometheus(t.request(self.port, "GET", "/metrics")[2].decode())
        return t.metric_value(families, "berth_inference_requests_total", model="mlp", outcome="success") or 0

    def test_outputs_that_are_not_per_row_run_alone(self):
        rng = np.random.default_rng(2)
        inputs = [rng.standard_normal((2, 4)).astype(np.float32) for _ in range(8)]
        answers = run_concurrently(self.port, "colsum", [t.infer_body([tensor("x", x)]) for x in inputs])
        for (status, body), x in zip(answers, inputs):
            self.assertEqual(status, 200, body)
            np.testing.assert_allclose(np.array(body["outputs"][0]["data"]), x.sum(axis=0), rtol=1e-5)

    def test_a_failing_request_fails_alone(self):
        indices = [np.array([[i % 10]], dtype=np.int64) for i in range(8)]
        indices[3] = np.array([[99]], dtype=np.int64)  # past the table
        answers = run_concurrently(self.port, "lookup", [t.infer_body([tensor("i", i, "INT64")]) for i in indices])
        for k, ((status, body), i) in enumerate(zip(answers, indices)):
            if k == 3:
                self.assertGreaterEqual(status, 400, body)
                self.assertIn("error", body)
            else:
                self.assertEqual(status, 200, body)
                self.assertEqual(body["outputs"][0]["data"], [3.0 * i[0, 0], 3.0 * i[0, 0] + 1, 3.0 * i[0, 0] + 2])

    def test_other_inner_shapes_are_not_joined(self):
        # Same model, rows of 16 features and a wrong width: the wrong one is
        # refused on its own, the rest are served.
        good = [np.ones((1, WIDTH), dtype=np.float32) * k for k in range(6)]
        bodies = [t.infer_body([tensor("x", x)]) for x in good]
        bodies.append(t.infer_body([tensor("x", np.ones((1, WIDTH + 1), dtype=np.float32))]))
        answers = run_concurrently(self.port, "mlp", bodies)
        for (status, body), x in zip(answers[:-1], good):
            self.assertEqual(status, 200, body)
            np.testing.assert_allclose(np.array(body["outputs"][0]["data"]), self.reference(x)[0], rtol=1e-4,
                                       atol=1e-4)
        self.assertEqual(answers[-1][0], 400, answers[-1][1])


class QueuePolicyTimeout(t.unittest.TestCase):
    """default_queue_policy { default_timeout_microseconds, timeout_action
    REJECT }: a request still queued after the timeout is answered 503."""

    def test_requests_queued_past_the_timeout_are_turned_away(self):
        repo = t.temp_dir("berth-queue-timeout-")
        t.timed_slow_model(os.path.join(repo, "slow", "1", "model.onnx"), 0.5)
        t.write_config(os.path.join(repo, "slow"),
                       "dynamic_batching { default_queue_policy { default_timeout_microseconds: 100000 } }\n")
        server = t.BerthServer(["--model-repository", repo])
        try:
            server.wait_ready()
            body = t.infer_body([{"name": "x", "shape": [1], "datatype": "FP32", "data": [1]}])
            answers = run_concurrently(server.port, "slow", [body] * 4)
            statuses = sorted(status for status, _ in answers)
            # One runs at once; the others wait far beyond 100 ms behind it.
            self.assertEqual(statuses[0], 200, answers)
            self.assertIn(503, statuses, answers)
            for status, reply in answers:
                if status == 503:
                    self.assertIn("queue policy's timeout", reply["error"])
            families = t.parse_prometheus(t.request(server.port, "GET", "/metrics")[2].decode())
            self.assertEqual(t.metric_value(families, "berth_inference_requests_total", model="slow",
                                            outcome="rejected"), statuses.count(503))
        finally:
            self.assertEqual(server.stop(), 0)


if __name__ == "__main__":
    t.main()
