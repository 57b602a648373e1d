// berth generate MODEL.gguf --prompt TEXT: reads the prompt into a
// language model and streams what it generates to stdout (or, with
// --tokens, the generated token ids, one per line). With --json or
// --json-schema FILE the output is held to a JSON object or to the schema
// (llm/grammar/), steered to close within the token budget.
#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "cli/command.h"
#include "core/npy_file.h"
#include "llm/grammar/grammar_matcher.h"
#include "llm/grammar/grammar_vocabulary.h"
#include "llm/grammar/json_grammar.h"
#include "llm/model/language_model.h"
#include "llm/model/model_context.h"
#include "llm/sampling/sampler.h"
#include "llm/sampling/stop_strings.h"
#include "llm/tokenizer/stream_decoder.h"
#include "llm/tokenizer/tokenizer.h"

namespace berth::cli {
namespace {

struct GenerateArguments {
  std::string model;
  std::string prompt;
  std::string prompt_ids;  // "1,2,3": token ids instead of text
  int64_t max_tokens = 128;
  llm::SamplingParams sampling;
  int64_t seed = -1;
  int threads = 0;
  int64_t context_size = 0;
  int64_t batch_size = 512;
  std::string kv_type = "f16";
  std::vector<std::string> stops;
  bool tokens = false;
  bool ignore_eos = false;
  bool mlock = false;
  std::string logits_out;
  bool all_logits = false;
  bool json = false;
  std::string json_schema;  // a file
};

// The grammar of --json / --json-schema, or null for free text.
core::Result<std::shared_ptr<const llm::JsonGrammar>> ReadGrammar(const GenerateArguments& args) {
  if (!args.json_schema.empty()) {
    std::ifstream file(args.json_schema, std::ios::binary);
    if (!file) return core::NotFound("--json-schema: cannot read '{}'", args.json_schema);
    std::stringstream text;
    text << file.rdbuf();
    auto grammar = llm::JsonGrammar::Compile(text.str());
    if (!grammar.ok()) return grammar.status().WithContext(fmt::format("--json-schema {}", args.json_schema));
    return *grammar;
  }
  if (args.json) return llm::JsonGrammar::AnyObject();
  return std::shared_ptr<const llm::JsonGrammar>();
}

// "1, 2,3" -> ids, each checked against the vocabulary.
core::Result<std::vector<int32_t>> ParseTokenIds(const std::string& text, int64_t n_vocab) {
  std::vector<int32_t> ids;
  size_t at = 0;
  while (at < text.size()) {
    size_t end = text.find(',', at);
    if (end == std::string::npos) end = text.size();
    std::string item = text.substr(at, end - at);
    item.erase(0, item.find_first_not_of(' '));
    item.erase(item.find_last_not_of(' ') + 1);
    char* stop = nullptr;
    errno = 0;
    long long id = std::strtoll(item.c_str(), &stop, 10);
    if (item.empty() || *stop != '\0' || errno != 0 || id < 0 || id >= n_vocab) {
      return core::InvalidArgument("--prompt-ids: '{}' is not a token id in [0, {})", item, n_vocab);
    }
    ids.push_back(static_cast<int32_t>(id));
    at = end + 1;
  }
  return ids;
}

core::Status Generate(GenerateArguments args) {
  if (args.max_tokens < 0) return core::InvalidArgument("--max-tokens {} is negative", args.max_tokens);
  llm::ModelOptions model_options;
  model_options.mlock = args.mlock;
  ASSIGN_OR_RETURN(std::shared_ptr<const llm::LanguageModel> model,
                   llm::LanguageModel::Open(args.model, model_options));
  ASSIGN_OR_RETURN(std::unique_ptr<llm::Tokenizer> tokenizer, llm::Tokenizer::Create(model->vocabulary()));
  if (args.seed >= 0) args.sampling.seed = static_cast<uint64_t>(args.seed);
  RETURN_IF_ERROR(args.sampling.Validate(model->config().n_vocab));

  std::vector<int32_t> prompt;
  if (!args.prompt_ids.empty()) {
    ASSIGN_OR_RETURN(prompt, ParseTokenIds(args.prompt_ids, model->config().n_vocab));
  } else {
    prompt = tokenizer->Encode(args.prompt, /*add_special=*/true, /*parse_special=*/false);
  }
  if (prompt.empty()) return core::InvalidArgument("the prompt is empty and the model adds no BOS token");
  llm::ContextOptions context_options;
  context_options.context_size = args.context_size;
  context_options.batch_size = args.batch_size;
  context_options.threads = args.threads;
  context_options.kv_type = args.kv_type == "f32" ? llm::KvCacheType::kF32 : llm::KvCacheType::kF16;
  ASSIGN_OR_RETURN(std::unique_ptr<llm::ModelContext> context, llm::ModelContext::Create(model, context_options));
  if (static_cast<int64_t>(prompt.size()) > context->context_size()) {
    return core::InvalidArgument("the prompt is {} tokens, longer than the context of {} (--ctx-size)", prompt.size(),
                                 context->context_size());
  }

  std::vector<float> logits;
  if (args.all_logits) {
    // Every position's logits (teacher forcing), then the last row's for sampling.
    RETURN_IF_ERROR(context->Evaluate(prompt, llm::LogitsWanted::kAll, &logits));
    const int64_t vocab = model->config().n_vocab;
    if (!args.logits_out.empty()) {
      core::Tensor tensor = core::Tensor::FromVector<float>(logits, {static_cast<int64_t>(prompt.size()), vocab});
      RETURN_IF_ERROR(core::WriteNpyFile(args.logits_out, tensor));
    }
    logits.erase(logits.begin(), logits.end() - vocab);
  } else {
    RETURN_IF_ERROR(context->Evaluate(prompt, llm::LogitsWanted::kLast, &logits));
    if (!args.logits_out.empty()) {
      core::Tensor tensor = core::Tensor::FromVector<float>(logits, {static_cast<int64_t>(logits.size())});
      RETURN_IF_ERROR(core::WriteNpyFile(args.logits_out, tensor));
    }
  }

  ASSIGN_OR_RETURN(std::shared_ptr<const llm::JsonGrammar> grammar, ReadGrammar(args));
  std::unique_ptr<llm::GrammarMatcher> matcher;
  std::vector<uint64_t> allowed;
  if (grammar) {
    matcher = std::make_unique<llm::GrammarMatcher>(grammar, llm::GrammarVocabulary::Create(*tokenizer));
    // The loop below samples one token more than the context then holds.
    matcher->SetTokenBudget(std::min<int64_t>(args.max_tokens, context->context_size() - context->position() + 1));
  }
  llm::Sampler sampler(args.sampling);
  llm::StopStrings stops(args.stops);
  llm::StreamDecoder decoder(*tokenizer);
  std::vector<int32_t> history = prompt;
  for (int64_t i = 0; i < args.max_tokens; ++i) {
    if (matcher) RETURN_IF_ERROR(matcher->FillMask(&allowed));
    llm::SampledToken next = sampler.Sample(logits, history, allowed);
    if (matcher) {
      RETURN_IF_ERROR(matcher->Accept(next.token));
      if (matcher->finished()) break;
    }
    if (!args.ignore_eos && tokenizer->IsEndOfGeneration(next.token)) break;
    history.push_back(next.token);
    if (args.tokens) {
      std::printf("%d\n", next.token);
    } else {
      std::string text = stops.Push(decoder.Push(next.token));
      std::fwrite(text.data(), 1, text.size(), stdout);
      if (stops.stopped()) break;
    }
    std::fflush(stdout);
    if (i + 1 == args.max_tokens || context->position() == context->context_size()) break;
    RETURN_IF_ERROR(context->Evaluate(std::span<const int32_t>(&next.token, 1), llm::LogitsWanted::kLast, &logits));
  }
  if (!args.tokens) {
    std::string rest = stops.Push(decoder.Flush());
    rest += stops.Flush();
    std::fwrite(rest.data(), 1, rest.size(), stdout);
    std::fputc('\n', stdout);
  }
  if (matcher && !matcher->finished() && !matcher->IsComplete()) {
    std::fprintf(stderr, "warning: the JSON document is incomplete: the token budget ran out\n");
  }
  return core::Status::Ok();
}

}  // namespace

void AddGenerateCommand(CLI::App& app, int* exit_code) {
  auto args = std::make_shared<GenerateArguments>();
  CLI::App* cmd = app.add_subcommand("generate", "Generate text from a GGUF language model");
  cmd->add_option("model", args->model, "GGUF model file")->required();
  auto* prompt = cmd->add_option("--prompt,-p", args->prompt, "the prompt text");
  auto* ids = cmd->add_option("--prompt-ids", args->prompt_ids, "the prompt as token ids, comma-separated");
  prompt->excludes(ids);
  ids->excludes(prompt);
  cmd->add_option("--max-tokens,-n", args->max_tokens, "tokens to generate at most (default 128)");
  cmd->add_option("--temperature", args->sampling.temperature, "0: greedy (default 0.8)");
  cmd->add_option("--top-k", args->sampling.top_k, "keep the k most likely tokens; 0: off (default 40)");
  cmd->add_option("--top-p", args->sampling.top_p, "nucleus sampling; 1: off (default 0.95)");
  cmd->add_option("--min-p", args->sampling.min_p, "drop tokens below min-p x the best; 0: off (default 0.05)");
  cmd->add_option("--repeat-penalty", args->sampling.repeat_penalty, "1: off (default 1)");
  cmd->add_option("--presence-penalty", args->sampling.presence_penalty, "(default 0)");
  cmd->add_option("--frequency-penalty", args->sampling.frequency_penalty, "(default 0)");
  cmd->add_option("--seed", args->seed, "random seed, for reproducible sampling (default: random)");
  cmd->add_option("--threads,-t", args->threads, "threads (default: all cores)");
  cmd->add_option("--ctx-size,-c", args->context_size, "context size in tokens (default: the model's, at most 4096)");
  cmd->add_option("--batch-size,-b", args->batch_size, "prompt tokens per forward step (default 512)")
      ->check(CLI::Range(1, 8192));
  cmd->add_option("--kv-type", args->kv_type, "KV cache type: f16 (default) or f32")
      ->check(CLI::IsMember({"f16", "f32"}));
  cmd->add_option("--stop", args->stops, "stop before this text (repeatable)");
  cmd->add_flag("--tokens", args->tokens, "print the generated token ids, one per line, instead of text");
  cmd->add_flag("--ignore-eos", args->ignore_eos, "keep generating past the end-of-text token");
  cmd->add_flag("--mlock", args->mlock, "lock the weights in memory");
  cmd->add_option("--logits-out", args->logits_out, "write the logits after the prompt to FILE.npy");
  cmd->add_flag("--all-logits", args->all_logits,
                "with --logits-out: the logits after every prompt token, [prompt tokens, vocabulary]");
  auto* json = cmd->add_flag("--json", args->json, "generate a JSON object (response_format json_object)");
  auto* schema =
      cmd->add_option("--json-schema", args->json_schema, "generate JSON valid under the JSON Schema in FILE");
  json->excludes(schema);
  cmd->callback([args, exit_code, prompt, ids] {
    if (prompt->count() == 0 && ids->count() == 0) {
      *exit_code = ReportError(core::InvalidArgument("give the prompt: --prompt TEXT or --prompt-ids IDS"));
      return;
    }
    core::Status status = Generate(*args);
    *exit_code = status.ok() ? 0 : ReportError(status);
  });
}

}  // namespace berth::cli
