#!/usr/bin/python3
"""The bad-request suite: malformed, hostile and oversized requests against a
real `berth serve`. Every case must be answered with a 4xx (507 for a request
too large for its memory limit) and a JSON
{"error": "..."} body, the server must answer ready right after each, and its
resident memory must stay bounded over the whole suite (run twice).

  /usr/bin/python3 tests/bad_inputs/test_bad_requests.py --berth build/berth
"""
import gzip
import json
import os
import select
import socket
import sys
import time
import zlib

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "e2e"))
import berth_testlib as t  # noqa: E402

VALID_INPUTS = [{"name": "x", "shape": [1, 4], "datatype": "FP32", "data": [1, 2, 3, 4]},
                {"name": "y", "shape": [1, 4], "datatype": "FP32", "data": [1, 1, 1, 1]}]
INFER = b"/v2/models/add/infer"
# RSS growth allowed over two passes of the suite (first pass included, which
# warms allocator pools and the like).
RSS_GROWTH_LIMIT = 64 << 20
# RSS growth allowed between the end of the first and the end of the second pass.
RSS_SECOND_PASS_LIMIT = 16 << 20


def http_request(method, path, body=b"", headers=(), content_length=True):
    lines = [b"%s %s HTTP/1.1" % (method, path), b"Host: 127.0.0.1"]
    if content_length:
        lines.append(b"Content-Length: %d" % len(body))
    lines.extend(headers)
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


def infer_json(payload, path=INFER, headers=()):
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return http_request(b"POST", path, body, (b"Content-Type: application/json",) + tuple(headers))


def with_input(**changes):
    x = dict(VALID_INPUTS[0], **changes)
    return {"inputs": [x, VALID_INPUTS[1]]}


def binary_request(header, blob, header_length=None):
    head = json.dumps(header).encode()
    length = str(len(head)).encode() if header_length is None else header_length
    return http_request(b"POST", INFER, head + blob, (b"Inference-Header-Content-Length: " + length,))


def chunked(path, chunks):
    return (b"POST %s HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" % path) + chunks


def nested(depth):
    return b'{"inputs": ' + b"[" * depth + b"]" * depth + b"}"


def a_million_outputs():
    outputs = b",".join([b'{"name":"z"}'] * 1_000_000)
    return infer_json(b'{"inputs":' + json.dumps(VALID_INPUTS).encode() + b',"outputs":[' + outputs + b"]}")


# 65 MiB of zeros in about 64 KB: past the 64 MiB body limit once inflated.
GZIP_BOMB = gzip.compress(b"\0" * (65 << 20), 9)

# (name, expected status, raw request bytes or a callable(port) -> response)
CASES = [
    ("shape_data_length_mismatch", 400, infer_json(with_input(data=[1, 2, 3]))),
    ("data_longer_than_shape", 400, infer_json(with_input(data=[1, 2, 3, 4, 5]))),
    ("negative_dimension", 400, infer_json(with_input(shape=[-1, 4]))),
    ("element_count_overflow", 400, infer_json(with_input(shape=[16, 1152921504606846978], data=[1]))),
    ("dimension_beyond_int64", 400, infer_json(with_input(shape=[1, 18446744073709551615]))),
    ("wrong_datatype_for_input", 400, infer_json(with_input(datatype="INT32"))),
    ("unknown_datatype", 400, infer_json(with_input(datatype="FP128"))),
    ("string_in_numeric_data", 400, infer_json(with_input(data=["a", "b", "c", "d"]))),
    ("integer_out_of_range", 400, infer_json({"inputs": [{"name": "x", "shape": [1], "datatype": "INT8",
                                                          "data": [300]}]}, b"/v2/models/id_int8/infer")),
    ("float_for_integer", 400, infer_json({"inputs": [{"name": "x", "shape": [1], "datatype": "INT8",
                                                       "data": [1.5]}]}, b"/v2/models/id_int8/infer")),
    ("number_for_bool", 400, infer_json({"inputs": [{"name": "x", "shape": [1], "datatype": "BOOL",
                                                     "data": [1]}]}, b"/v2/models/id_bool/infer")),
    ("shape_not_an_array", 400, infer_json(with_input(shape="1,4"))),
    ("shape_with_a_fraction", 400, infer_json(with_input(shape=[1.5, 4]))),
    ("rank_above_limit", 400, infer_json(with_input(shape=[1] * 40, data=[1]))),
    ("no_inputs", 400, infer_json({})),
    ("inputs_not_an_array", 400, infer_json({"inputs": {"x": 1}})),
    ("input_without_name", 400, infer_json({"inputs": [{"shape": [1, 4], "datatype": "FP32", "data": [1, 2, 3, 4]}]})),
    ("unknown_input_name", 400, infer_json(with_input(name="q"))),
    ("missing_required_input", 400, infer_json({"inputs": [VALID_INPUTS[0]]})),
    ("duplicate_input", 400, infer_json({"inputs": [VALID_INPUTS[0], VALID_INPUTS[0], VALID_INPUTS[1]]})),
    ("input_without_data", 400, infer_json({"inputs": [{"name": "x", "shape": [1, 4], "datatype": "FP32"},
                                                       VALID_INPUTS[1]]})),
    ("id_not_a_string", 400, infer_json({"id": 7, "inputs": VALID_INPUTS})),
    ("unknown_model", 404, infer_json({"inputs": VALID_INPUTS}, b"/v2/models/nope/infer")),
    ("unknown_version", 404, infer_json({"inputs": VALID_INPUTS}, b"/v2/models/add/versions/42/infer")),
    ("version_not_a_number", 400, infer_json({"inputs": VALID_INPUTS}, b"/v2/models/add/versions/1x/infer")),
    ("model_name_with_dot_dot_slash", 400, infer_json({"inputs": VALID_INPUTS},
                                                       b"/v2/models/../../etc/passwd/infer")),
    ("model_name_with_encoded_traversal", 400, infer_json({"inputs": VALID_INPUTS},
                                                           b"/v2/models/..%2F..%2Fetc%2Fpasswd/infer")),
    ("model_load_with_traversal", 400, http_request(b"POST", b"/v2/repository/models/..%2f..%2ftmp/load")),
    ("json_nested_120_deep", 400, infer_json(nested(120))),
    ("json_nested_100000_deep", 400, infer_json(nested(100000))),
    ("invalid_json", 400, infer_json(b'{"inputs": [')),
    ("json_top_level_array", 400, infer_json(b"[1, 2, 3]")),
    ("empty_body", 400, infer_json(b"")),
    ("inference_header_length_larger_than_body", 400,
     binary_request({"inputs": VALID_INPUTS}, b"", b"100000")),
    ("inference_header_length_negative", 400, binary_request({"inputs": VALID_INPUTS}, b"", b"-5")),
    ("inference_header_length_not_a_number", 400, binary_request({"inputs": VALID_INPUTS}, b"", b"twelve")),
    ("inference_header_length_huge", 400, binary_request({"inputs": VALID_INPUTS}, b"", b"99999999999999999999999")),
    ("binary_data_size_does_not_match_shape", 400, binary_request(
        {"inputs": [dict(VALID_INPUTS[0], data=None, parameters={"binary_data_size": 12}), VALID_INPUTS[1]]},
        b"\0" * 12)),
    ("binary_data_size_beyond_body", 400, binary_request(
        {"inputs": [{"name": "x", "shape": [1, 4], "datatype": "FP32", "parameters": {"binary_data_size": 16}},
                    VALID_INPUTS[1]]}, b"\0" * 4)),
    ("binary_bytes_truncated_length_prefix", 400, binary_request(
        {"inputs": [{"name": "x", "shape": [2], "datatype": "BYTES", "parameters": {"binary_data_size": 6}}]},
        b"\x01\x00\x00\x00a\x07")),
    ("binary_bytes_length_beyond_data", 400, binary_request(
        {"inputs": [{"name": "x", "shape": [1], "datatype": "BYTES", "parameters": {"binary_data_size": 8}}]},
        b"\xff\xff\xff\x7fabcd")),
    ("binary_data_left_over", 400, binary_request({"inputs": VALID_INPUTS}, b"extra bytes")),
    ("binary_size_without_header", 400, infer_json(
        {"inputs": [{"name": "x", "shape": [1, 4], "datatype": "FP32", "parameters": {"binary_data_size": 16}},
                    VALID_INPUTS[1]]})),
    ("a_million_requested_outputs", 400, a_million_outputs()),
    ("unknown_requested_output", 400, infer_json({"inputs": VALID_INPUTS, "outputs": [{"name": "nope"}]})),
    ("output_requested_twice", 400, infer_json({"inputs": VALID_INPUTS, "outputs": [{"name": "z"}, {"name": "z"}]})),
    ("content_length_10000000000", 413, http_request(b"POST", INFER, b"", (b"Content-Length: 10000000000",),
                                                     content_length=False)),
    ("chunk_larger_than_body_limit", 413, chunked(INFER, b"8000000\r\n")),
    ("seventy_thousand_one_byte_chunks", 413, chunked(INFER, b"1\r\n \r\n" * 70000 + b"0\r\n\r\n")),
    ("duplicate_content_length", 400, b"POST /v2/models/add/infer HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n"
                                      b"Content-Length: 2\r\n\r\n{}"),
    ("conflicting_content_lengths", 400, b"POST /v2/models/add/infer HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n"
                                         b"Content-Length: 3\r\n\r\n{}"),
    ("content_length_and_transfer_encoding", 400,
     b"POST /v2/models/add/infer HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"
     b"0\r\n\r\n"),
    ("transfer_encoding_then_content_length", 400,
     b"POST /v2/models/add/infer HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n"
     b"0\r\n\r\n"),
    ("transfer_encoding_chunked_not_last", 400,
     b"POST /v2/models/add/infer HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, gzip\r\n\r\n{}"),
    ("two_transfer_encoding_headers", 400,
     b"POST /v2/models/add/infer HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n"
     b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
    ("malformed_chunk_size", 400, chunked(INFER, b"zz\r\nhello\r\n0\r\n\r\n")),
    ("chunk_without_crlf", 400, chunked(INFER, b"2\r\n{}XX0\r\n\r\n")),
    ("content_length_not_a_number", 400, b"POST /v2/models/add/infer HTTP/1.1\r\nHost: x\r\n"
                                          b"Content-Length: abc\r\n\r\n"),
    ("content_length_negative", 400, b"POST /v2/models/add/infer HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n"),
    ("headers_too_large", 431, http_request(b"GET", b"/v2/health/ready", b"",
                                            (b"X-Filler: " + b"a" * 20000,))),
    ("uri_too_long", 414, http_request(b"GET", b"/v2/models/" + b"a" * 10000, b"")),
    ("uri_beyond_header_limit", 414, http_request(b"GET", b"/v2/models/" + b"a" * 30000, b"")),
    ("garbage_request_line", 400, b"HELLO\r\n\r\n"),
    ("http_2_preface", 400, b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"),
    ("control_character_in_header", 400, b"GET /v2 HTTP/1.1\r\nHost: x\r\nX-Bad: a\x00b\r\n\r\n"),
    ("unsupported_expect", 417, http_request(b"POST", INFER, b"{}", (b"Expect: something-else",))),
    ("unknown_route", 404, http_request(b"GET", b"/v3/models/add", b"")),
    ("wrong_method", 405, http_request(b"DELETE", b"/v2/models/add", b"")),
    ("index_body_not_json", 400, http_request(b"POST", b"/v2/repository/index", b"ready?")),
    ("slow_client_one_byte_per_second", 408, "slow"),
    # Memory: the suite's server has --max-request-memory 48MiB.
    ("expand_to_16_gb", 507, infer_json({"inputs": [
        {"name": "x", "shape": [1], "datatype": "FP32", "data": [1]},
        {"name": "shape", "shape": [2], "datatype": "INT64", "data": [4000, 1000000]}]}, b"/v2/models/expand/infer")),
    ("constant_of_shape_16_gb", 507, infer_json({"inputs": [
        {"name": "shape", "shape": [2], "datatype": "INT64", "data": [4000, 1000000]}]},
        b"/v2/models/constant_of_shape/infer")),
    ("tile_by_10_billion", 507, infer_json({"inputs": [
        {"name": "x", "shape": [1, 1], "datatype": "FP32", "data": [1]},
        {"name": "repeats", "shape": [2], "datatype": "INT64", "data": [100000, 100000]}]}, b"/v2/models/tile/infer")),
    ("range_of_4_billion", 507, infer_json({"inputs": [{"name": "limit", "shape": [], "datatype": "FP32",
                                                        "data": [4e9]}]}, b"/v2/models/range/infer")),
    ("content_length_beyond_request_memory", 507, http_request(b"POST", INFER, b"", (b"Content-Length: 60000000",),
                                                               content_length=False)),
    ("json_tree_beyond_request_memory", 507, infer_json(
        b'{"inputs":[{"name":"x","shape":[1,2000000],"datatype":"FP32","data":[' + b",".join([b"0"] * 2000000) +
        b"]}]}")),
    ("timeout_parameter_not_an_integer", 400, infer_json({"inputs": VALID_INPUTS, "parameters": {"timeout": "1s"}})),
    ("timeout_parameter_negative", 400, infer_json({"inputs": VALID_INPUTS, "parameters": {"timeout": -1}})),
    # Content-Encoding: bombs stop at --max-request-bytes (64 MiB here) while inflating.
    ("gzip_bomb", 413, http_request(b"POST", INFER, GZIP_BOMB, (b"Content-Encoding: gzip",))),
    ("deflate_bomb", 413, http_request(b"POST", INFER, zlib.compress(b"\0" * (65 << 20), 9),
                                       (b"Content-Encoding: deflate",))),
    ("nested_gzip_bomb", 400, http_request(b"POST", INFER, gzip.compress(GZIP_BOMB, 9), (b"Content-Encoding: gzip",))),
    ("truncated_gzip", 400, http_request(b"POST", INFER, gzip.compress(json.dumps({"inputs": VALID_INPUTS}).encode())[:-12],
                                         (b"Content-Encoding: gzip",))),
    ("content_encoding_list", 415, http_request(b"POST", INFER, gzip.compress(gzip.compress(b"{}")),
                                                (b"Content-Encoding: gzip, gzip",))),
    ("content_encoding_br", 415, http_request(b"POST", INFER, b"\x0b\x01\x80{}\x03", (b"Content-Encoding: br",))),
    # Raw binary requests (Inference-Header-Content-Length: 0).
    ("raw_binary_body_of_the_wrong_size", 400, http_request(b"POST", b"/v2/models/digits/infer", b"\0" * 10,
                                                            (b"Inference-Header-Content-Length: 0",))),
    ("raw_binary_for_a_model_with_two_inputs", 400, http_request(b"POST", INFER, b"\0" * 32,
                                                                 (b"Inference-Header-Content-Length: 0",))),
]


def slow_client(port):
    """Sends a request one byte per second; the server gives up after
    --request-timeout-secs (5 here) with a 408 and closes."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=15)
    data = http_request(b"GET", b"/v2/health/ready", b"")
    try:
        for i in range(len(data)):
            readable, _, _ = select.select([sock], [], [], 0)
            if readable:
                break
            try:
                sock.sendall(data[i:i + 1])
            except OSError:
                break
            time.sleep(1)
        return t.read_response(sock)
    finally:
        sock.close()


class BadRequestSuite(t.unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.repo = t.temp_dir("berth-bad-")
        t.binary_model(os.path.join(cls.repo, "add", "1", "model.onnx"), "Add")
        for datatype in ("INT8", "BOOL"):
            t.identity_model(os.path.join(cls.repo, f"id_{datatype.lower()}", "1", "model.onnx"), datatype)
        t.shape_from_values_models(cls.repo)
        t.copy_digits(cls.repo)
        # A fixed number of I/O threads (each has its own malloc arena), so the
        # RSS bounds below do not depend on the machine's core count; a request
        # timeout that a 12 MB body on a busy machine still meets.
        cls.server = t.BerthServer(["--model-repository", cls.repo, "--request-timeout-secs", "5",
                                    "--http-threads", "2", "--max-request-memory", "48MiB"])
        cls.server.wait_ready()
        cls.port = cls.server.port
        # Warm up: a few valid requests so lazily built state exists before we measure.
        for _ in range(20):
            assert t.post_json(cls.port, "/v2/models/add/infer", {"inputs": VALID_INPUTS})[0] == 200
        cls.rss_start = cls.server.rss_bytes()

    @classmethod
    def tearDownClass(cls):
        assert cls.server.stop() == 0, cls.server.log()[-2000:]

    def run_case(self, name, expected, request):
        if request == "slow":
            status, headers, body = slow_client(self.port)
        else:
            status, headers, body = t.raw_exchange(self.port, request, timeout=30)
        self.assertEqual(status, expected, f"{name}: {body[:300]!r}")
        # 4xx, or 507: a request that alone needs more memory than it may have.
        self.assertTrue(400 <= status < 500 or status == 507, name)
        self.assertEqual(headers.get("content-type"), "application/json", name)
        error = json.loads(body)["error"]
        self.assertIsInstance(error, str)
        self.assertTrue(error, name)
        # Healthy right after: live, ready, and a valid inference still works.
        self.assertEqual(t.request(self.port, "GET", "/v2/health/live")[0], 200, name)
        self.assertEqual(t.request(self.port, "GET", "/v2/health/ready")[0], 200, name)
        status, response = t.post_json(self.port, "/v2/models/add/infer", {"inputs": VALID_INPUTS})
        self.assertEqual((status, response["outputs"][0]["data"]), (200, [2, 3, 4, 5]), name)
        return error

    def test_suite_has_at_least_30_cases(self):
        self.assertGreaterEqual(len(CASES), 30)
        self.assertEqual(len({name for name, _, _ in CASES}), len(CASES))

    def test_zz_rss_bounded_over_two_passes(self):
        # A second pass over every case except the slow client, then compare.
        rss_first = self.server.rss_bytes()
        for name, expected, request in CASES:
            if request != "slow":
                self.run_case(name, expected, request)
        rss_second = self.server.rss_bytes()
        print(f"\nRSS: start {self.rss_start >> 20} MiB, after pass 1 {rss_first >> 20} MiB, "
              f"after pass 2 {rss_second >> 20} MiB", file=sys.stderr)
        if self.server.sanitized():
            # ASan's quarantine holds freed blocks back on purpose; only a gross leak shows.
            self.assertLess(rss_second - self.rss_start, 16 * RSS_GROWTH_LIMIT)
            return
        self.assertLess(rss_second - self.rss_start, RSS_GROWTH_LIMIT)
        self.assertLess(rss_second - rss_first, RSS_SECOND_PASS_LIMIT)


def _make_case_test(index, name, expected, request):
    def test(self):
        self.run_case(name, expected, request)
    test.__name__ = f"test_{index:02d}_{name}"
    test.__doc__ = f"{name}: expect {expected}"
    return test


for _index, (_name, _expected, _request) in enumerate(CASES, 1):
    setattr(BadRequestSuite, f"test_{_index:02d}_{_name}", _make_case_test(_index, _name, _expected, _request))


if __name__ == "__main__":
    t.main()
