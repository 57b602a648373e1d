#include "server/openai/openai_request.h"

#include <charconv>
#include <cmath>
#include <limits>
#include <map>
#include <optional>

#include "core/utf8.h"
#include "server/http/http_message.h"
#include "server/json/json_util.h"

namespace berth::server {
namespace {

using rapidjson::Value;

OpenAiError Bad(std::string param, std::string message) {
  OpenAiError error;
  error.param = std::move(param);
  error.message = std::move(message);
  return error;
}

OpenAiError Ok() {
  OpenAiError ok;
  ok.status = 0;
  return ok;
}

// Reads the optional fields of one JSON object, keeping the first error.
class Fields {
 public:
  explicit Fields(const Value& object) : object_(object) {}

  const Value* Get(const char* name) const {
    auto it = object_.FindMember(name);
    if (it == object_.MemberEnd() || it->value.IsNull()) return nullptr;
    return &it->value;
  }

  void Number(const char* name, double low, double high, float* out) {
    const Value* v = Get(name);
    if (!v || failed()) return;
    if (!v->IsNumber() || !std::isfinite(v->GetDouble())) {
      return Fail(name, fmt::format("'{}' must be a number", name));
    }
    const double x = v->GetDouble();
    if (x < low || x > high) return Fail(name, fmt::format("'{}' must be in [{}, {}], not {}", name, low, high, x));
    *out = static_cast<float>(x);
  }

  void Integer(const char* name, int64_t low, int64_t high, int64_t* out) {
    const Value* v = Get(name);
    if (!v || failed()) return;
    if (!v->IsInt64()) {
      if (v->IsNumber()) return Fail(name, fmt::format("'{}' must be an integer in [{}, {}]", name, low, high));
      return Fail(name, fmt::format("'{}' must be an integer", name));
    }
    const int64_t x = v->GetInt64();
    if (x < low || x > high) return Fail(name, fmt::format("'{}' must be in [{}, {}], not {}", name, low, high, x));
    *out = x;
  }

  void Bool(const char* name, bool* out) {
    const Value* v = Get(name);
    if (!v || failed()) return;
    if (!v->IsBool()) return Fail(name, fmt::format("'{}' must be true or false", name));
    *out = v->GetBool();
  }

  void String(const char* name, std::string* out) {
    const Value* v = Get(name);
    if (!v || failed()) return;
    if (!v->IsString()) return Fail(name, fmt::format("'{}' must be a string", name));
    out->assign(v->GetString(), v->GetStringLength());
    if (!core::IsValidUtf8(*out)) Fail(name, fmt::format("'{}' is not valid UTF-8", name));
  }

  void Fail(std::string param, std::string message) {
    if (!failed()) error_ = Bad(std::move(param), std::move(message));
  }
  bool failed() const { return error_.status != 0; }
  OpenAiError error() const { return failed() ? error_ : Ok(); }

 private:
  const Value& object_;
  OpenAiError error_ = Ok();
};

OpenAiError ParseBody(const std::string& body, const OpenAiLimits& limits, rapidjson::Document* document) {
  core::Status limited = CheckJsonLimits(body, limits.max_json_depth, limits.max_json_objects);
  if (!limited.ok()) return Bad("", limited.message());
  document->Parse<kJsonParseFlags>(body.data(), body.size());
  if (document->HasParseError()) return Bad("", DescribeJsonError(*document));
  if (!document->IsObject()) return Bad("", "the request body must be a JSON object");
  return Ok();
}

// "content": a string, or an array of {"type": "text", "text": ...} parts.
OpenAiError ParseContent(const Value& content, size_t index, std::string* out) {
  const std::string param = fmt::format("messages[{}].content", index);
  if (content.IsString()) {
    out->assign(content.GetString(), content.GetStringLength());
  } else if (content.IsArray()) {
    for (const Value& part : content.GetArray()) {
      if (!part.IsObject()) return Bad(param, "each content part must be an object");
      auto type = part.FindMember("type");
      if (type == part.MemberEnd() || !type->value.IsString()) return Bad(param, "a content part needs a 'type'");
      if (std::string_view(type->value.GetString()) != "text") {
        return Bad(param, fmt::format("content parts of type '{}' are not supported (only text)",
                                      core::ValidUtf8(type->value.GetString())));
      }
      auto text = part.FindMember("text");
      if (text == part.MemberEnd() || !text->value.IsString()) return Bad(param, "a text part needs a string 'text'");
      out->append(text->value.GetString(), text->value.GetStringLength());
    }
  } else if (!content.IsNull()) {
    return Bad(param, "'content' must be a string or an array of text parts");
  }
  if (!core::IsValidUtf8(*out)) return Bad(param, "the content is not valid UTF-8");
  return Ok();
}

OpenAiError ParseMessages(const Value& root, std::vector<ChatMessage>* messages) {
  auto it = root.FindMember("messages");
  if (it == root.MemberEnd() || it->value.IsNull()) return Bad("messages", "'messages' is required");
  if (!it->value.IsArray()) return Bad("messages", "'messages' must be an array of messages");
  if (it->value.Empty()) return Bad("messages", "'messages' must hold at least one message");
  size_t index = 0;
  for (const Value& message : it->value.GetArray()) {
    const std::string param = fmt::format("messages[{}]", index);
    if (!message.IsObject()) return Bad(param, "each message must be an object");
    auto role = message.FindMember("role");
    if (role == message.MemberEnd() || !role->value.IsString()) return Bad(param + ".role", "a message needs a role");
    ChatMessage parsed;
    parsed.role.assign(role->value.GetString(), role->value.GetStringLength());
    if (parsed.role != "system" && parsed.role != "user" && parsed.role != "assistant" && parsed.role != "tool" &&
        parsed.role != "developer") {
      return Bad(param + ".role", fmt::format("role '{}' is not one of system, developer, user, assistant, tool",
                                              core::ValidUtf8(parsed.role.substr(0, 64))));
    }
    auto content = message.FindMember("content");
    if (content == message.MemberEnd() || (content->value.IsNull() && parsed.role != "assistant")) {
      return Bad(param + ".content", "a message needs its content");
    }
    OpenAiError error = ParseContent(content->value, index, &parsed.content);
    if (error.status) return error;
    messages->push_back(std::move(parsed));
    ++index;
  }
  return Ok();
}

// A prompt that is token ids: every element an integer id.
std::optional<std::vector<int32_t>> TokenIds(const Value& value) {
  if (!value.IsArray() || value.Empty()) return std::nullopt;
  std::vector<int32_t> ids;
  for (const Value& id : value.GetArray()) {
    if (!id.IsInt64()) return std::nullopt;
    const int64_t x = id.GetInt64();
    ids.push_back(x < 0 || x > std::numeric_limits<int32_t>::max() ? -1 : static_cast<int32_t>(x));
  }
  return ids;
}

// "prompt" (or embeddings' "input"): a string, an array of strings, token
// ids or arrays of token ids.
OpenAiError ParsePrompts(const Value& root, const char* field, size_t max_prompts,
                         std::vector<GenerationRequest>* prompts) {
  const std::string name(field);
  auto it = root.FindMember(field);
  if (it == root.MemberEnd() || it->value.IsNull()) return Bad(name, fmt::format("'{}' is required", name));
  const Value& prompt = it->value;
  auto add_text = [&](const Value& text) -> OpenAiError {
    GenerationRequest request;
    request.prompt.assign(text.GetString(), text.GetStringLength());
    if (!core::IsValidUtf8(request.prompt)) return Bad(name, fmt::format("the {} is not valid UTF-8", name));
    prompts->push_back(std::move(request));
    return Ok();
  };
  auto add_ids = [&](std::vector<int32_t> ids) {
    GenerationRequest request;
    request.prompt_tokens = std::move(ids);
    request.prompt_is_tokens = true;
    prompts->push_back(std::move(request));
  };
  if (prompt.IsString()) return add_text(prompt);
  if (!prompt.IsArray() || prompt.Empty()) {
    return Bad(name, fmt::format("'{}' must be a string, an array of strings, or token ids", name));
  }
  if (auto ids = TokenIds(prompt)) {
    add_ids(std::move(*ids));
    return Ok();
  }
  if (prompt.Size() > max_prompts) return Bad(name, fmt::format("at most {} {}s in one request", max_prompts, name));
  for (const Value& item : prompt.GetArray()) {
    if (item.IsString()) {
      OpenAiError error = add_text(item);
      if (error.status) return error;
    } else if (auto ids = TokenIds(item)) {
      add_ids(std::move(*ids));
    } else {
      return Bad(name, fmt::format("each {} must be a string or an array of token ids", name));
    }
  }
  return Ok();
}

OpenAiError ParseStop(const Value& root, const OpenAiLimits& limits, std::vector<std::string>* stops) {
  auto it = root.FindMember("stop");
  if (it == root.MemberEnd() || it->value.IsNull()) return Ok();
  auto add = [&](const Value& v) -> OpenAiError {
    if (!v.IsString()) return Bad("stop", "'stop' must be a string or an array of strings");
    std::string stop(v.GetString(), v.GetStringLength());
    if (stop.empty()) return Bad("stop", "a stop string may not be empty");
    if (stop.size() > limits.max_stop_bytes) {
      return Bad("stop", fmt::format("a stop string may be at most {} bytes", limits.max_stop_bytes));
    }
    if (!core::IsValidUtf8(stop)) return Bad("stop", "a stop string is not valid UTF-8");
    stops->push_back(std::move(stop));
    return Ok();
  };
  if (!it->value.IsArray()) return add(it->value);
  if (it->value.Size() > limits.max_stops) {
    return Bad("stop", fmt::format("at most {} stop strings", limits.max_stops));
  }
  for (const Value& v : it->value.GetArray()) {
    OpenAiError error = add(v);
    if (error.status) return error;
  }
  return Ok();
}

OpenAiError ParseLogitBias(const Value& root, std::map<int32_t, float>* bias) {
  auto it = root.FindMember("logit_bias");
  if (it == root.MemberEnd() || it->value.IsNull()) return Ok();
  if (!it->value.IsObject()) return Bad("logit_bias", "'logit_bias' must map token ids to numbers");
  for (const auto& member : it->value.GetObject()) {
    std::string_view key(member.name.GetString(), member.name.GetStringLength());
    int64_t id = -1;
    auto [end, ec] = std::from_chars(key.data(), key.data() + key.size(), id);
    if (key.empty() || ec != std::errc() || end != key.data() + key.size() || id < 0 ||
        id > std::numeric_limits<int32_t>::max()) {
      return Bad("logit_bias", fmt::format("'{}' is not a token id", core::ValidUtf8(key.substr(0, 32))));
    }
    if (!member.value.IsNumber() || !std::isfinite(member.value.GetDouble()) || member.value.GetDouble() < -100 ||
        member.value.GetDouble() > 100) {
      return Bad("logit_bias", fmt::format("the bias of token {} must be a number in [-100, 100]", id));
    }
    (*bias)[static_cast<int32_t>(id)] = static_cast<float>(member.value.GetDouble());
  }
  return Ok();
}

OpenAiError ParseResponseFormat(const Value& root, GenerationParameters* parameters) {
  auto it = root.FindMember("response_format");
  if (it == root.MemberEnd() || it->value.IsNull()) return Ok();
  const Value& format = it->value;
  if (!format.IsObject()) return Bad("response_format", "'response_format' must be an object");
  auto type = format.FindMember("type");
  if (type == format.MemberEnd() || !type->value.IsString()) {
    return Bad("response_format.type", "'response_format' needs a 'type'");
  }
  std::string_view name = type->value.GetString();
  if (name == "text") return Ok();
  if (name == "json_object") {
    parameters->response_format = ResponseFormat::kJsonObject;
    return Ok();
  }
  if (name != "json_schema") {
    return Bad("response_format.type", "'response_format.type' must be text, json_object or json_schema");
  }
  auto spec = format.FindMember("json_schema");
  if (spec == format.MemberEnd() || !spec->value.IsObject()) {
    return Bad("response_format.json_schema", "a json_schema response format needs 'json_schema': {name, schema}");
  }
  auto schema = spec->value.FindMember("schema");
  if (schema == spec->value.MemberEnd() || !(schema->value.IsObject() || schema->value.IsBool())) {
    return Bad("response_format.json_schema.schema", "'json_schema.schema' must be a JSON schema object");
  }
  std::string text;
  JsonStringSink sink(&text);
  JsonWriter writer(sink);
  schema->value.Accept(writer);
  parameters->response_format = ResponseFormat::kJsonSchema;
  parameters->json_schema = std::move(text);
  return Ok();
}

// The fields every generation request shares.
OpenAiError ParseParameters(const Value& root, bool chat, const OpenAiLimits& limits, ParsedGeneration* parsed,
                            GenerationParameters* p) {
  Fields f(root);
  f.String("model", &parsed->model);
  f.Bool("stream", &parsed->stream);
  int64_t n = 1;
  f.Integer("n", 1, limits.max_n, &n);
  parsed->n = static_cast<int>(n);
  int64_t max_tokens = -1;
  f.Integer("max_tokens", 1, std::numeric_limits<int32_t>::max(), &max_tokens);
  f.Integer("max_completion_tokens", 1, std::numeric_limits<int32_t>::max(), &max_tokens);
  p->max_tokens = max_tokens;
  f.Number("temperature", 0, 2, &p->temperature);
  f.Number("top_p", 0, 1, &p->top_p);
  if (!f.failed() && f.Get("top_p") && p->top_p == 0) f.Fail("top_p", "'top_p' must be in (0, 1]");
  int64_t top_k = 0;
  f.Integer("top_k", -1, 1 << 20, &top_k);
  p->top_k = top_k < 0 ? 0 : static_cast<int32_t>(top_k);
  f.Number("min_p", 0, 1, &p->min_p);
  f.Number("presence_penalty", -2, 2, &p->presence_penalty);
  f.Number("frequency_penalty", -2, 2, &p->frequency_penalty);
  f.Number("repetition_penalty", 0.01, 10, &p->repetition_penalty);
  f.Bool("ignore_eos", &p->ignore_eos);
  int64_t seed = -1;
  f.Integer("seed", std::numeric_limits<int64_t>::min(), std::numeric_limits<int64_t>::max(), &seed);
  if (f.Get("seed") && !f.failed()) p->seed = static_cast<uint64_t>(seed);
  std::string user;
  f.String("user", &user);
  if (chat) {
    bool logprobs = false;
    f.Bool("logprobs", &logprobs);
    int64_t top = 0;
    f.Integer("top_logprobs", 0, limits.max_logprobs, &top);
    if (!f.failed() && f.Get("top_logprobs") && !logprobs) {
      f.Fail("top_logprobs", "'top_logprobs' needs 'logprobs': true");
    }
    p->logprobs = logprobs ? static_cast<int32_t>(top) : -1;
  } else {
    int64_t logprobs = -1;
    f.Integer("logprobs", 0, limits.max_logprobs, &logprobs);
    p->logprobs = static_cast<int32_t>(logprobs);
  }
  if (const Value* options = f.Get("stream_options"); options && !f.failed()) {
    if (!options->IsObject()) {
      f.Fail("stream_options", "'stream_options' must be an object");
    } else if (!parsed->stream) {
      f.Fail("stream_options", "'stream_options' is only allowed with 'stream': true");
    } else {
      Fields(*options).Bool("include_usage", &parsed->include_usage);
    }
  }
  if (f.failed()) return f.error();
  if (OpenAiError e = ParseStop(root, limits, &p->stop); e.status) return e;
  if (OpenAiError e = ParseLogitBias(root, &p->logit_bias); e.status) return e;
  return ParseResponseFormat(root, p);
}

}  // namespace

OpenAiError ParseGenerationRequest(const std::string& body, bool chat, const OpenAiLimits& limits,
                                   ParsedGeneration* parsed) {
  rapidjson::Document document;
  if (OpenAiError e = ParseBody(body, limits, &document); e.status) return e;
  parsed->chat = chat;
  GenerationParameters parameters;
  if (OpenAiError e = ParseParameters(document, chat, limits, parsed, &parameters); e.status) return e;
  if (chat) {
    GenerationRequest request;
    request.chat = true;
    if (OpenAiError e = ParseMessages(document, &request.messages); e.status) return e;
    parsed->prompts.push_back(std::move(request));
  } else {
    if (OpenAiError e = ParsePrompts(document, "prompt", limits.max_prompts, &parsed->prompts); e.status) return e;
  }
  if (parsed->prompts.size() * static_cast<size_t>(parsed->n) > limits.max_prompts) {
    return Bad("n", fmt::format("at most {} choices in one request (prompts x n)", limits.max_prompts));
  }
  for (GenerationRequest& request : parsed->prompts) request.parameters = parameters;
  return Ok();
}

OpenAiError ParseEmbeddingRequest(const std::string& body, const OpenAiLimits& limits, ParsedEmbedding* parsed) {
  rapidjson::Document document;
  if (OpenAiError e = ParseBody(body, limits, &document); e.status) return e;
  Fields f(document);
  f.String("model", &parsed->model);
  std::string format = "float";
  f.String("encoding_format", &format);
  if (!f.failed() && format != "float" && format != "base64") {
    f.Fail("encoding_format", "'encoding_format' must be float or base64");
  }
  parsed->base64 = format == "base64";
  f.Integer("dimensions", 1, 1 << 20, &parsed->dimensions);
  std::string user;
  f.String("user", &user);
  if (f.failed()) return f.error();
  if (OpenAiError e = ParsePrompts(document, "input", limits.max_embedding_inputs, &parsed->inputs); e.status) {
    return e;
  }
  for (GenerationRequest& input : parsed->inputs) {
    input.embedding = true;
    if (!input.prompt_is_tokens && input.prompt.empty()) return Bad("input", "an input may not be empty");
  }
  return Ok();
}

OpenAiError ParseTokenizeRequest(const std::string& body, bool detokenize, const OpenAiLimits& limits,
                                 ParsedTokenize* parsed) {
  rapidjson::Document document;
  if (OpenAiError e = ParseBody(body, limits, &document); e.status) return e;
  Fields f(document);
  f.String("model", &parsed->model);
  if (detokenize) {
    const Value* tokens = f.Get("tokens");
    if (!tokens || !tokens->IsArray()) return Bad("tokens", "'tokens' must be an array of token ids");
    for (const Value& id : tokens->GetArray()) {
      if (!id.IsInt64() || id.GetInt64() < 0 || id.GetInt64() > std::numeric_limits<int32_t>::max()) {
        return Bad("tokens", "'tokens' must be an array of token ids");
      }
      parsed->tokens.push_back(static_cast<int32_t>(id.GetInt64()));
    }
    return f.error();
  }
  const char* field = f.Get("prompt") ? "prompt" : "content";
  if (!f.Get(field)) return Bad("prompt", "'prompt' (or 'content') is required");
  f.String(field, &parsed->text);
  f.Bool("add_special_tokens", &parsed->add_special);
  f.Bool("add_special", &parsed->add_special);
  f.Bool("parse_special", &parsed->parse_special);
  return f.error();
}

std::string OpenAiErrorJson(const OpenAiError& error) {
  std::string out;
  JsonStringSink sink(&out);
  JsonWriter w(sink);
  w.StartObject();
  w.Key("error");
  w.StartObject();
  w.Key("message");
  const std::string message = core::ValidUtf8(error.message);
  w.String(message.data(), static_cast<rapidjson::SizeType>(message.size()));
  w.Key("type");
  w.String(error.type.data(), static_cast<rapidjson::SizeType>(error.type.size()));
  w.Key("param");
  if (error.param.empty()) {
    w.Null();
  } else {
    w.String(error.param.data(), static_cast<rapidjson::SizeType>(error.param.size()));
  }
  w.Key("code");
  if (error.code.empty()) {
    w.Null();
  } else {
    w.String(error.code.data(), static_cast<rapidjson::SizeType>(error.code.size()));
  }
  w.EndObject();
  w.EndObject();
  return out;
}

OpenAiError OpenAiErrorFor(const core::Status& status, std::string param) {
  OpenAiError error;
  error.status = HttpStatusFor(status.code());
  error.message = status.message();
  error.param = std::move(param);
  switch (status.code()) {
    case core::StatusCode::kNotFound:
      error.code = "model_not_found";
      break;
    case core::StatusCode::kResourceExhausted:
      error.status = 429;
      error.type = "rate_limit_error";
      error.code = "rate_limit_exceeded";
      break;
    case core::StatusCode::kUnimplemented:
      error.type = "invalid_request_error";
      break;
    default:
      if (error.status >= 500) error.type = "server_error";
      break;
  }
  return error;
}

}  // namespace berth::server
