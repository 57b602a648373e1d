// KServe v2 (Open Inference Protocol) inference bodies <-> native types.
//
// Requests: JSON with tensors in "data" (flat or nested, every datatype incl.
// BYTES as strings), or Triton's binary tensor extension: the body is a JSON
// header of Inference-Header-Content-Length bytes followed by the raw tensor
// bytes of each input that has "parameters": {"binary_data_size": N}, in the
// order the inputs appear. BYTES elements in binary form are a 4-byte
// little-endian length followed by the bytes.
//
// Every size in a request is checked before anything is allocated: the
// element count of a shape must not overflow, must match the number of JSON
// elements, or must match binary_data_size exactly, so a tensor is never
// bigger than the body that describes it.
//
// Responses: JSON with "data", or binary outputs (per output
// "parameters": {"binary_data": true}, or request-wide
// "parameters": {"binary_data_output": true}) appended after the JSON header.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "server/infer_request.h"
#include "server/model_config.h"
#include "server/model_config.pb.h"

namespace berth::server {

struct JsonLimits {
  int max_depth = 32;
  size_t max_objects = 10000;
};

struct KServeInferRequest {
  InferRequest request;
  bool binary_output_default = false;                       // parameters.binary_data_output
  std::vector<std::pair<std::string, bool>> output_binary;  // outputs that set binary_data
};

// Parses the Inference-Header-Content-Length value: decimal digits only, at
// most `body_size`.
core::Result<size_t> ParseInferenceHeaderLength(std::string_view value, size_t body_size);

// `json_length` is the JSON header's length for a binary request (the rest of
// `body` is tensor data), or nullopt when the whole body is JSON. With a
// `memory` account, the parsed tree is charged to it while parsing and the
// input tensors for as long as they live (a refusal: RequestTooLarge or
// ResourceExhausted); the request carries the account on.
core::Result<KServeInferRequest> ParseInferRequest(std::string_view body, std::optional<size_t> json_length,
                                                   const JsonLimits& limits,
                                                   std::shared_ptr<core::MemoryAccount> memory = nullptr);

// Triton's raw binary request: Inference-Header-Content-Length 0 and the
// body the bytes of the model's only input, `input`. The datatype and shape
// come from the model; at most one variable dimension (-1) is resolved from
// the byte count (for BYTES, the body is one element). Every output comes
// back binary. A model with several inputs, or a body that does not fill
// the shape, is InvalidArgument. Charges `memory` as ParseInferRequest does.
core::Result<KServeInferRequest> ParseRawBinaryRequest(std::string_view body, const std::vector<TensorSpec>& inputs,
                                                       std::shared_ptr<core::MemoryAccount> memory = nullptr);

struct EncodedInferResponse {
  std::string body;
  std::optional<size_t> json_length;  // set when binary data follows the JSON
};

// Each output is binary if its name is in `output_binary` with true, else
// when `binary_output_default`.
// With a `memory` account the body is charged to it (it stays charged until
// the account goes).
core::Result<EncodedInferResponse> EncodeInferResponse(const InferResponse& response, const KServeInferRequest& request,
                                                       core::MemoryAccount* memory = nullptr);

// A model's config as JSON (proto3 JSON mapping, field names as in the .proto).
std::string ModelConfigToJson(const config::ModelConfig& config);

}  // namespace berth::server
