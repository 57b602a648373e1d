// ServerOptions: every setting of `berth serve`. The flags and BERTH_*
// environment variables that set them are cli/serve_options.cc's (flags win
// over the environment); the table in docs/SERVING.md mirrors it.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/logging.h"
#include "core/status.h"
#include "server/model_repository.h"

namespace berth::server {

// Language models (GGUF): how each one is served.
struct LlmServingOptions {
  int parallel = 1;                // sequences generated at once (slots)
  int64_t context_size = 0;        // tokens per sequence; 0: the model's, at most 4096
  int threads = 0;                 // 0: all hardware threads
  int64_t batch_size = 256;        // prompt tokens per step
  size_t max_waiting = 64;         // requests queued beyond the slots; more: 429
  std::string kv_type = "f16";     // f16 | f32
  uint64_t kv_cache_memory = 0;    // all slots' KV caches together at most; 0: no limit
  std::string chat_template_file;  // overrides the model's tokenizer.chat_template
  bool mlock = false;
};

struct ServerOptions {
  // What to serve: a repository directory, or one model file (shorthand).
  std::string model_repository;
  std::string model_file;
  ModelControlMode model_control = ModelControlMode::kNone;
  double repository_poll_secs = 15;
  std::vector<std::string> load_models;  // explicit mode: loaded at startup
  // Downloaded into model_repository before serving (berth pull's code:
  // http(s) or s3://, digests from BERTH_MODEL_SHA256 / BERTH_MODEL_MANIFEST).
  std::string model_url;

  // Network.
  std::string host = "127.0.0.1";
  int port = 8080;       // 0 = any free port (logged)
  int http_threads = 0;  // 0 = one per hardware thread, at most 8
  size_t max_connections = 4096;

  // Limits.
  uint64_t max_request_bytes = uint64_t{64} << 20;  // body
  uint32_t max_header_bytes = 16 * 1024;            // request line and headers
  uint32_t max_uri_bytes = 8 * 1024;
  int max_json_depth = 32;
  size_t max_queue_size = 128;       // per model version, unless config.pbtxt sets one
  double request_timeout_secs = 30;  // to receive a whole request / send a response
  double idle_timeout_secs = 60;     // keep-alive connection with no request
  double exit_timeout_secs = 30;     // SIGTERM: wait this long for in-flight requests
  bool strict_readiness = true;      // ready only when every model to serve is (false: once started)

  // Execution.
  int intra_op_threads = 0;           // per model instance; 0 = hardware threads / instances
  int max_instance_threads = 1024;    // all versions' instance threads together
  double compute_timeout_secs = 300;  // one request's compute, between nodes and loop iterations; 0: none
  // Memory for requests (bodies, parsed inputs, activations, outputs) and
  // loaded models, all together; 0: 3/4 of the memory limit (the cgroup's,
  // else the machine's), set by Finalize. Beyond it: 503.
  uint64_t memory_budget = 0;
  // Memory one request may hold; 0: half the budget (set by Finalize). Beyond it: 507.
  uint64_t max_request_memory = 0;

  LlmServingOptions llm;

  // Auth: any of these keys, as "Authorization: Bearer <key>".
  std::vector<std::string> api_keys;
  std::string api_key_file;

  // Logging.
  core::LogFormat log_format = core::LogFormat::kText;
  core::LogLevel log_level = core::LogLevel::kInfo;

  // Reported by /v2 and berth_build_info; set by the CLI.
  std::string server_version = "0.0.0";
  std::string build_revision = "unknown";

  // Checks ranges and combinations; reads api_key_file into api_keys; sizes
  // the memory limits left at 0.
  core::Status Finalize();
  ModelRepositoryOptions RepositoryOptions() const;
};

// Parses "text|json" and "debug|info|warning|error".
core::Result<core::LogFormat> ParseLogFormat(std::string_view text);
core::Result<core::LogLevel> ParseLogLevel(std::string_view text);

}  // namespace berth::server
