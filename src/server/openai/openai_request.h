// OpenAI request bodies (chat completions, completions, tokenize) parsed and
// checked into the serving core's GenerationRequest. Unknown fields are
// ignored, as OpenAI's and vLLM's servers do; a field of the wrong type or
// out of its range is an OpenAiError naming it (HTTP 400).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/status.h"
#include "server/text_generation.h"

namespace berth::server {

// OpenAI's error object: {"error": {"message", "type", "param", "code"}}.
struct OpenAiError {
  unsigned status = 400;
  std::string message;
  std::string type = "invalid_request_error";
  std::string param;  // empty: null
  std::string code;   // empty: null
};

struct OpenAiLimits {
  int max_json_depth = 32;
  size_t max_json_objects = 1 << 20;
  int max_n = 16;           // choices per prompt
  size_t max_prompts = 64;  // prompts in one completions request
  size_t max_stops = 16;    // stop strings
  size_t max_stop_bytes = 1024;
  int max_logprobs = 20;
  size_t max_embedding_inputs = 256;
};

struct ParsedGeneration {
  std::string model;  // empty: the request named none
  bool chat = false;
  bool stream = false;
  bool include_usage = false;
  int n = 1;
  // One request per prompt (chat: one); each runs `n` times.
  std::vector<GenerationRequest> prompts;
};

// `chat`: a /v1/chat/completions body, else /v1/completions.
// OpenAiError.status 0 means success.
OpenAiError ParseGenerationRequest(const std::string& body, bool chat, const OpenAiLimits& limits,
                                   ParsedGeneration* parsed);

struct ParsedEmbedding {
  std::string model;
  bool base64 = false;                    // encoding_format
  int64_t dimensions = 0;                 // 0: not given
  std::vector<GenerationRequest> inputs;  // embedding requests, in order
};

OpenAiError ParseEmbeddingRequest(const std::string& body, const OpenAiLimits& limits, ParsedEmbedding* parsed);

struct ParsedTokenize {
  std::string model;
  std::string text;  // /tokenize
  bool add_special = true;
  bool parse_special = true;
  std::vector<int32_t> tokens;  // /detokenize
};

OpenAiError ParseTokenizeRequest(const std::string& body, bool detokenize, const OpenAiLimits& limits,
                                 ParsedTokenize* parsed);

// The error object as JSON text.
std::string OpenAiErrorJson(const OpenAiError& error);
// A core::Status as OpenAI's error: its HTTP status, and a type and code
// that say what kind of failure it was.
OpenAiError OpenAiErrorFor(const core::Status& status, std::string param = {});

}  // namespace berth::server
