// The language-model backend: a GGUF file served by berth's LLM engine
// (llm::SequenceScheduler) behind the serving core's Backend interface, with
// a TextGenerator for the OpenAI routes. Chosen for a version folder holding
// model.gguf, or by config.pbtxt's backend "llm" / "gguf" / "llama.cpp".
//
// It renders chat messages with the model's own chat template (or the one
// --chat-template names), tokenizes, and hands token ids to the scheduler;
// the KServe v2 infer route is refused (501) with a pointer to /v1/.
#pragma once

#include "server/backend.h"
#include "server/server_options.h"

namespace berth::server {

BackendFactory LlmBackendFactory(LlmServingOptions options);

}  // namespace berth::server
