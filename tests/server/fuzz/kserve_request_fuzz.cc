// Fuzz target: arbitrary bytes as an inference request body (JSON, or with
// the first two bytes taken as Inference-Header-Content-Length, the binary
// extension), and as a request target for the router.
#include <boost/beast/http/verb.hpp>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "server/http_router.h"
#include "server/kserve_codec.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view bytes(reinterpret_cast<const char*>(data), size);
  berth::server::JsonLimits limits;
  auto json = berth::server::ParseInferRequest(bytes, std::nullopt, limits);
  if (json.ok()) {
    berth::server::InferResponse response;
    response.model_name = "m";
    for (auto& [name, value] : json->request.inputs) response.outputs.push_back({name, value.tensor()});
    (void)berth::server::EncodeInferResponse(response, *json);
  }
  if (size >= 2) {
    size_t header = (static_cast<size_t>(data[0]) << 8 | data[1]) % (size - 1);
    (void)berth::server::ParseInferRequest(bytes.substr(2), std::min(header, size - 2), limits);
  }
  (void)berth::server::MatchRoute(boost::beast::http::verb::post, bytes);
  return 0;
}
