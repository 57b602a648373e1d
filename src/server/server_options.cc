#include "server/server_options.h"

#include <map>
#include <sstream>
#include <thread>

#include "core/memory_budget.h"
#include "core/regular_file.h"

namespace berth::server {
namespace {

std::string Trim(std::string_view text) {
  size_t begin = text.find_first_not_of(" \t\r\n");
  if (begin == std::string_view::npos) return "";
  size_t end = text.find_last_not_of(" \t\r\n");
  return std::string(text.substr(begin, end - begin + 1));
}

}  // namespace

core::Result<core::LogFormat> ParseLogFormat(std::string_view text) {
  if (text == "text") return core::LogFormat::kText;
  if (text == "json") return core::LogFormat::kJson;
  return core::InvalidArgument("log format '{}' is not 'text' or 'json'", text);
}

core::Result<core::LogLevel> ParseLogLevel(std::string_view text) {
  if (text == "debug") return core::LogLevel::kDebug;
  if (text == "info") return core::LogLevel::kInfo;
  if (text == "warning" || text == "warn") return core::LogLevel::kWarning;
  if (text == "error") return core::LogLevel::kError;
  return core::InvalidArgument("log level '{}' is not debug, info, warning or error", text);
}

core::Status ServerOptions::Finalize() {
  if (model_repository.empty() && model_file.empty()) {
    return core::InvalidArgument(
        "nothing to serve: give --model-repository DIR (or BERTH_MODEL_REPOSITORY) or MODEL.onnx");
  }
  if (!model_repository.empty() && !model_file.empty()) {
    return core::InvalidArgument("give either --model-repository or a model file, not both");
  }
  if (!model_url.empty() && model_repository.empty()) {
    return core::InvalidArgument("--model-url needs --model-repository DIR (a writable directory to download into)");
  }
  if (port < 0 || port > 65535) return core::InvalidArgument("--port {} is not in [0, 65535]", port);
  if (http_threads < 0 || http_threads > 256)
    return core::InvalidArgument("--http-threads {} is not in [0, 256]", http_threads);
  if (http_threads == 0) {
    http_threads = static_cast<int>(std::clamp(std::thread::hardware_concurrency(), 1u, 8u));
  }
  if (max_connections < 1) return core::InvalidArgument("--max-connections must be at least 1");
  if (max_request_bytes < 1) return core::InvalidArgument("--max-request-bytes must be at least 1");
  if (max_header_bytes < 1024 || max_header_bytes > (64u << 20)) {
    return core::InvalidArgument("--max-header-bytes {} is not in [1KiB, 64MiB]", max_header_bytes);
  }
  if (max_uri_bytes < 64) return core::InvalidArgument("--max-uri-bytes must be at least 64");
  if (max_json_depth < 4 || max_json_depth > 1000) {
    return core::InvalidArgument("--max-json-depth {} is not in [4, 1000]", max_json_depth);
  }
  if (max_queue_size < 1) return core::InvalidArgument("--max-queue-size must be at least 1");
  if (!(request_timeout_secs > 0)) return core::InvalidArgument("--request-timeout-secs must be positive");
  if (!(idle_timeout_secs > 0)) return core::InvalidArgument("--idle-timeout-secs must be positive");
  if (!(exit_timeout_secs >= 0)) return core::InvalidArgument("--exit-timeout-secs must not be negative");
  if (!(compute_timeout_secs >= 0) || compute_timeout_secs > 1e7) {
    return core::InvalidArgument("--compute-timeout-secs must be in [0, 1e7]");
  }
  if (model_control == ModelControlMode::kPoll && !(repository_poll_secs > 0)) {
    return core::InvalidArgument("--repository-poll-secs must be positive");
  }
  if (!load_models.empty() && model_control != ModelControlMode::kExplicit) {
    return core::InvalidArgument("--load-model needs --model-control explicit");
  }
  if (intra_op_threads < 0) return core::InvalidArgument("--intra-op-threads must not be negative");
  if (max_instance_threads < 1 || max_instance_threads > 100000) {
    return core::InvalidArgument("--max-instance-threads {} is not in [1, 100000]", max_instance_threads);
  }
  if (memory_budget == 0) memory_budget = core::AvailableMemoryLimit() / 4 * 3;
  if (max_request_memory == 0) max_request_memory = memory_budget / 2;
  constexpr uint64_t kMinMemory = uint64_t{1} << 20;
  if (memory_budget != 0 && memory_budget < kMinMemory)
    return core::InvalidArgument("--memory-budget must be at least 1MiB");
  if (max_request_memory != 0 && max_request_memory < kMinMemory)
    return core::InvalidArgument("--max-request-memory must be at least 1MiB");
  if (memory_budget != 0 && max_request_memory > memory_budget) {
    return core::InvalidArgument("--max-request-memory ({}) is larger than --memory-budget ({})",
                                 core::FormatBytes(max_request_memory), core::FormatBytes(memory_budget));
  }

  std::vector<std::string> keys;
  for (const auto& key : api_keys) {
    std::string trimmed = Trim(key);
    if (!trimmed.empty()) keys.push_back(trimmed);
  }
  if (!api_key_file.empty()) {
    auto text = core::ReadRegularFile(api_key_file, "--api-key-file", 1 << 20);
    if (!text.ok()) return text.status();
    std::istringstream file(*text);
    std::string line;
    size_t before = keys.size();
    while (std::getline(file, line)) {
      std::string trimmed = Trim(line);
      if (!trimmed.empty() && trimmed[0] != '#') keys.push_back(trimmed);
    }
    if (keys.size() == before) return core::InvalidArgument("--api-key-file '{}' holds no key", api_key_file);
  }
  api_keys = std::move(keys);
  return core::Status::Ok();
}

ModelRepositoryOptions ServerOptions::RepositoryOptions() const {
  ModelRepositoryOptions repository;
  repository.root = model_repository;
  repository.model_file = model_file;
  repository.mode = model_control;
  repository.poll_interval = std::chrono::milliseconds(static_cast<int64_t>(repository_poll_secs * 1000));
  repository.startup_models = load_models;
  repository.version_options.intra_op_threads = intra_op_threads;
  repository.version_options.queue_capacity = max_queue_size;
  repository.version_options.compute_timeout = std::chrono::duration_cast<std::chrono::steady_clock::duration>(
      std::chrono::duration<double>(compute_timeout_secs));
  return repository;
}

}  // namespace berth::server
