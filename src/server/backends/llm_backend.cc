#include "server/backends/llm_backend.h"

#include <chrono>
#include <cmath>
#include <ctime>
#include <fstream>
#include <sstream>
#include <utility>

#include "llm/model/language_model.h"
#include "llm/serving/sequence_scheduler.h"
#include "llm/tokenizer/tokenizer.h"

namespace berth::server {
namespace {

// The text a chat becomes, through the model's chat template.
class ChatFormatter {
 public:
  static core::Result<ChatFormatter> Create(const llm::LanguageModel& model, const std::string& override_file) {
    ChatFormatter formatter;
    if (!override_file.empty()) {
      std::ifstream in(override_file, std::ios::binary);
      if (!in) return core::InvalidArgument("cannot read the chat template '{}'", override_file);
      std::stringstream text;
      text << in.rdbuf();
      formatter.source_ = text.str();
    } else if (model.file().Find("tokenizer.chat_template")) {
      ASSIGN_OR_RETURN(std::string_view source, model.file().GetString("tokenizer.chat_template"));
      formatter.source_ = std::string(source);
    }
    return formatter;
  }

  bool available() const { return !source_.empty(); }

  core::Result<std::string> Render(const std::vector<ChatMessage>& messages) const {
    (void)messages;
    if (source_.empty()) {
      return core::InvalidArgument(
          "this model has no chat template: use /v1/completions, or serve it with "
          "--chat-template FILE");
    }
    return core::Unimplemented("chat templates are not rendered yet");
  }

 private:
  std::string source_;
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
    ASSIGN_OR_RETURN(backend->chat_, ChatFormatter::Create(*model, options.chat_template_file));
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
    sequence.logprobs = p.logprobs >= 0;
    sequence.max_tokens = p.max_tokens;
    sequence.stop = p.stop;
    sequence.ignore_eos = p.ignore_eos;
    if (p.response_format != ResponseFormat::kText) {
      return refuse(core::Unimplemented("response_format json_object / json_schema is not supported yet"));
    }
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
    out.queue_seconds = update.queue_seconds;
    out.first_token_seconds = update.first_token_seconds;
    return out;
  }

  std::shared_ptr<const llm::LanguageModel> model_;
  std::shared_ptr<const llm::Tokenizer> tokenizer_;
  ChatFormatter chat_;
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
