// berth serve [MODEL.onnx | MODEL.gguf | --model-repository DIR] [options]
//
// Runs the HTTP server (KServe v2, and OpenAI's API for language models) until SIGTERM/SIGINT, then drains: readiness
// turns 503, the port closes, in-flight requests finish (for up to
// --exit-timeout-secs) and the process exits 0. A second signal exits at once.
#include <pthread.h>
#include <signal.h>

#include <chrono>
#include <cstdlib>
#include <functional>
#include <future>

#include "cli/command.h"
#include "cli/serve_options.h"
#include "core/logging.h"
#include "fetch/model_fetcher.h"
#include "server/backends/llm_backend.h"
#include "server/backends/onnx_backend.h"
#include "server/http/http_server.h"
#include "server/http/metrics_route.h"
#include "server/kserve/kserve_routes.h"
#include "server/openai/openai_routes.h"
#include "server/server.h"

namespace berth::cli {
namespace {

using Clock = std::chrono::steady_clock;

// Waits until `finished(step)` says so (it waits until `step` at most) or
// `deadline` passes; a second SIGTERM/SIGINT meanwhile exits at once, in
// every phase of the shutdown.
bool WaitUnlessSignalled(const sigset_t& signals, Clock::time_point deadline,
                         const std::function<bool(Clock::time_point)>& finished) {
  while (true) {
    if (finished(std::min(deadline, Clock::now() + std::chrono::milliseconds(100)))) return true;
    if (Clock::now() >= deadline) return false;
    timespec zero{0, 0};
    if (sigtimedwait(&signals, nullptr, &zero) > 0) {
      core::LogWarning("second signal: exiting without waiting any longer");
      std::_Exit(0);
    }
  }
}

int Serve(server::ServerOptions options) {
  options.server_version = BERTH_VERSION;
  options.build_revision = BERTH_GIT_REVISION;
  core::Status valid = options.Finalize();
  if (!valid.ok()) return ReportError(valid);
  core::SetLogFormat(options.log_format);
  core::SetLogLevel(options.log_level);

  // Every thread started from here on inherits the blocked signals; only this
  // thread receives them, through sigtimedwait.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  if (!options.model_url.empty()) {
    core::Status fetched = fetch::FetchModelForServing(options.model_url, options.model_repository);
    if (!fetched.ok()) return ReportError(fetched);
  }
  server::BackendRegistry backends;
  backends.Register(server::OnnxBackendFactory());
  backends.Register(server::LlmBackendFactory(options.llm));
  auto server = server::Server::Create(options, std::move(backends));
  if (!server.ok()) return ReportError(server.status());
  core::LogInfo("berth serve starting",
                {{"version", options.server_version},
                 {"revision", options.build_revision},
                 {"model_control", std::string(server::ModelControlModeName(options.model_control))},
                 {"repository", options.model_repository.empty() ? options.model_file : options.model_repository},
                 {"auth", options.api_keys.empty() ? "off" : "bearer"},
                 {"memory_budget", core::FormatBytes(options.memory_budget)},
                 {"max_request_memory", core::FormatBytes(options.max_request_memory)}});
  // The protocols: each registers its routes; the transport serves the table.
  server::RouteTable routes;
  server::KServeRoutes kserve(**server, server::JsonLimits{options.max_json_depth, 10000}, !options.api_keys.empty());
  kserve.Register(routes);
  server::OpenAiLimits openai_limits;
  openai_limits.max_json_depth = options.max_json_depth;
  server::OpenAiRoutes openai(**server, openai_limits);
  openai.Register(routes);
  routes.Add(server::MetricsRoute([server = server->get()] { return server->RenderMetrics(); }));
  // The transport's threads start before any model loads: a version that
  // takes every thread a pids limit allows then fails its own load (its
  // instance threads are stopped) instead of leaving none for the server.
  // Until the repository has started, readiness answers 503.
  auto http = server::HttpServer::Start(routes, options, (*server)->metrics(), &(*server)->memory_budget());
  if (!http.ok()) return ReportError(http.status());
  core::LogInfo("listening", {{"address", (*http)->address()},
                              {"port", std::to_string((*http)->port())},
                              {"http_threads", std::to_string(options.http_threads)}});
  core::Status started = (*server)->Start();
  if (!started.ok()) {
    (*http)->Stop();
    return ReportError(started);
  }

  int signal_number = 0;
  while (signal_number <= 0) signal_number = sigwaitinfo(&signals, nullptr);
  const auto deadline = std::chrono::steady_clock::now() +
                        std::chrono::milliseconds(static_cast<int64_t>(options.exit_timeout_secs * 1000));
  core::LogInfo("shutting down: readiness is now 503, no new connections; finishing in-flight requests",
                {{"signal", signal_number == SIGTERM ? "SIGTERM" : "SIGINT"},
                 {"exit_timeout_secs", fmt::format("{}", options.exit_timeout_secs)}});
  (*server)->BeginShutdown();
  (*http)->BeginDrain();
  const bool drained =
      WaitUnlessSignalled(signals, deadline, [&](Clock::time_point step) { return (*http)->WaitUntilDrained(step); });
  if (!drained) {
    core::LogWarning("exit timeout reached; abandoning the requests still in flight",
                     {{"open_connections", std::to_string((*http)->open_connections())}});
    std::_Exit(0);
  }
  // Unloading waits for a model load in progress; do not let that outlast the
  // exit timeout by much either.
  auto stopped = std::async(std::launch::async, [&] {
    (*http)->Stop();
    (*server)->Stop();
  });
  const bool unloaded = WaitUnlessSignalled(
      signals, std::max(deadline, Clock::now() + std::chrono::seconds(2)),
      [&](Clock::time_point step) { return stopped.wait_until(step) == std::future_status::ready; });
  if (!unloaded) {
    core::LogWarning("models did not unload in time; exiting anyway");
    std::_Exit(0);
  }
  core::LogInfo("stopped");
  return 0;
}

}  // namespace

void AddServeCommand(CLI::App& app, int* exit_code) {
  auto options = std::make_shared<server::ServerOptions>();
  CLI::App* cmd = app.add_subcommand(
      "serve", "Serve models over HTTP: KServe v2 / Open Inference Protocol, health probes, Prometheus metrics");
  AddServeOptions(*cmd, options.get());
  cmd->footer("Every option can also be set through its BERTH_* environment variable. See docs/SERVING.md.");
  cmd->callback([options, exit_code] { *exit_code = Serve(*options); });
}

}  // namespace berth::cli
