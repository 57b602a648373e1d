#include "server/kserve_routes.h"

#include <boost/asio/post.hpp>

#include "server/json_util.h"

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

}  // namespace

void KServeRoutes::Handle(HttpExchange exchange) {
  const RouteMatch& match = exchange.match;
  HttpResponse response;
  switch (match.route) {
    case Route::kHealthLive:
      response = HealthLive();
      break;
    case Route::kHealthReady:
      response = HealthReady();
      break;
    case Route::kServerMetadata:
      response = ServerMetadata();
      break;
    case Route::kModelMetadata:
      response = ModelMetadata(match);
      break;
    case Route::kModelReady:
      response = ModelReady(match);
      break;
    case Route::kModelConfig:
      response = ModelConfig(match);
      break;
    case Route::kModelStats:
      response = ModelStats(match);
      break;
    case Route::kRepositoryIndex:
      response = RepositoryIndex(exchange.request);
      break;
    case Route::kRepositoryUnload:
      response = RepositoryUnload(match);
      break;
    case Route::kMetrics:
      response = Metrics();
      break;
    case Route::kRepositoryLoad:
      RepositoryLoad(exchange);
      return;
    case Route::kModelInfer:
      Infer(exchange);
      return;
    case Route::kNotFound:
    case Route::kCount:
      response = ErrorResponse(404, "no such route");
      break;
  }
  if (response.model.empty()) response.model = match.model;
  if (response.version.empty()) response.version = VersionLabel(match.version);
  exchange.respond(std::move(response));
}

HttpResponse KServeRoutes::HealthLive() const { return JsonResponse(200, "{\"live\":true}"); }

HttpResponse KServeRoutes::HealthReady() const {
  std::string reason;
  if (server_.IsReady(&reason)) return JsonResponse(200, "{\"ready\":true}");
  HttpResponse response = JsonResponse(503, "{\"ready\":false,\"error\":\"" + core::JsonEscape(reason) + "\"}");
  return response;
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

HttpResponse KServeRoutes::ModelMetadata(const RouteMatch& match) const {
  auto metadata = server_.GetModelMetadata(match.model, match.version);
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

HttpResponse KServeRoutes::ModelReady(const RouteMatch& match) const {
  auto readiness = server_.GetModelReadiness(match.model, match.version);
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

HttpResponse KServeRoutes::ModelConfig(const RouteMatch& match) const {
  auto config = server_.GetModelConfigJson(match.model, match.version);
  if (!config.ok()) return ErrorResponse(config.status());
  return JsonResponse(200, std::move(config).value());
}

HttpResponse KServeRoutes::ModelStats(const RouteMatch& match) const {
  auto stats = server_.GetModelStatistics(match.model, match.version);
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
    WriteCountNs(w, "success", s.success_count, s.success_ns);
    WriteCountNs(w, "fail", s.fail_count, s.fail_ns);
    WriteCountNs(w, "queue", s.queue_count, s.queue_ns);
    WriteCountNs(w, "compute_infer", s.compute_count, s.compute_ns);
    w.EndObject();
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

HttpResponse KServeRoutes::RepositoryUnload(const RouteMatch& match) {
  core::Status status = server_.UnloadModel(match.model);
  if (!status.ok()) return ErrorResponse(status);
  return JsonResponse(200, "{}");
}

HttpResponse KServeRoutes::Metrics() {
  HttpResponse response = JsonResponse(200, server_.RenderMetrics());
  response.content_type = "text/plain; version=0.0.4; charset=utf-8";
  return response;
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
  std::string model = exchange.match.model;
  server_.LoadModel(model, [respond = exchange.respond, model](core::Status status) {
    HttpResponse response = status.ok() ? JsonResponse(200, "{}") : ErrorResponse(status);
    response.model = model;
    respond(std::move(response));
  });
}

void KServeRoutes::Infer(HttpExchange& exchange) {
  HttpRequestMessage& request = exchange.request;
  const RouteMatch& match = exchange.match;
  std::optional<size_t> json_length;
  auto header = request.find("Inference-Header-Content-Length");
  if (header != request.end()) {
    auto parsed = ParseInferenceHeaderLength(header->value(), request.body().size());
    if (!parsed.ok()) {
      HttpResponse response = ErrorResponse(parsed.status());
      response.model = match.model;
      return exchange.respond(std::move(response));
    }
    json_length = *parsed;
  }
  auto parsed = ParseInferRequest(request.body(), json_length, limits_);
  if (!parsed.ok()) {
    HttpResponse response = ErrorResponse(parsed.status());
    response.model = match.model;
    response.version = VersionLabel(match.version);
    return exchange.respond(std::move(response));
  }
  InferRequest native = std::move(parsed->request);
  native.model_name = match.model;
  native.model_version = match.version;
  native.received = Clock::now();
  // What encoding needs later; the tensors themselves travel in `native`.
  auto encoding = std::make_shared<KServeInferRequest>();
  encoding->binary_output_default = parsed->binary_output_default;
  encoding->output_binary = std::move(parsed->output_binary);
  std::string request_id = native.id;
  std::string model = match.model;
  int64_t asked_version = match.version;
  server_.Infer(std::move(native), [executor = exchange.executor, respond = exchange.respond, encoding,
                                    request_id = std::move(request_id), model = std::move(model),
                                    asked_version](core::Result<InferResponse> result) mutable {
    // Serialize on the connection's strand, not on the instance thread.
    boost::asio::post(
        executor, [respond = std::move(respond), encoding = std::move(encoding), result = std::move(result),
                   request_id = std::move(request_id), model = std::move(model), asked_version]() mutable {
          HttpResponse response;
          if (!result.ok()) {
            response = ErrorResponse(result.status());
            response.version = VersionLabel(asked_version);
          } else {
            auto encoded = EncodeInferResponse(*result, *encoding);
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
