// TextGenerator: the seam between the serving core and a language-model
// backend, in native types (no JSON, no HTTP). A protocol (the OpenAI routes
// in server/openai/) turns its wire format into a GenerationRequest, hands
// it to Server::Generate, and writes the GenerationUpdates back as they
// come; the backend (server/backends/llm_backend.h) renders chat templates,
// tokenizes, schedules the sequence among the others and samples.
//
// Threads: Generate may be called from any thread. The callback is called
// from the backend's scheduling thread, in order, never concurrently for one
// request; it must not block (post the update to the connection and
// return). The last update has `finished` set; after it nothing more comes.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/status.h"

namespace berth::server {

struct ChatMessage {
  std::string role;  // system, user, assistant, tool, developer
  std::string content;
};

enum class ResponseFormat { kText, kJsonObject, kJsonSchema };

// The sampling and stopping settings of one request, already range-checked
// by the protocol (the backend checks what depends on the model: token ids
// against the vocabulary, the prompt against the context).
struct GenerationParameters {
  // Tokens to generate at most; -1: until the context is full.
  int64_t max_tokens = -1;
  float temperature = 1.0f;  // 0: greedy
  float top_p = 1.0f;
  int32_t top_k = 0;  // 0: off
  float min_p = 0.0f;
  float presence_penalty = 0.0f;
  float frequency_penalty = 0.0f;
  float repetition_penalty = 1.0f;
  std::map<int32_t, float> logit_bias;
  std::optional<uint64_t> seed;
  std::vector<std::string> stop;
  // -1: no log-probabilities; 0: the chosen token's; N: and the N most likely.
  int32_t logprobs = -1;
  bool ignore_eos = false;
  ResponseFormat response_format = ResponseFormat::kText;
  std::string json_schema;  // kJsonSchema: the schema, as JSON text
};

struct GenerationRequest {
  // A chat (messages through the model's chat template), or a completion
  // (prompt text, or prompt token ids when prompt_is_tokens).
  bool chat = false;
  std::vector<ChatMessage> messages;
  std::string prompt;
  std::vector<int32_t> prompt_tokens;
  bool prompt_is_tokens = false;
  GenerationParameters parameters;
  // An embedding instead: the prompt's hidden states pooled (the model's
  // pooling: mean, CLS or last) into one L2-normalised vector.
  bool embedding = false;
  // Set by the frontend when the client has gone: the sequence stops and
  // frees its slot at the next step.
  std::shared_ptr<std::atomic<bool>> cancelled;
  // A sequence still running then finishes with finish_reason "length" and
  // `timed_out` (a request still waiting fails with DeadlineExceeded).
  std::chrono::steady_clock::time_point deadline = std::chrono::steady_clock::time_point::max();
};

struct GeneratedToken {
  int32_t token = 0;
  std::string text;  // the token's own bytes (may be part of a UTF-8 character)
  float logprob = 0;
  std::vector<std::pair<std::string, float>> top;  // the most likely alternatives, best first
  std::vector<std::pair<int32_t, float>> top_ids;
};

struct GenerationUsage {
  int64_t prompt_tokens = 0;
  int64_t completion_tokens = 0;
  int64_t cached_prompt_tokens = 0;  // of prompt_tokens, reused from an earlier request's cache
};

enum class FinishReason { kNone, kStop, kLength };

struct GenerationUpdate {
  // New text since the last update: whole UTF-8 characters, stop strings
  // never included.
  std::string text;
  int64_t token_count = 0;             // tokens generated since the last update
  std::vector<GeneratedToken> tokens;  // those tokens, when log-probabilities were asked for
  bool finished = false;
  // On the last update: OK with a finish reason, or why it failed (before
  // any text: the request's error, e.g. InvalidArgument for a prompt longer
  // than the context, ResourceExhausted for a full queue).
  core::Status status;
  FinishReason finish_reason = FinishReason::kNone;
  bool timed_out = false;
  GenerationUsage usage;
  std::vector<float> embedding;  // an embedding request's vector, on the last update
  // Timings, on the last update: in the queue before a slot was free, and
  // from submission to the first token.
  double queue_seconds = 0;
  double first_token_seconds = 0;
};

using GenerationCallback = std::function<void(GenerationUpdate update)>;

struct GeneratorInfo {
  int64_t context_size = 0;  // tokens per sequence
  int64_t vocabulary_size = 0;
  int64_t embedding_size = 0;  // the length of an embedding vector
  int parallel = 1;            // sequences run at once
  bool has_chat_template = false;
  int64_t created = 0;  // Unix seconds the model was loaded (OpenAI's `created`)
};

struct GeneratorLoad {
  int running = 0;
  int waiting = 0;
  double kv_cache_usage = 0;  // of the cache's positions, in use
};

class TextGenerator {
 public:
  virtual ~TextGenerator() = default;

  // Queues the request; `callback` gets its updates. Errors known at once
  // (a prompt longer than the context, a full queue) come as a finished
  // update too, so there is one path for them.
  virtual void Generate(GenerationRequest request, GenerationCallback callback) = 0;

  // The ids TEXT becomes (special tokens in it parsed when asked), and back.
  virtual core::Result<std::vector<int32_t>> Tokenize(const std::string& text, bool add_special,
                                                      bool parse_special) const = 0;
  virtual core::Result<std::string> Detokenize(const std::vector<int32_t>& tokens) const = 0;

  virtual GeneratorInfo info() const = 0;
  virtual GeneratorLoad load() const = 0;
};

}  // namespace berth::server
