// InferRequest / InferResponse: what a frontend hands the server core and gets
// back. Plain native types (tensors, names, numbers): a frontend turns its
// wire format (KServe JSON, later gRPC) into these before calling Server.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "core/memory_budget.h"
#include "core/status.h"
#include "core/tensor.h"
#include "core/value.h"

namespace berth::server {

using Clock = std::chrono::steady_clock;

// A request-level parameter: KServe allows string, integer, number and bool.
using ParameterValue = std::variant<std::string, int64_t, double, bool>;
using Parameters = std::map<std::string, ParameterValue, std::less<>>;

// An input by name.
using NamedValue = std::pair<std::string, core::Value>;

struct InferRequest {
  std::string id;  // echoed in the response; may be empty
  std::string model_name;
  int64_t model_version = 0;  // 0 = the highest ready version
  std::vector<NamedValue> inputs;
  std::vector<std::string> outputs;  // empty = every output, in model order
  Parameters parameters;             // accepted and carried
  Clock::time_point received;        // when the frontend had the whole request
  // The request gives up at this point, queued or running (the protocol's
  // timeout; the server's --compute-timeout-secs bounds the run besides).
  Clock::time_point deadline = Clock::time_point::max();
  // Set by the frontend when the client has gone: queued work is dropped,
  // running work stops at the next node.
  std::shared_ptr<std::atomic<bool>> cancelled;
  // The request's memory account (its body, parsed inputs, activations and
  // outputs are charged to it); null: nothing is charged.
  std::shared_ptr<core::MemoryAccount> memory;
};

struct InferOutput {
  std::string name;
  core::Tensor tensor;
};

struct InferResponse {
  std::string id;
  std::string model_name;
  int64_t model_version = 0;
  std::vector<InferOutput> outputs;
  Clock::duration queue_time{};
  Clock::duration compute_time{};
};

// Called exactly once per request, on whichever thread finished it (the
// caller's, for requests rejected before queueing; a model instance thread
// otherwise). It must not block.
using InferCallback = std::function<void(core::Result<InferResponse>)>;

}  // namespace berth::server
