// OpenAI response bodies and Server-Sent Events chunks, as OpenAI's API
// writes them (field order and nulls included, so that clients that compare
// bytes or parse strictly both work).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "server/text_generation.h"

namespace berth::server {

// What every body of one request repeats.
struct ResponseHead {
  std::string id;  // chatcmpl-... / cmpl-...
  std::string model;
  int64_t created = 0;
  bool chat = false;
  std::string fingerprint;  // system_fingerprint
  bool logprobs = false;    // the request asked for log-probabilities
};

// One choice as it stands (the whole of it, or what a chunk carries).
struct ChoiceText {
  int index = 0;
  std::string_view text;
  const std::vector<GeneratedToken>* tokens = nullptr;  // non-null: write logprobs
  FinishReason finish = FinishReason::kNone;
  size_t text_offset = 0;  // completions' logprobs.text_offset of the first token
};

std::string_view FinishReasonName(FinishReason reason);

// A non-streamed chat.completion or text_completion.
std::string CompletionBody(const ResponseHead& head, const std::vector<ChoiceText>& choices,
                           const GenerationUsage& usage);

// One "data: {...}\n\n" event of a stream. `role`: the first chunk of a
// chat choice (delta {"role":"assistant","content":""}). `with_usage`: the
// request asked for usage, so this chunk carries "usage": null.
std::string ChunkEvent(const ResponseHead& head, const ChoiceText& choice, bool role, bool with_usage);
// The closing usage chunk ("choices": []).
std::string UsageEvent(const ResponseHead& head, const GenerationUsage& usage);
// An error inside a stream, and the end of one.
std::string ErrorEvent(std::string_view error_json);
inline constexpr std::string_view kDoneEvent = "data: [DONE]\n\n";

// POST /v1/embeddings: {"object":"list","data":[{"object":"embedding",
// "index","embedding"}],"model","usage"}; base64: each vector's float32
// bytes (little-endian), base64-encoded.
std::string EmbeddingBody(const std::string& model, const std::vector<std::vector<float>>& vectors, bool base64,
                          int64_t prompt_tokens);

// GET /v1/models and /v1/models/{model}.
struct ModelCard {
  std::string id;
  int64_t created = 0;
  int64_t context_size = 0;
};
std::string ModelListBody(const std::vector<ModelCard>& models);
std::string ModelBody(const ModelCard& model);

}  // namespace berth::server
