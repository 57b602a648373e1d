#include "server/openai/openai_routes.h"

#include <atomic>
#include <mutex>
#include <random>

#include "core/utf8.h"
#include "server/json/json_util.h"
#include "server/model_version.h"
#include "server/openai/openai_response.h"

namespace berth::server {
namespace {

HttpResponse ErrorReply(const OpenAiError& error) {
  HttpResponse response = JsonResponse(error.status, OpenAiErrorJson(error));
  if (error.status == 429 || error.status == 503) response.headers.emplace_back("Retry-After", "1");
  return response;
}

std::string RandomId(std::string_view prefix) {
  thread_local std::mt19937_64 random{std::random_device{}()};
  return fmt::format("{}{:016x}{:08x}", prefix, random(), static_cast<uint32_t>(random()));
}

// One chat or completions request: its choices (prompts x n) run as
// sequences; their updates arrive on the scheduling thread and are written
// to the client (stream) or gathered into one body.
class GenerationCall : public std::enable_shared_from_this<GenerationCall> {
 public:
  GenerationCall(ResponseHead head, size_t choices, int n, bool stream, bool include_usage, HttpExchange& exchange)
      : head_(std::move(head)),
        choices_(choices),
        n_(n),
        stream_(stream),
        include_usage_(include_usage),
        remaining_(choices),
        respond_(exchange.respond),
        start_stream_(exchange.stream),
        cancelled_(exchange.cancelled) {
    for (size_t i = 0; i < choices; ++i) choices_[i].index = static_cast<int>(i);
  }

  GenerationCallback CallbackFor(size_t index) {
    return [self = shared_from_this(), index](GenerationUpdate update) { self->OnUpdate(index, std::move(update)); };
  }

  // Every choice is submitted: answer the errors found at once, or start
  // the stream.
  void Begin() {
    std::lock_guard lock(mutex_);
    begun_ = true;
    if (failed_) return Fail();
    if (!stream_) return MaybeRespond();
    HttpResponse head;
    head.content_type = "text/event-stream";
    head.headers.emplace_back("Cache-Control", "no-cache");
    head.headers.emplace_back("X-Accel-Buffering", "no");  // nginx: pass each event on at once
    head.model = head_.model;
    out_ = start_stream_(std::move(head));
    if (head_.chat) {
      for (const Choice& choice : choices_) {
        out_->Write(
            ChunkEvent(head_, ChoiceText{choice.index, "", nullptr, FinishReason::kNone, 0}, true, include_usage_));
      }
    }
    for (std::string& event : buffered_) out_->Write(std::move(event));
    buffered_.clear();
    if (remaining_ == 0) EndStream();
  }

 private:
  struct Choice {
    int index = 0;
    std::string text;
    std::vector<GeneratedToken> tokens;
    size_t text_bytes = 0;  // text streamed so far (completions' text_offset)
    FinishReason finish = FinishReason::kNone;
    GenerationUsage usage;
    bool done = false;
  };

  void OnUpdate(size_t index, GenerationUpdate update) {
    std::lock_guard lock(mutex_);
    Choice& choice = choices_[index];
    if (update.finished && !update.status.ok()) {
      if (!failed_) failed_ = OpenAiErrorFor(update.status);
      choice.done = true;
      --remaining_;
      if (begun_) Fail();
      return;
    }
    if (stream_) {
      if (!update.text.empty() || !update.tokens.empty() || update.finished) {
        const bool logprobs = !update.tokens.empty();
        Send(ChunkEvent(head_,
                        ChoiceText{choice.index, update.text, logprobs ? &update.tokens : nullptr,
                                   update.finished ? update.finish_reason : FinishReason::kNone, choice.text_bytes},
                        false, include_usage_));
        for (const GeneratedToken& token : update.tokens) choice.text_bytes += token.text.size();
      }
    } else {
      choice.text += update.text;
      for (GeneratedToken& token : update.tokens) choice.tokens.push_back(std::move(token));
    }
    if (!update.finished) return;
    choice.done = true;
    choice.finish = update.finish_reason;
    choice.usage = update.usage;
    --remaining_;
    if (!begun_ || failed_) return;
    if (stream_) {
      if (remaining_ == 0) EndStream();
    } else {
      MaybeRespond();
    }
  }

  void Send(std::string event) {
    if (out_) {
      out_->Write(std::move(event));
    } else {
      buffered_.push_back(std::move(event));
    }
  }

  // Prompt tokens count once per prompt, whatever n is.
  GenerationUsage Usage() const {
    GenerationUsage usage;
    for (size_t i = 0; i < choices_.size(); ++i) {
      const GenerationUsage& u = choices_[i].usage;
      if (i % static_cast<size_t>(n_) == 0) {
        usage.prompt_tokens += u.prompt_tokens;
        usage.cached_prompt_tokens += u.cached_prompt_tokens;
      }
      usage.completion_tokens += u.completion_tokens;
    }
    return usage;
  }

  void EndStream() {
    if (ended_) return;
    ended_ = true;
    if (include_usage_) out_->Write(UsageEvent(head_, Usage()));
    out_->Write(std::string(kDoneEvent));
    out_->End();
  }

  void MaybeRespond() {
    if (remaining_ > 0 || responded_) return;
    responded_ = true;
    std::vector<ChoiceText> texts;
    for (const Choice& choice : choices_) {
      const bool logprobs = head_.logprobs;
      texts.push_back(ChoiceText{choice.index, choice.text, logprobs ? &choice.tokens : nullptr, choice.finish, 0});
    }
    HttpResponse response = JsonResponse(200, CompletionBody(head_, texts, Usage()));
    response.model = head_.model;
    respond_(std::move(response));
  }

  // A choice failed: the others stop; the client gets the error (a body, or
  // an error event when the stream has begun).
  void Fail() {
    cancelled_->store(true, std::memory_order_relaxed);
    if (out_) {
      if (!ended_) {
        ended_ = true;
        out_->Write(ErrorEvent(OpenAiErrorJson(*failed_)));
        out_->Write(std::string(kDoneEvent));
        out_->End();
      }
      return;
    }
    if (responded_) return;
    responded_ = true;
    HttpResponse response = ErrorReply(*failed_);
    response.model = head_.model;
    respond_(std::move(response));
  }

  std::mutex mutex_;
  ResponseHead head_;
  std::vector<Choice> choices_;
  const int n_;
  const bool stream_;
  const bool include_usage_;
  size_t remaining_;
  HttpRespond respond_;
  HttpStartStream start_stream_;
  std::shared_ptr<std::atomic<bool>> cancelled_;
  std::shared_ptr<HttpStream> out_;
  std::vector<std::string> buffered_;
  std::optional<OpenAiError> failed_;
  bool begun_ = false;
  bool ended_ = false;
  bool responded_ = false;
};

// One embeddings request: its inputs run as sequences that read their
// prompt and pool it; the body goes out when the last one is done.
class EmbeddingCall : public std::enable_shared_from_this<EmbeddingCall> {
 public:
  EmbeddingCall(std::string model, size_t inputs, bool base64, HttpExchange& exchange)
      : model_(std::move(model)),
        vectors_(inputs),
        remaining_(inputs),
        base64_(base64),
        respond_(exchange.respond),
        cancelled_(exchange.cancelled) {}

  GenerationCallback CallbackFor(size_t index) {
    return [self = shared_from_this(), index](GenerationUpdate update) { self->OnUpdate(index, std::move(update)); };
  }

 private:
  void OnUpdate(size_t index, GenerationUpdate update) {
    if (!update.finished) return;
    std::lock_guard lock(mutex_);
    --remaining_;
    if (!update.status.ok()) {
      if (!failed_) {
        failed_ = OpenAiErrorFor(update.status, "input");
        cancelled_->store(true, std::memory_order_relaxed);  // the other inputs stop
        HttpResponse response = ErrorReply(*failed_);
        response.model = model_;
        respond_(std::move(response));
      }
      return;
    }
    vectors_[index] = std::move(update.embedding);
    prompt_tokens_ += update.usage.prompt_tokens;
    if (remaining_ > 0 || failed_) return;
    HttpResponse response = JsonResponse(200, EmbeddingBody(model_, vectors_, base64_, prompt_tokens_));
    response.model = model_;
    respond_(std::move(response));
  }

  std::mutex mutex_;
  std::string model_;
  std::vector<std::vector<float>> vectors_;
  size_t remaining_;
  const bool base64_;
  int64_t prompt_tokens_ = 0;
  HttpRespond respond_;
  std::shared_ptr<std::atomic<bool>> cancelled_;
  std::optional<OpenAiError> failed_;
};

core::Status CheckModelName(std::string_view name) {
  if (IsValidModelName(name)) return core::Status::Ok();
  return core::InvalidArgument("'{}' is not a valid model name", name);
}

}  // namespace

void OpenAiRoutes::Register(RouteTable& table) {
  using boost::beast::http::verb;
  table.DefineParameter("model_id", CheckModelName);
  table.Add(Route{verb::get, "/v1/models", "", [this](HttpExchange& e) { ListModels(e); }});
  table.Add(Route{verb::get, "/v1/models/{model_id}", "", [this](HttpExchange& e) { GetModel(e); }});
  table.Add(Route{verb::post, "/v1/chat/completions", "", [this](HttpExchange& e) { Generate(e, true); }});
  table.Add(Route{verb::post, "/v1/completions", "", [this](HttpExchange& e) { Generate(e, false); }});
  table.Add(Route{verb::post, "/v1/embeddings", "", [this](HttpExchange& e) { Embed(e); }});
  table.Add(Route{verb::post, "/tokenize", "", [this](HttpExchange& e) { Tokenize(e, false); }});
  table.Add(Route{verb::post, "/detokenize", "", [this](HttpExchange& e) { Tokenize(e, true); }});
}

std::chrono::steady_clock::time_point OpenAiRoutes::RequestDeadline() const {
  const double timeout = server_.options().compute_timeout_secs;
  if (timeout <= 0) return std::chrono::steady_clock::time_point::max();
  return std::chrono::steady_clock::now() +
         std::chrono::duration_cast<std::chrono::steady_clock::duration>(std::chrono::duration<double>(timeout));
}

core::Result<Server::GeneratorHandle> OpenAiRoutes::Resolve(const std::string& model) const {
  if (!model.empty()) {
    auto handle = server_.AcquireGenerator(model);
    // OpenAI's API knows only the language models: a tensor model is not one of them.
    if (!handle.ok() && (handle.status().code() == core::StatusCode::kNotFound ||
                         handle.status().code() == core::StatusCode::kInvalidArgument)) {
      return core::NotFound("the model '{}' does not exist (or is not a language model)", model);
    }
    return handle;
  }
  std::vector<Server::GeneratorHandle> models = server_.LanguageModels();
  if (models.size() == 1) return std::move(models.front());
  if (models.empty()) return core::Unavailable("no language model is ready yet");
  return core::InvalidArgument("'model' is required: this server has {} language models", models.size());
}

namespace {

ModelCard CardOf(const Server::GeneratorHandle& handle) {
  const GeneratorInfo info = handle.generator->info();
  return ModelCard{handle.version->name(), info.created, info.context_size};
}

}  // namespace

void OpenAiRoutes::ListModels(HttpExchange& exchange) const {
  std::vector<ModelCard> cards;
  for (const auto& handle : server_.LanguageModels()) cards.push_back(CardOf(handle));
  exchange.respond(JsonResponse(200, ModelListBody(cards)));
}

void OpenAiRoutes::GetModel(HttpExchange& exchange) const {
  const std::string name(exchange.match.Parameter("model_id"));
  auto handle = Resolve(name);
  if (!handle.ok()) return exchange.respond(ErrorReply(OpenAiErrorFor(handle.status(), "model")));
  exchange.respond(JsonResponse(200, ModelBody(CardOf(*handle))));
}

void OpenAiRoutes::Generate(HttpExchange& exchange, bool chat) {
  ParsedGeneration parsed;
  OpenAiError error = ParseGenerationRequest(exchange.request.body(), chat, limits_, &parsed);
  if (error.status) return exchange.respond(ErrorReply(error));
  auto handle = Resolve(parsed.model);
  if (!handle.ok()) return exchange.respond(ErrorReply(OpenAiErrorFor(handle.status(), "model")));

  ResponseHead head;
  head.chat = chat;
  head.id = RandomId(chat ? "chatcmpl-" : "cmpl-");
  head.model = handle->version->name();
  head.created = static_cast<int64_t>(std::time(nullptr));
  head.fingerprint = "berth-" + server_.options().server_version;
  head.logprobs = !parsed.prompts.empty() && parsed.prompts.front().parameters.logprobs >= 0;
  const size_t choices = parsed.prompts.size() * static_cast<size_t>(parsed.n);
  auto call = std::make_shared<GenerationCall>(std::move(head), choices, parsed.n, parsed.stream, parsed.include_usage,
                                               exchange);
  const auto deadline = RequestDeadline();
  size_t index = 0;
  for (GenerationRequest& prompt : parsed.prompts) {
    for (int i = 0; i < parsed.n; ++i, ++index) {
      GenerationRequest request = i + 1 == parsed.n ? std::move(prompt) : prompt;
      // Each choice of a seeded request draws its own reproducible stream.
      if (request.parameters.seed) *request.parameters.seed += static_cast<uint64_t>(i);
      request.cancelled = exchange.cancelled;
      request.deadline = deadline;
      server_.Generate(*handle, std::move(request), call->CallbackFor(index));
    }
  }
  call->Begin();
}

void OpenAiRoutes::Embed(HttpExchange& exchange) {
  ParsedEmbedding parsed;
  OpenAiError error = ParseEmbeddingRequest(exchange.request.body(), limits_, &parsed);
  if (error.status) return exchange.respond(ErrorReply(error));
  auto handle = Resolve(parsed.model);
  if (!handle.ok()) return exchange.respond(ErrorReply(OpenAiErrorFor(handle.status(), "model")));
  const int64_t size = handle->generator->info().embedding_size;
  if (parsed.dimensions != 0 && parsed.dimensions != size) {
    OpenAiError wrong;
    wrong.param = "dimensions";
    wrong.message =
        fmt::format("this model's embeddings have {} dimensions; it cannot give {}", size, parsed.dimensions);
    return exchange.respond(ErrorReply(wrong));
  }
  auto call = std::make_shared<EmbeddingCall>(handle->version->name(), parsed.inputs.size(), parsed.base64, exchange);
  const auto deadline = RequestDeadline();
  for (size_t i = 0; i < parsed.inputs.size(); ++i) {
    GenerationRequest& request = parsed.inputs[i];
    request.cancelled = exchange.cancelled;
    request.deadline = deadline;
    server_.Generate(*handle, std::move(request), call->CallbackFor(i));
  }
}

void OpenAiRoutes::Tokenize(HttpExchange& exchange, bool detokenize) const {
  ParsedTokenize parsed;
  OpenAiError error = ParseTokenizeRequest(exchange.request.body(), detokenize, limits_, &parsed);
  if (error.status) return exchange.respond(ErrorReply(error));
  auto handle = Resolve(parsed.model);
  if (!handle.ok()) return exchange.respond(ErrorReply(OpenAiErrorFor(handle.status(), "model")));
  std::string out;
  JsonStringSink sink(&out);
  JsonWriter w(sink);
  w.StartObject();
  if (detokenize) {
    auto text = handle->generator->Detokenize(parsed.tokens);
    if (!text.ok()) return exchange.respond(ErrorReply(OpenAiErrorFor(text.status(), "tokens")));
    const std::string valid = core::ValidUtf8(*text);
    w.Key("prompt");
    w.String(valid.data(), static_cast<rapidjson::SizeType>(valid.size()));
  } else {
    auto tokens = handle->generator->Tokenize(parsed.text, parsed.add_special, parsed.parse_special);
    if (!tokens.ok()) return exchange.respond(ErrorReply(OpenAiErrorFor(tokens.status(), "prompt")));
    w.Key("count");
    w.Uint64(tokens->size());
    w.Key("max_model_len");
    w.Int64(handle->generator->info().context_size);
    w.Key("tokens");
    w.StartArray();
    for (int32_t id : *tokens) w.Int(id);
    w.EndArray();
  }
  w.EndObject();
  exchange.respond(JsonResponse(200, std::move(out)));
}

}  // namespace berth::server
