// berth bench MODEL.onnx [--batch B] [--shape NAME=D0,D1,...]... [--threads T]
//                        [--warmup W] [--iters N]
//
// Runs the model on random inputs and prints one JSON line:
//   {"model":..., "batch":..., "threads":..., "load_ms":..., "first_run_ms":...,
//    "p50_ms":..., "p90_ms":..., "min_ms":..., "peak_rss_mb":...}
// load_ms covers reading the file to a session ready to run; first_run_ms is
// the first inference (which builds shape-specific kernels); the percentiles
// are over the timed runs after the warm-up.
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>

#include "cli/bench_gguf.h"
#include "cli/command.h"
#include "cli/process_stats.h"
#include "cli/random_inputs.h"
#include "cli/step_profile.h"
#include "core/logging.h"
#include "core/parallel.h"
#include "engine/session.h"

namespace berth::cli {
namespace {

struct BenchArguments {
  std::string model;
  int64_t batch = 1;
  std::vector<std::string> shapes;
  int threads = 0;
  int warmup = 10;
  int iters = 50;
  bool no_optimize = false;
  bool profile = false;
  LlmBenchOptions llm;  // for GGUF files
};

double Percentile(std::vector<double> sorted, double q) {
  if (sorted.empty()) return 0;
  size_t index = static_cast<size_t>(q * static_cast<double>(sorted.size() - 1) + 0.5);
  return sorted[std::min(index, sorted.size() - 1)];
}

core::Status Bench(const BenchArguments& args) {
  if (args.batch < 1) return core::InvalidArgument("--batch must be at least 1");
  if (args.iters < 1) return core::InvalidArgument("--iters must be at least 1");
  if (args.warmup < 0) return core::InvalidArgument("--warmup must not be negative");
  std::map<std::string, core::TensorShape> overrides;
  for (const auto& text : args.shapes) {
    ASSIGN_OR_RETURN(auto parsed, ParseShapeOverride(text));
    overrides[parsed.first] = parsed.second;
  }
  engine::SessionOptions options;
  options.intra_op_threads = args.threads;
  options.optimize = !args.no_optimize;
  auto load_start = std::chrono::steady_clock::now();
  ASSIGN_OR_RETURN(auto session, engine::Session::Load(args.model, options));
  double load_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - load_start).count();

  std::vector<engine::NamedValue> feeds;
  uint64_t seed = 1;
  for (const auto& input : session->inputs()) {
    ASSIGN_OR_RETURN(core::Tensor tensor, RandomTensor(input, args.batch, overrides, seed++));
    feeds.emplace_back(input.name, std::move(tensor));
  }
  StepProfile profile;
  engine::RunOptions run_options;
  bool timing = false;
  if (args.profile) run_options.on_step = profile.Hook(&timing);
  auto time_run = [&]() -> core::Result<double> {
    auto start = std::chrono::steady_clock::now();
    auto outputs = session->Run(feeds, {}, run_options);
    double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
    if (!outputs.ok()) return outputs.status();
    return ms;
  };
  ASSIGN_OR_RETURN(double first_run_ms, time_run());
  for (int i = 0; i < args.warmup; ++i) {
    ASSIGN_OR_RETURN(double ignored, time_run());
    (void)ignored;
  }
  std::vector<double> times;
  times.reserve(static_cast<size_t>(args.iters));
  timing = true;
  for (int i = 0; i < args.iters; ++i) {
    ASSIGN_OR_RETURN(double ms, time_run());
    times.push_back(ms);
  }
  std::sort(times.begin(), times.end());
  int threads = args.threads > 0 ? args.threads : core::HardwareThreads();
  std::printf(
      "{\"model\":\"%s\",\"batch\":%lld,\"threads\":%d,\"load_ms\":%.3f,\"first_run_ms\":%.3f,\"p50_ms\":%.4f,"
      "\"p90_ms\":%.4f,\"min_ms\":%.4f,\"peak_rss_mb\":%.1f}\n",
      core::JsonEscape(args.model).c_str(), static_cast<long long>(args.batch), threads, load_ms, first_run_ms,
      Percentile(times, 0.5), Percentile(times, 0.9), times.front(), PeakRssMegabytes());
  if (args.profile) profile.Print(stderr, args.iters);
  return core::Status::Ok();
}

}  // namespace

void AddBenchCommand(CLI::App& app, int* exit_code) {
  auto args = std::make_shared<BenchArguments>();
  CLI::App* cmd = app.add_subcommand("bench", "Time a model on random inputs; prints one JSON line");
  cmd->add_option("model", args->model, "ONNX model file, or a GGUF language model (.gguf)")->required();
  cmd->add_option("--batch", args->batch, "first dim of inputs whose first dim is symbolic (default 1)");
  cmd->add_option("--shape", args->shapes, "NAME=D0,D1,... full shape of an input (repeatable)");
  cmd->add_option("--threads", args->threads, "intra-op threads (default: all cores)");
  cmd->add_option("--warmup", args->warmup, "untimed runs after the first (default 10)");
  cmd->add_option("--iters", args->iters, "timed runs (default 50)");
  cmd->add_flag("--no-optimize", args->no_optimize, "skip graph optimisations (for comparisons)");
  cmd->add_flag("--profile", args->profile, "print time per op type over the timed runs (stderr)");
  cmd->add_option("--prompt-tokens", args->llm.prompt_tokens, "GGUF: prompt length to time (default 512)");
  cmd->add_option("--gen-tokens", args->llm.gen_tokens, "GGUF: tokens to generate after it (default 128)");
  cmd->add_option("--ctx-size", args->llm.context_size, "GGUF: context size (default: prompt + generated)");
  cmd->add_option("--kv-type", args->llm.kv_type, "GGUF: KV cache type, f16 (default) or f32")
      ->check(CLI::IsMember({"f16", "f32"}));
  cmd->add_option("--parallel", args->llm.parallel,
                  "GGUF: generate for N sequences at once in batched steps; tg_tok_s is their aggregate")
      ->check(CLI::Range(1, 1024));
  cmd->add_flag("--bandwidth", args->llm.bandwidth,
                "GGUF: also measure the memory read bandwidth and the generation roofline it sets");
  cmd->callback([args, exit_code] {
    args->llm.threads = args->threads;
    core::Status status = IsGgufPath(args->model) ? BenchGguf(args->model, args->llm) : Bench(*args);
    *exit_code = status.ok() ? 0 : ReportError(status);
  });
}

}  // namespace berth::cli
