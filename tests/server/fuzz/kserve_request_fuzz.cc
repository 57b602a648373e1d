// Fuzz target: arbitrary bytes as an inference request body (JSON, or with
// the first two bytes taken as Inference-Header-Content-Length, the binary
// extension), and as a request target for the KServe routes' table.
#include <stdlib.h>
#include <unistd.h>

#include <boost/beast/http/verb.hpp>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "server/backends/onnx_backend.h"
#include "server/http/route_table.h"
#include "server/kserve/kserve_codec.h"
#include "server/kserve/kserve_routes.h"

namespace {

char repository[] = "/tmp/berth-fuzz-XXXXXX";
void RemoveRepository() { rmdir(repository); }

// The KServe routes as `berth serve` has them (over an empty repository,
// removed at exit).
const berth::server::RouteTable& KServeTable() {
  static berth::server::RouteTable* table = [] {
    berth::server::ServerOptions options;
    options.model_repository = mkdtemp(repository);
    std::atexit(RemoveRepository);
    berth::server::BackendRegistry backends;
    backends.Register(berth::server::OnnxBackendFactory());
    static auto server = std::move(berth::server::Server::Create(options, std::move(backends))).value();
    static berth::server::KServeRoutes routes(*server, berth::server::JsonLimits{});
    auto* routes_table = new berth::server::RouteTable();
    routes.Register(*routes_table);
    return routes_table;
  }();
  return *table;
}

}  // namespace

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
  {
    // Again with a small memory account, as `berth serve` parses: the charges
    // (tree bound, input tensors, response) and their refusals.
    berth::core::MemoryBudget budget(1 << 20);
    auto account = std::make_shared<berth::core::MemoryAccount>(&budget, 256 << 10);
    auto accounted = berth::server::ParseInferRequest(bytes, std::nullopt, limits, account);
    if (accounted.ok()) {
      berth::server::InferResponse response;
      for (auto& [name, value] : accounted->request.inputs) response.outputs.push_back({name, value.tensor()});
      (void)berth::server::EncodeInferResponse(response, *accounted, account.get());
    }
  }
  if (size >= 2) {
    size_t header = (static_cast<size_t>(data[0]) << 8 | data[1]) % (size - 1);
    (void)berth::server::ParseInferRequest(bytes.substr(2), std::min(header, size - 2), limits);
  }
  (void)KServeTable().Match(boost::beast::http::verb::post, bytes);
  return 0;
}
