#include "cli/serve_options.h"

#include <map>

namespace berth::cli {
namespace {

void AddLanguageModelOptions(CLI::App& cmd, server::LlmServingOptions* o) {
  const std::string group = "Language models (GGUF)";
  cmd.add_option("--parallel", o->parallel, "sequences each language model generates at once")
      ->envname("BERTH_PARALLEL")
      ->check(CLI::Range(1, 256))
      ->group(group)
      ->capture_default_str();
  cmd.add_option("--ctx-size,-c", o->context_size, "context tokens per sequence (default: the model's, at most 4096)")
      ->envname("BERTH_CTX_SIZE")
      ->check(CLI::Range(int64_t{0}, int64_t{1} << 20))
      ->group(group);
  cmd.add_option("--kv-cache-memory", o->kv_cache_memory,
                 "all sequences' KV caches together at most (e.g. 2GiB); a model needing more fails to load")
      ->envname("BERTH_KV_CACHE_MEMORY")
      ->transform(CLI::AsSizeValue(false))
      ->group(group);
  cmd.add_option("--kv-type", o->kv_type, "KV cache type: f16 or f32")
      ->envname("BERTH_KV_TYPE")
      ->check(CLI::IsMember({"f16", "f32"}))
      ->group(group)
      ->capture_default_str();
  cmd.add_option("--llm-threads", o->threads, "threads per language model (default: all cores)")
      ->envname("BERTH_LLM_THREADS")
      ->check(CLI::Range(0, 1024))
      ->group(group);
  cmd.add_option("--batch-size,-b", o->batch_size, "prompt tokens read per step")
      ->envname("BERTH_BATCH_SIZE")
      ->check(CLI::Range(1, 8192))
      ->group(group)
      ->capture_default_str();
  cmd.add_option("--max-waiting", o->max_waiting, "requests waiting for a sequence slot; more: 429")
      ->envname("BERTH_MAX_WAITING")
      ->check(CLI::Range(0, 1 << 20))
      ->group(group)
      ->capture_default_str();
  cmd.add_option("--chat-template", o->chat_template_file,
                 "a Jinja chat template file, instead of the model's tokenizer.chat_template")
      ->envname("BERTH_CHAT_TEMPLATE")
      ->group(group);
  cmd.add_flag("--mlock", o->mlock, "lock language models' weights in memory")->envname("BERTH_MLOCK")->group(group);
}

void AddTritonOptions(CLI::App& cmd, server::ServerOptions* o) {
  // Triton's names for what berth has (its own names are above).
  cmd.add_option_function<int>(
         "--log-verbose", [o](int level) { o->log_level = level > 0 ? core::LogLevel::kDebug : o->log_level; },
         "Triton's: a level above 0 logs at debug")
      ->group("Triton compatibility");
  cmd.add_option("--strict-readiness", o->strict_readiness,
                 "ready only when every model to serve is (Triton's default); false: ready once started")
      ->envname("BERTH_STRICT_READINESS")
      ->group("Triton compatibility")
      ->capture_default_str();
  // Triton's flags for what berth does not do: an error naming the flag,
  // never silently ignored.
  static const std::map<std::string, std::string> kUnsupported = {
      {"--grpc-port", "gRPC is not served yet"},
      {"--allow-grpc", "gRPC is not served yet"},
      {"--grpc-address", "gRPC is not served yet"},
      {"--metrics-port", "metrics are served on the HTTP port (GET /metrics)"},
      {"--allow-metrics", "metrics are always on (GET /metrics)"},
      {"--allow-gpu-metrics", "berth runs on CPUs"},
      {"--allow-http", "HTTP is berth's protocol"},
      {"--backend-config", "berth has one ONNX engine; use config.pbtxt parameters"},
      {"--backend-directory", "berth's backends are built in"},
      {"--repoagent-directory", "repository agents are not supported"},
      {"--model-load-thread-count", "models load one at a time"},
      {"--pinned-memory-pool-byte-size", "berth runs on CPUs"},
      {"--cuda-memory-pool-byte-size", "berth runs on CPUs"},
      {"--min-supported-compute-capability", "berth runs on CPUs"},
      {"--response-cache-byte-size", "the response cache is not there yet"},
      {"--cache-config", "the response cache is not there yet"},
      {"--rate-limit", "rate limiting is not supported; see --max-queue-size"},
      {"--strict-model-config", "berth always completes config.pbtxt from the model"},
      {"--disable-auto-complete-config", "berth always completes config.pbtxt from the model"},
      {"--model-namespacing", "model namespacing is not supported"},
      {"--trace-config", "tracing is not supported"},
      {"--trace-file", "tracing is not supported"},
      {"--log-file", "berth logs to stdout (one line per event; see --log-format)"},
      {"--log-info", "use --log-level"},
      {"--log-warning", "use --log-level"},
      {"--log-error", "use --log-level"},
      {"--exit-on-error", "berth serves the models that load and reports the others"},
      {"--id", "the server name is berth"},
  };
  for (const auto& [flag, why] : kUnsupported) {
    cmd.add_option_function<std::string>(flag,
                                         [flag = flag, why = why](const std::string&) {
                                           throw CLI::ValidationError(flag,
                                                                      "a Triton flag berth does not support: " + why);
                                         })
        ->expected(0, 1)
        ->group("");  // hidden from --help
  }
}

}  // namespace

void AddServeOptions(CLI::App& cmd, server::ServerOptions* o) {
  cmd.add_option("model", o->model_file, "serve this one ONNX file (model named after the file, version 1)")
      ->envname("BERTH_MODEL");
  cmd.add_option("--model-repository", o->model_repository, "model repository directory (Triton layout)")
      ->envname("BERTH_MODEL_REPOSITORY");
  cmd.add_option("--model-control,--model-control-mode", o->model_control, "none | poll | explicit")
      ->envname("BERTH_MODEL_CONTROL")
      ->transform(CLI::CheckedTransformer(std::map<std::string, server::ModelControlMode>{
                                              {"none", server::ModelControlMode::kNone},
                                              {"poll", server::ModelControlMode::kPoll},
                                              {"explicit", server::ModelControlMode::kExplicit}})
                      .description(""))
      ->type_name("MODE")
      ->default_str("none");
  cmd.add_option("--repository-poll-secs", o->repository_poll_secs, "poll mode: seconds between repository scans")
      ->envname("BERTH_REPOSITORY_POLL_SECS")
      ->capture_default_str();
  cmd.add_option("--load-model", o->load_models, "explicit mode: load this model at startup (repeatable)")
      ->envname("BERTH_LOAD_MODEL")
      ->delimiter(',');
  cmd.add_option("--model-url", o->model_url,
                 "download models into --model-repository before serving (http(s):// or s3://; see berth pull)")
      ->envname("BERTH_MODEL_URL");
  cmd.add_option("--host,--http-address", o->host, "address to listen on")
      ->envname("BERTH_HOST")
      ->capture_default_str();
  cmd.add_option("--port,--http-port", o->port, "port to listen on (0 = any free port)")
      ->envname("BERTH_PORT")
      ->capture_default_str();
  cmd.add_option("--http-threads,--http-thread-count", o->http_threads,
                 "HTTP I/O threads (0 = one per core, at most 8)")
      ->envname("BERTH_HTTP_THREADS")
      ->capture_default_str();
  cmd.add_option("--max-connections", o->max_connections, "open connections at most; more are answered 503")
      ->envname("BERTH_MAX_CONNECTIONS")
      ->capture_default_str();
  cmd.add_option("--max-request-bytes", o->max_request_bytes, "request body limit (e.g. 64MiB); larger: 413")
      ->envname("BERTH_MAX_REQUEST_BYTES")
      ->transform(CLI::AsSizeValue(false))
      ->capture_default_str();
  cmd.add_option("--max-header-bytes", o->max_header_bytes, "request line + headers limit; larger: 431")
      ->envname("BERTH_MAX_HEADER_BYTES")
      ->transform(CLI::AsSizeValue(false))
      ->capture_default_str();
  cmd.add_option("--max-uri-bytes", o->max_uri_bytes, "request target limit; longer: 414")
      ->envname("BERTH_MAX_URI_BYTES")
      ->capture_default_str();
  cmd.add_option("--max-json-depth", o->max_json_depth, "nesting limit of request JSON")
      ->envname("BERTH_MAX_JSON_DEPTH")
      ->capture_default_str();
  cmd.add_option("--max-queue-size", o->max_queue_size, "queued requests per model version; more: 503")
      ->envname("BERTH_MAX_QUEUE_SIZE")
      ->capture_default_str();
  cmd.add_option("--request-timeout-secs", o->request_timeout_secs, "time to receive a request or send a response")
      ->envname("BERTH_REQUEST_TIMEOUT_SECS")
      ->capture_default_str();
  cmd.add_option("--idle-timeout-secs", o->idle_timeout_secs, "close keep-alive connections idle this long")
      ->envname("BERTH_IDLE_TIMEOUT_SECS")
      ->capture_default_str();
  cmd.add_option("--exit-timeout-secs", o->exit_timeout_secs,
                 "on SIGTERM/SIGINT, wait this long for in-flight requests")
      ->envname("BERTH_EXIT_TIMEOUT_SECS")
      ->capture_default_str();
  cmd.add_option("--intra-op-threads", o->intra_op_threads, "threads per model instance (0 = cores / instances)")
      ->envname("BERTH_INTRA_OP_THREADS")
      ->capture_default_str();
  cmd.add_option("--compute-timeout-secs", o->compute_timeout_secs,
                 "the longest one request may compute, checked between nodes and loop iterations (0 = no limit)")
      ->envname("BERTH_COMPUTE_TIMEOUT_SECS")
      ->capture_default_str();
  cmd.add_option("--max-instance-threads", o->max_instance_threads,
                 "model instance threads of all versions together; a version beyond it fails to load")
      ->envname("BERTH_MAX_INSTANCE_THREADS")
      ->capture_default_str();
  cmd.add_option("--memory-budget", o->memory_budget,
                 "memory for requests in flight and loaded models together (e.g. 6GiB); beyond it: 503 "
                 "(default: 3/4 of the cgroup's or the machine's memory)")
      ->envname("BERTH_MEMORY_BUDGET")
      ->transform(CLI::AsSizeValue(false));
  cmd.add_option("--max-request-memory", o->max_request_memory,
                 "memory one request may hold: body, inputs, activations, outputs; beyond it: 507 "
                 "(default: half of --memory-budget)")
      ->envname("BERTH_MAX_REQUEST_MEMORY")
      ->transform(CLI::AsSizeValue(false));
  cmd.add_option("--api-key", o->api_keys, "require 'Authorization: Bearer KEY' (all routes but health)")
      ->envname("BERTH_API_KEY");
  cmd.add_option("--api-key-file", o->api_key_file, "file holding the API key(s), one per line")
      ->envname("BERTH_API_KEY_FILE");
  cmd.add_option("--log-format", o->log_format, "text | json (Triton's default and ISO8601: text)")
      ->envname("BERTH_LOG_FORMAT")
      ->transform(CLI::CheckedTransformer(std::map<std::string, core::LogFormat>{{"text", core::LogFormat::kText},
                                                                                 {"json", core::LogFormat::kJson},
                                                                                 {"default", core::LogFormat::kText},
                                                                                 {"ISO8601", core::LogFormat::kText}})
                      .description(""))
      ->type_name("FORMAT")
      ->default_str("text");
  cmd.add_option("--log-level", o->log_level, "debug | info | warning | error")
      ->envname("BERTH_LOG_LEVEL")
      ->transform(CLI::CheckedTransformer(std::map<std::string, core::LogLevel>{{"debug", core::LogLevel::kDebug},
                                                                                {"info", core::LogLevel::kInfo},
                                                                                {"warning", core::LogLevel::kWarning},
                                                                                {"error", core::LogLevel::kError}})
                      .description(""))
      ->type_name("LEVEL")
      ->default_str("info");
  AddLanguageModelOptions(cmd, &o->llm);
  AddTritonOptions(cmd, o);
}

}  // namespace berth::cli
