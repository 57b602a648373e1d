#include "server/kserve/kserve_routes.h"

#include <boost/asio/post.hpp>
#include <charconv>

#include "server/json/json_util.h"
#include "server/model_repository.h"

namespace berth::server {
namespace {

void WriteString(JsonWriter& w, std::string_view text) {
  w.String(text.data(), static_cast<rapidjson::SizeType>(text.size()));
}

void WriteTensorSpecs(JsonWriter& w, const std::vector<TensorSpec>& specs) {
  w.StartArray();
  for (const auto& spec : specs) {
    w.StartObject();
    w.Key("name");
    WriteString(w, spec.name);
    w.Key("datatype");
    WriteString(w, core::DataTypeWireName(spec.dtype));
    w.Key("shape");
    w.StartArray();
    for (int64_t d : spec.shape) w.Int64(d);
    w.EndArray();
    w.EndObject();
  }
  w.EndArray();
}

void WriteCountNs(JsonWriter& w, const char* key, uint64_t count, uint64_t ns) {
  w.Key(key);
  w.StartObject();
  w.Key("count");
  w.Uint64(count);
  w.Key("ns");
  w.Uint64(ns);
  w.EndObject();
}

std::string VersionLabel(int64_t version) { return version > 0 ? std::to_string(version) : std::string(); }

// An optional JSON object body (repository routes): empty is fine, anything
// else must be an object within the limits. `document` stays null when empty.
core::Status ParseOptionalObject(const std::string& text, const JsonLimits& limits, rapidjson::Document* document) {
  if (text.find_first_not_of(" \t\r\n") == std::string::npos) return core::Status::Ok();
  RETURN_IF_ERROR(CheckJsonLimits(text, limits.max_depth, limits.max_objects));
  document->Parse<kJsonParseFlags>(text.data(), text.size());
  if (document->HasParseError()) return core::InvalidArgument("{}", DescribeJsonError(*document));
  if (!document->IsObject()) return core::InvalidArgument("the request body must be a JSON object");
  return core::Status::Ok();
}

// The path's model and version (0 when the path names none; the table has
// checked both already).
std::string ModelOf(const RouteMatch& match) { return std::string(match.Parameter("model")); }
int64_t VersionOf(const RouteMatch& match) {
  std::string_view text = match.Parameter("version");
  int64_t version = 0;
  std::from_chars(text.data(), text.data() + text.size(), version);
  return version;
}

// Answers, naming the model and version the path gave in the request log.
void Reply(HttpExchange& exchange, HttpResponse response) {
  if (response.model.empty()) response.model = ModelOf(exchange.match);
  if (response.version.empty()) response.version = VersionLabel(VersionOf(exchange.match));
  exchange.respond(std::move(response));
}

core::Status CheckModelName(std::string_view name) {
  if (IsValidModelName(name)) return core::Status::Ok();
  return core::InvalidArgument("'{}' is not a valid model name (letters, digits, '_', '.', '-'; no '..')", name);
}

core::Status CheckVersion(std::string_view text) {
  int64_t version = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), version);
  if (text.empty() || text.size() > 18 || ec != std::errc() || end != text.data() + text.size() || version <= 0) {
    return core::InvalidArgument("'{}' is not a valid model version (a positive integer)", text);
  }
  return core::Status::Ok();
}

}  // namespace

void KServeRoutes::Register(RouteTable& table) {
  using boost::beast::http::verb;
  table.DefineParameter("model", CheckModelName);
  table.DefineParameter("version", CheckVersion);
  // A route answered at once from the request line, by `answer(model, version)`.
  auto add = [&](verb method, std::string pattern, std::string label, auto answer) {
    Route route;
    route.method = method;
    route.pattern = std::move(pattern);
    route.label = std::move(label);
    route.handler = [answer](HttpExchange& exchange) {
      Reply(exchange, answer(ModelOf(exchange.match), VersionOf(exchange.match)));
    };
    table.Add(std::move(route));
  };
  auto probe = [&](std::string pattern, std::string label, auto answer) {
    Route route;
    route.pattern = std::move(pattern);
    route.label = std::move(label);
    route.requires_auth = false;
    route.quiet = true;
    route.probe = true;
    route.handler = [answer](HttpExchange& exchange) { Reply(exchange, answer()); };
    table.Add(std::move(route));
  };
  probe("/v2/health/live", "", [this] { return HealthLive(); });
  probe("/v2/health/ready", "", [this] { return HealthReady(); });
  probe("/health", "/v2/health/ready", [this] { return HealthReady(); });
  add(verb::get, "/v2", "", [this](const std::string&, int64_t) { return ServerMetadata(); });

  // Every model route, for the highest ready version and for a given one.
  for (std::string versions : {"", "/versions/{version}"}) {
    const std::string base = "/v2/models/{model}" + versions;
    add(verb::get, base, "/v2/models/{model}",
        [this](const std::string& model, int64_t version) { return ModelMetadata(model, version); });
    add(verb::get, base + "/ready", "/v2/models/{model}/ready",
        [this](const std::string& model, int64_t version) { return ModelReady(model, version); });
    add(verb::get, base + "/config", "/v2/models/{model}/config",
        [this](const std::string& model, int64_t version) { return ModelConfig(model, version); });
    add(verb::get, base + "/stats", "/v2/models/{model}/stats",
        [this](const std::string& model, int64_t version) { return ModelStats(model, version); });
    table.Add(Route{verb::post, base + "/infer", "/v2/models/{model}/infer",
                    [this](HttpExchange& exchange) { Infer(exchange); }});
  }
  add(verb::get, "/v2/models/stats", "/v2/models/{model}/stats",
      [this](const std::string&, int64_t) { return ModelStats("", 0); });

  table.Add(Route{verb::post, "/v2/repository/index", "",
                  [this](HttpExchange& exchange) { Reply(exchange, RepositoryIndex(exchange.request)); }});
  table.Add(Route{verb::post, "/v2/repository/models/{model}/load", "",
                  [this](HttpExchange& exchange) { RepositoryLoad(exchange); }});
  add(verb::post, "/v2/repository/models/{model}/unload", "",
      [this](const std::string& model, int64_t) { return RepositoryUnload(model); });
}

HttpResponse KServeRoutes::HealthLive() const { return JsonResponse(200, "{\"live\":true}"); }

HttpResponse KServeRoutes::HealthReady() const {
  std::string reason;
  if (server_.IsReady(&reason)) return JsonResponse(200, "{\"ready\":true}");
  // Without a key nobody learns more than "not ready"; the model routes
  // (which need one) tell the rest.
  if (keys_required_) return JsonResponse(503, "{\"ready\":false,\"error\":\"not ready\"}");
  return JsonResponse(503, "{\"ready\":false,\"error\":\"" + core::JsonEscape(reason) + "\"}");
}

HttpResponse KServeRoutes::ServerMetadata() const {
  server::ServerMetadata metadata = server_.Metadata();
  std::string body;
  JsonStringSink sink(&body);
  JsonWriter w(sink);
  w.StartObject();
  w.Key("name");
  WriteString(w, metadata.name);
  w.Key("version");
  WriteString(w, metadata.version);
  w.Key("extensions");
  w.StartArray();
  for (const auto& extension : metadata.extensions) WriteString(w, extension);
  w.EndArray();
  w.EndObject();
  return JsonResponse(200, std::move(body));
}

HttpResponse KServeRoutes::ModelMetadata(const std::string& model, int64_t version) const {
  auto metadata = server_.GetModelMetadata(model, version);
  if (!metadata.ok()) return ErrorResponse(metadata.status());
  std::string body;
  JsonStringSink sink(&body);
  JsonWriter w(sink);
  w.StartObject();
  w.Key("name");
  WriteString(w, metadata->name);
  w.Key("versions");
  w.StartArray();
  for (const auto& version : metadata->versions) WriteString(w, version);
  w.EndArray();
  w.Key("platform");
  WriteString(w, metadata->platform);
  w.Key("inputs");
  WriteTensorSpecs(w, metadata->inputs);
  w.Key("outputs");
  WriteTensorSpecs(w, metadata->outputs);
  w.EndObject();
  return JsonResponse(200, std::move(body));
}

HttpResponse KServeRoutes::ModelReady(const std::string& model, int64_t version) const {
  auto readiness = server_.GetModelReadiness(model, version);
  if (!readiness.ok()) return ErrorResponse(readiness.status());
  std::string body;
  JsonStringSink sink(&body);
  JsonWriter w(sink);
  w.StartObject();
  w.Key("name");
  WriteString(w, readiness->name);
  if (readiness->version > 0) {
    w.Key("version");
    WriteString(w, std::to_string(readiness->version));
  }
  w.Key("ready");
  w.Bool(readiness->ready);
  w.Key("state");
  WriteString(w, ModelVersionStateName(readiness->state));
  if (!readiness->reason.empty() || !readiness->ready) {
    w.Key(readiness->ready ? "reason" : "error");
    std::string reason = readiness->reason;
    if (reason.empty())
      reason = fmt::format("model '{}' is {}", readiness->name, ModelVersionStateName(readiness->state));
    WriteString(w, reason);
  }
  w.EndObject();
  HttpResponse response = JsonResponse(readiness->ready ? 200 : 503, std::move(body));
  return response;
}

HttpResponse KServeRoutes::ModelConfig(const std::string& model, int64_t version) const {
  auto config = server_.GetModelConfig(model, version);
  if (!config.ok()) return ErrorResponse(config.status());
  return JsonResponse(200, ModelConfigToJson(*config));
}

HttpResponse KServeRoutes::ModelStats(const std::string& model, int64_t version) const {
  auto stats = server_.GetModelStatistics(model, version);
  if (!stats.ok()) return ErrorResponse(stats.status());
  std::string body;
  JsonStringSink sink(&body);
  JsonWriter w(sink);
  w.StartObject();
  w.Key("model_stats");
  w.StartArray();
  for (const auto& s : *stats) {
    w.StartObject();
    w.Key("name");
    WriteString(w, s.name);
    w.Key("version");
    WriteString(w, std::to_string(s.version));
    w.Key("state");
    WriteString(w, ModelVersionStateName(s.state));
    if (!s.reason.empty()) {
      w.Key("reason");
      WriteString(w, s.reason);
    }
    w.Key("last_inference");
    w.Uint64(s.last_inference_ms);
    w.Key("inference_count");
    w.Uint64(s.inference_count);
    w.Key("execution_count");
    w.Uint64(s.execution_count);
    w.Key("queue_depth");
    w.Uint64(s.queue_depth);
    w.Key("inference_stats");
    w.StartObject();
    for (auto [key, stat] : {std::pair{"success", s.success},
                             {"fail", s.fail},
                             {"queue", s.queue},
                             {"compute_input", s.compute_input},
                             {"compute_infer", s.compute_infer},
                             {"compute_output", s.compute_output}}) {
      WriteCountNs(w, key, stat.count, stat.ns);
    }
    WriteCountNs(w, "cache_hit", 0, 0);  // no response cache yet
    WriteCountNs(w, "cache_miss", 0, 0);
    w.EndObject();
    w.Key("response_stats");  // decoupled models only
    w.StartObject();
    w.EndObject();
    w.Key("batch_stats");
    w.StartArray();
    for (const auto& [size, batch] : s.batches) {
      w.StartObject();
      w.Key("batch_size");
      w.Int64(size);
      WriteCountNs(w, "compute_input", batch.count, batch.input_ns);
      WriteCountNs(w, "compute_infer", batch.count, batch.infer_ns);
      WriteCountNs(w, "compute_output", batch.count, batch.output_ns);
      w.EndObject();
    }
    w.EndArray();
    w.Key("memory_usage");
    w.StartArray();
    if (s.memory_bytes > 0) {
      w.StartObject();
      w.Key("type");
      WriteString(w, "CPU");
      w.Key("id");
      w.Int64(0);
      w.Key("byte_size");
      w.Uint64(s.memory_bytes);
      w.EndObject();
    }
    w.EndArray();
    w.EndObject();
  }
  w.EndArray();
  w.EndObject();
  return JsonResponse(200, std::move(body));
}

HttpResponse KServeRoutes::RepositoryIndex(const HttpRequestMessage& request) const {
  bool ready_only = false;
  const std::string& text = request.body();
  rapidjson::Document document;
  core::Status parsed = ParseOptionalObject(text, limits_, &document);
  if (!parsed.ok()) return ErrorResponse(parsed);
  if (document.IsObject()) {
    if (auto it = document.FindMember("ready"); it != document.MemberEnd()) {
      if (!it->value.IsBool()) return ErrorResponse(400, "'ready' must be true or false");
      ready_only = it->value.GetBool();
    }
  }
  std::string body;
  JsonStringSink sink(&body);
  JsonWriter w(sink);
  w.StartArray();
  for (const auto& model : server_.RepositoryIndex()) {
    if (ready_only && !model.ready) continue;
    bool listed = false;
    for (const auto& version : model.versions) {
      if (ready_only && version.state != ModelVersionState::kReady) continue;
      listed = true;
      w.StartObject();
      w.Key("name");
      WriteString(w, model.name);
      w.Key("version");
      WriteString(w, std::to_string(version.version));
      w.Key("state");
      WriteString(w, ModelVersionStateName(version.state));
      w.Key("reason");
      WriteString(w, version.reason.empty() ? model.reason : version.reason);
      w.EndObject();
    }
    if (!listed && !ready_only) {
      w.StartObject();
      w.Key("name");
      WriteString(w, model.name);
      w.Key("state");
      WriteString(w, "UNAVAILABLE");
      w.Key("reason");
      WriteString(w, model.reason.empty() ? (model.should_serve ? "no version to serve" : "not loaded") : model.reason);
      w.EndObject();
    }
  }
  w.EndArray();
  return JsonResponse(200, std::move(body));
}

HttpResponse KServeRoutes::RepositoryUnload(const std::string& model) {
  core::Status status = server_.UnloadModel(model);
  if (!status.ok()) return ErrorResponse(status);
  return JsonResponse(200, "");  // Triton answers load and unload with an empty body
}

void KServeRoutes::RepositoryLoad(HttpExchange& exchange) {
  const std::string& text = exchange.request.body();
  rapidjson::Document document;
  core::Status parsed = ParseOptionalObject(text, limits_, &document);
  if (!parsed.ok()) return exchange.respond(ErrorResponse(parsed));
  if (document.IsObject()) {
    auto parameters = document.FindMember("parameters");
    if (parameters != document.MemberEnd() && parameters->value.IsObject() && parameters->value.MemberCount() > 0) {
      return exchange.respond(
          ErrorResponse(501, "load parameters (config or file overrides) are not supported; edit the repository"));
    }
  }
  std::string model = ModelOf(exchange.match);
  server_.LoadModel(model, [respond = exchange.respond, model](core::Status status) {
    HttpResponse response = status.ok() ? JsonResponse(200, "") : ErrorResponse(status);
    response.model = model;
    respond(std::move(response));
  });
}

void KServeRoutes::Infer(HttpExchange& exchange) {
  HttpRequestMessage& request = exchange.request;
  const std::string model_name = ModelOf(exchange.match);
  const int64_t version = VersionOf(exchange.match);
  std::optional<size_t> json_length;
  auto header = request.find("Inference-Header-Content-Length");
  if (header != request.end()) {
    auto parsed = ParseInferenceHeaderLength(header->value(), request.body().size());
    if (!parsed.ok()) {
      HttpResponse response = ErrorResponse(parsed.status());
      response.model = model_name;
      return exchange.respond(std::move(response));
    }
    json_length = *parsed;
  }
  auto parsed = [&]() -> core::Result<KServeInferRequest> {
    if (json_length != 0) return ParseInferRequest(request.body(), json_length, limits_, exchange.memory);
    // Triton's raw binary request: the body is the only input's bytes.
    ASSIGN_OR_RETURN(server::ModelMetadata metadata, server_.GetModelMetadata(model_name, version));
    return ParseRawBinaryRequest(request.body(), metadata.inputs, exchange.memory);
  }();
  if (!parsed.ok()) {
    HttpResponse response = ErrorResponse(parsed.status());
    response.model = model_name;
    response.version = VersionLabel(version);
    return exchange.respond(std::move(response));
  }
  InferRequest native = std::move(parsed->request);
  native.model_name = model_name;
  native.model_version = version;
  native.received = Clock::now();
  native.cancelled = exchange.cancelled;
  // Triton's `timeout` parameter: microseconds for the whole request, queue
  // and compute; 0 or absent: none (the server's compute timeout still holds).
  if (auto timeout = native.parameters.find("timeout"); timeout != native.parameters.end()) {
    const int64_t* micros = std::get_if<int64_t>(&timeout->second);
    if (!micros || *micros < 0) {
      HttpResponse response = ErrorResponse(400, "parameter 'timeout' must be a non-negative integer (microseconds)");
      response.model = model_name;
      return exchange.respond(std::move(response));
    }
    if (*micros > 0) native.deadline = native.received + std::chrono::microseconds(*micros);
  }
  // What encoding needs later; the tensors themselves travel in `native`.
  auto encoding = std::make_shared<KServeInferRequest>();
  encoding->binary_output_default = parsed->binary_output_default;
  encoding->output_binary = std::move(parsed->output_binary);
  std::string request_id = native.id;
  std::string model = model_name;
  int64_t asked_version = version;
  server_.Infer(
      std::move(native), [executor = exchange.executor, respond = exchange.respond, encoding, memory = exchange.memory,
                          request_id = std::move(request_id), model = std::move(model),
                          asked_version](core::Result<InferResponse> result) mutable {
        // Serialize on the connection's strand, not on the instance thread.
        boost::asio::post(executor, [respond = std::move(respond), encoding = std::move(encoding),
                                     memory = std::move(memory), result = std::move(result),
                                     request_id = std::move(request_id), model = std::move(model),
                                     asked_version]() mutable {
          HttpResponse response;
          if (!result.ok()) {
            response = ErrorResponse(result.status());
            response.version = VersionLabel(asked_version);
          } else {
            auto encoded = EncodeInferResponse(*result, *encoding, memory.get());
            if (!encoded.ok()) {
              response = ErrorResponse(encoded.status());
            } else {
              response = JsonResponse(200, std::move(encoded->body));
              if (encoded->json_length) {
                response.content_type = "application/octet-stream";
                response.headers.emplace_back("Inference-Header-Content-Length", std::to_string(*encoded->json_length));
              }
            }
            response.version = std::to_string(result->model_version);
          }
          response.model = std::move(model);
          response.request_id = std::move(request_id);
          respond(std::move(response));
        });
      });
}

}  // namespace berth::server
