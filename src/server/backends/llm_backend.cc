#include "server/backends/llm_backend.h"

#include <chrono>
#include <cmath>
#include <ctime>
#include <fstream>
#include <mutex>
#include <sstream>
#include <utility>

#include "llm/grammar/grammar_constraint.h"
#include "llm/grammar/grammar_vocabulary.h"
#include "llm/grammar/json_grammar.h"
#include "llm/model/language_model.h"
#include "llm/serving/sequence_scheduler.h"
#include "llm/template/chat_template.h"
#include "llm/tokenizer/tokenizer.h"

namespace berth::server {
namespace {

// The text a chat becomes, through the model's chat template (or the
// --chat-template file). A template that cannot be parsed, or cannot render
// a plain user/assistant/user conversation, fails the load.
class ChatFormatter {
 public:
  static core::Result<ChatFormatter> Create(const llm::LanguageModel& model, const llm::Tokenizer& tokenizer,
                                            const std::string& override_file) {
    ChatFormatter formatter;
    std::string source;
    std::string origin = "the model's tokenizer.chat_template";
    if (!override_file.empty()) {
      std::ifstream in(override_file, std::ios::binary);
      if (!in) return core::InvalidArgument("cannot read the chat template '{}'", override_file);
      std::stringstream text;
      text << in.rdbuf();
      source = text.str();
      origin = "--chat-template " + override_file;
    } else if (model.file().Find("tokenizer.chat_template")) {
      ASSIGN_OR_RETURN(std::string_view text, model.file().GetString("tokenizer.chat_template"));
      source = std::string(text);
    }
    if (source.empty()) return formatter;
    auto parsed = llm::ChatTemplate::Parse(source);
    if (!parsed.ok()) {
      return parsed.status().WithContext(
          fmt::format("{} cannot be used (give another with --chat-template FILE)", origin));
    }
    formatter.template_ = std::make_shared<llm::ChatTemplate>(std::move(parsed).value());
    if (tokenizer.bos() >= 0) formatter.options_.bos_token = tokenizer.TokenPiece(tokenizer.bos(), true);
    if (tokenizer.eos() >= 0) formatter.options_.eos_token = tokenizer.TokenPiece(tokenizer.eos(), true);
    formatter.options_.add_generation_prompt = true;
    auto trial = formatter.Render({{"user", "Hello"}, {"assistant", "Hi."}, {"user", "How are you?"}});
    if (!trial.ok()) {
      return trial.status().WithContext(
          fmt::format("{} cannot render a conversation (give another with --chat-template FILE)", origin));
    }
    return formatter;
  }

  bool available() const { return template_ != nullptr; }

  core::Result<std::string> Render(const std::vector<ChatMessage>& messages) const {
    if (!template_) {
      return core::InvalidArgument(
          "this model has no chat template: use /v1/completions, or serve it with --chat-template FILE");
    }
    std::vector<llm::ChatMessage> chat;
    chat.reserve(messages.size());
    for (const ChatMessage& message : messages) chat.push_back(llm::ChatMessage{message.role, message.content});
    auto text = llm::RenderChat(*template_, chat, options_);
    // A template that refuses the conversation (roles out of order, a
    // system message it does not take) is the caller's to change.
    if (!text.ok() && text.status().code() != core::StatusCode::kResourceExhausted) {
      return core::InvalidArgument("the model's chat template refused these messages: {}", text.status().message());
    }
    return text;
  }

 private:
  std::shared_ptr<const llm::ChatTemplate> template_;
  llm::ChatTemplateOptions options_;
};

class LlmBackend : public Backend, public TextGenerator {
 public:
  static core::Result<std::unique_ptr<Backend>> Load(const std::filesystem::path& file,
                                                     const LlmServingOptions& options) {
    llm::ModelOptions model_options;
    model_options.mlock = options.mlock;
    ASSIGN_OR_RETURN(std::shared_ptr<const llm::LanguageModel> model,
                     llm::LanguageModel::Open(file.string(), model_options));
    ASSIGN_OR_RETURN(std::unique_ptr<llm::Tokenizer> tokenizer, llm::Tokenizer::Create(model->vocabulary()));
    std::unique_ptr<LlmBackend> backend(new LlmBackend());
    ASSIGN_OR_RETURN(backend->chat_, ChatFormatter::Create(*model, *tokenizer, options.chat_template_file));
    backend->tokenizer_ = std::move(tokenizer);
    llm::SchedulerOptions scheduler_options;
    scheduler_options.parallel = options.parallel;
    scheduler_options.context_size = options.context_size;
    scheduler_options.threads = options.threads;
    scheduler_options.batch_size = options.batch_size;
    scheduler_options.max_waiting = options.max_waiting;
    if (options.kv_type != "f16" && options.kv_type != "f32") {
      return core::InvalidArgument("KV cache type '{}' is not f16 or f32", options.kv_type);
    }
    scheduler_options.kv_type = options.kv_type == "f32" ? llm::KvCacheType::kF32 : llm::KvCacheType::kF16;
    scheduler_options.kv_cache_memory = options.kv_cache_memory;
    ASSIGN_OR_RETURN(backend->scheduler_,
                     llm::SequenceScheduler::Create(model, backend->tokenizer_, scheduler_options));
    backend->pooling_ = PoolingOf(*model);
    backend->model_ = std::move(model);
    backend->created_ = static_cast<int64_t>(std::time(nullptr));
    backend->signature_.inputs.push_back(TextTensor("text_input"));
    backend->signature_.outputs.push_back(TextTensor("text_output"));
    return std::unique_ptr<Backend>(std::move(backend));
  }

  // Backend.
  const DeclaredSignature& signature() const override { return signature_; }

  void Run(std::span<const BackendRequest> batch, std::span<BackendResponse> responses) const override {
    for (size_t i = 0; i < batch.size(); ++i) {
      responses[i].fault = Fault::kCaller;
      responses[i].status = core::Unimplemented(
          "this is a language model: use POST /v1/completions or /v1/chat/completions (OpenAI's API)");
    }
  }

  size_t MemoryBytes() const override {
    return static_cast<size_t>(model_->weights().bytes + scheduler_->kv_cache_bytes());
  }

  TextGenerator* text_generator() const override { return const_cast<LlmBackend*>(this); }

  // TextGenerator.
  void Generate(GenerationRequest request, GenerationCallback callback) override {
    auto refuse = [&callback](core::Status status) {
      GenerationUpdate update;
      update.finished = true;
      update.status = std::move(status);
      callback(std::move(update));
    };
    llm::SequenceRequest sequence;
    if (request.chat) {
      auto text = chat_.Render(request.messages);
      if (!text.ok()) return refuse(text.status());
      // The template writes BOS itself when the model wants one.
      const bool has_bos = tokenizer_->bos() >= 0 && text->starts_with(tokenizer_->Piece(tokenizer_->bos(), true));
      sequence.prompt = tokenizer_->Encode(*text, /*add_special=*/!has_bos, /*parse_special=*/true);
    } else if (request.prompt_is_tokens) {
      sequence.prompt = std::move(request.prompt_tokens);
    } else {
      sequence.prompt = tokenizer_->Encode(request.prompt, /*add_special=*/true, /*parse_special=*/true);
    }
    const GenerationParameters& p = request.parameters;
    llm::SamplingParams& sampling = sequence.sampling;
    sampling.temperature = p.temperature;
    sampling.top_p = p.top_p;
    sampling.top_k = p.top_k;
    sampling.min_p = p.min_p;
    sampling.repeat_penalty = p.repetition_penalty;
    sampling.presence_penalty = p.presence_penalty;
    sampling.frequency_penalty = p.frequency_penalty;
    sampling.logit_bias = p.logit_bias;
    sampling.seed = p.seed;
    sampling.top_logprobs = std::max(0, p.logprobs);
    sampling.logprobs = p.logprobs >= 0;
    sequence.logprobs = p.logprobs >= 0;
    sequence.max_tokens = p.max_tokens;
    sequence.stop = p.stop;
    sequence.ignore_eos = p.ignore_eos;
    if (p.response_format != ResponseFormat::kText) {
      core::Result<std::shared_ptr<const llm::JsonGrammar>> grammar = p.response_format == ResponseFormat::kJsonObject
                                                                          ? llm::JsonGrammar::AnyObject()
                                                                          : llm::JsonGrammar::Compile(p.json_schema);
      if (!grammar.ok()) return refuse(grammar.status().WithContext("response_format"));
      sequence.constraint = std::make_unique<llm::GrammarConstraint>(*grammar, GrammarVocabulary());
    }
    if (request.embedding) sequence.embedding = pooling_;
    sequence.cancelled = request.cancelled;
    sequence.deadline = request.deadline;
    scheduler_->Submit(std::move(sequence), [this, callback = std::move(callback)](llm::SequenceUpdate update) {
      callback(Convert(std::move(update)));
    });
  }

  core::Result<std::vector<int32_t>> Tokenize(const std::string& text, bool add_special,
                                              bool parse_special) const override {
    return tokenizer_->Encode(text, add_special, parse_special);
  }

  core::Result<std::string> Detokenize(const std::vector<int32_t>& tokens) const override {
    for (int32_t id : tokens) {
      if (id < 0 || id >= tokenizer_->size()) {
        return core::InvalidArgument("token {} is outside the vocabulary [0, {})", id, tokenizer_->size());
      }
    }
    return tokenizer_->Decode(tokens);
  }

  GeneratorInfo info() const override {
    GeneratorInfo info;
    info.context_size = scheduler_->context_size();
    info.vocabulary_size = tokenizer_->size();
    info.embedding_size = model_->config().n_embd;
    info.parallel = scheduler_->parallel();
    info.has_chat_template = chat_.available();
    info.created = created_;
    return info;
  }

  GeneratorLoad load() const override {
    const llm::SchedulerLoad load = scheduler_->load();
    return GeneratorLoad{load.running, load.waiting, load.kv_cache_usage};
  }

 private:
  LlmBackend() = default;

  static DeclaredTensor TextTensor(std::string name) {
    DeclaredTensor tensor;
    tensor.name = std::move(name);
    tensor.dtype = core::DataType::kString;
    tensor.rank_known = true;
    tensor.shape = core::TensorShape({1});
    tensor.description = "string[1]";
    return tensor;
  }

  // The vocabulary's tries for structured output: built on first use.
  std::shared_ptr<const llm::GrammarVocabulary> GrammarVocabulary() {
    std::call_once(grammar_once_, [this] { grammar_vocabulary_ = llm::GrammarVocabulary::Create(*tokenizer_); });
    return grammar_vocabulary_;
  }

  // The model's pooling for embeddings: {arch}.pooling_type (llama.cpp's
  // numbers: 1 mean, 2 CLS, 3 last), else mean.
  static llm::Pooling PoolingOf(const llm::LanguageModel& model) {
    auto arch = model.file().GetString("general.architecture");
    const llm::GgufValue* value = arch.ok() ? model.file().Find(std::string(*arch) + ".pooling_type") : nullptr;
    const std::optional<int64_t> type = value ? value->AsInt() : std::nullopt;
    if (type) {
      switch (*type) {
        case 2:
          return llm::Pooling::kCls;
        case 3:
          return llm::Pooling::kLast;
        default:
          break;
      }
    }
    return llm::Pooling::kMean;
  }

  GenerationUpdate Convert(llm::SequenceUpdate update) const {
    GenerationUpdate out;
    out.text = std::move(update.text);
    out.token_count = update.token_count;
    for (const llm::SampledToken& token : update.tokens) {
      GeneratedToken generated;
      generated.token = token.token;
      generated.text = tokenizer_->TokenPiece(token.token, true);
      generated.logprob = token.logprob;
      for (const llm::TokenLogprob& alternative : token.top) {
        generated.top.emplace_back(tokenizer_->TokenPiece(alternative.token, true), alternative.logprob);
        generated.top_ids.emplace_back(alternative.token, alternative.logprob);
      }
      out.tokens.push_back(std::move(generated));
    }
    out.finished = update.finished;
    out.status = std::move(update.status);
    out.finish_reason = update.finish == llm::SequenceFinish::kStop     ? FinishReason::kStop
                        : update.finish == llm::SequenceFinish::kLength ? FinishReason::kLength
                                                                        : FinishReason::kNone;
    out.timed_out = update.timed_out;
    out.usage.prompt_tokens = update.prompt_tokens;
    out.usage.completion_tokens = update.completion_tokens;
    out.usage.cached_prompt_tokens = update.cached_tokens;
    out.embedding = std::move(update.embedding);
    out.queue_seconds = update.queue_seconds;
    out.first_token_seconds = update.first_token_seconds;
    return out;
  }

  std::shared_ptr<const llm::LanguageModel> model_;
  std::shared_ptr<const llm::Tokenizer> tokenizer_;
  ChatFormatter chat_;
  llm::Pooling pooling_ = llm::Pooling::kMean;
  std::once_flag grammar_once_;
  std::shared_ptr<const llm::GrammarVocabulary> grammar_vocabulary_;
  std::unique_ptr<llm::SequenceScheduler> scheduler_;  // last: its thread stops first
  int64_t created_ = 0;
  DeclaredSignature signature_;
};

}  // namespace

BackendFactory LlmBackendFactory(LlmServingOptions options) {
  BackendFactory factory;
  factory.name = "GGUF language model";
  factory.backend = "llm";
  factory.platform = "gguf";
  factory.names = {"llm", "gguf", "llama.cpp", "llamacpp"};
  factory.default_model_filename = "model.gguf";
  factory.load = [options](const std::filesystem::path& model_file, const config::ModelConfig&,
                           const BackendLoadOptions&) -> core::Result<std::unique_ptr<Backend>> {
    return LlmBackend::Load(model_file, options);
  };
  return factory;
}

}  // namespace berth::server
