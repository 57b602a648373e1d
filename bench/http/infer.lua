-- wrk script: POST an inference request body read from a file.
-- BERTH_BENCH_BODY names the file (default: examples/requests/digits.json).
local path = os.getenv("BERTH_BENCH_BODY") or "examples/requests/digits.json"
local file = assert(io.open(path, "rb"))
wrk.method = "POST"
wrk.body = file:read("*all")
file:close()
wrk.headers["Content-Type"] = "application/json"
