// berth run MODEL.onnx [--input NAME=FILE.npy]... [--output-dir DIR] [--threads N]
#include <chrono>
#include <filesystem>
#include <map>

#include "cli/command.h"
#include "cli/random_inputs.h"
#include "cli/step_profile.h"
#include "core/npy_file.h"
#include "engine/session.h"

namespace berth::cli {
namespace {

struct RunArguments {
  std::string model;
  std::vector<std::string> inputs;
  std::string output_dir;
  int threads = 0;
  std::vector<std::string> shapes;
  bool profile = false;
  bool no_optimize = false;
};

core::Status RunModel(const RunArguments& args) {
  engine::SessionOptions options;
  options.intra_op_threads = args.threads;
  options.optimize = !args.no_optimize;
  ASSIGN_OR_RETURN(auto session, engine::Session::Load(args.model, options));
  std::map<std::string, core::TensorShape> overrides;
  for (const auto& text : args.shapes) {
    ASSIGN_OR_RETURN(auto parsed, ParseShapeOverride(text));
    overrides[parsed.first] = parsed.second;
  }
  std::map<std::string, core::Value> given;
  for (const auto& text : args.inputs) {
    size_t eq = text.find('=');
    if (eq == std::string::npos || eq == 0) return core::InvalidArgument("--input '{}' is not NAME=FILE.npy", text);
    std::string name = text.substr(0, eq);
    auto tensor = core::ReadNpyFile(text.substr(eq + 1));
    if (!tensor.ok()) return tensor.status().WithContext("input '" + name + "'");
    given[name] = std::move(tensor).value();
  }
  std::vector<engine::NamedValue> feeds;
  uint64_t seed = 1;
  for (const auto& input : session->inputs()) {
    auto it = given.find(input.name);
    if (it != given.end()) {
      feeds.emplace_back(input.name, it->second);
      given.erase(it);
      continue;
    }
    ASSIGN_OR_RETURN(core::Tensor tensor, RandomTensor(input, 1, overrides, seed++));
    feeds.emplace_back(input.name, std::move(tensor));
  }
  for (auto& [name, value] : given) feeds.emplace_back(name, std::move(value));  // Run() rejects unknown names

  StepProfile profile;
  engine::RunOptions run_options;
  if (args.profile) run_options.on_step = profile.Hook();
  auto start = std::chrono::steady_clock::now();
  ASSIGN_OR_RETURN(std::vector<core::Value> outputs, session->Run(feeds, {}, run_options));
  double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();

  if (!args.output_dir.empty()) {
    std::error_code ec;
    std::filesystem::create_directories(args.output_dir, ec);
    if (ec) return core::InvalidArgument("cannot create output directory '{}': {}", args.output_dir, ec.message());
  }
  for (size_t i = 0; i < outputs.size(); ++i) {
    const std::string& name = session->outputs()[i].name;
    const core::Value& value = outputs[i];
    if (!value.is_tensor()) {
      std::printf("%s: %s\n", name.c_str(), value.is_sequence() ? "sequence" : "none");
      continue;
    }
    const core::Tensor& tensor = value.tensor();
    std::printf("%s: %s %s\n", name.c_str(), std::string(core::DataTypeName(tensor.dtype())).c_str(),
                core::ShapeToString(tensor.shape()).c_str());
    if (!args.output_dir.empty()) {
      std::string path = (std::filesystem::path(args.output_dir) / (SafeFileName(name) + ".npy")).string();
      RETURN_IF_ERROR(core::WriteNpyFile(path, tensor));
    }
  }
  std::printf("run time: %.3f ms\n", ms);
  if (args.profile) profile.Print(stdout, 1);
  return core::Status::Ok();
}

}  // namespace

void AddRunCommand(CLI::App& app, int* exit_code) {
  auto args = std::make_shared<RunArguments>();
  CLI::App* cmd = app.add_subcommand("run", "Run a model once on .npy inputs (random values for inputs not given)");
  cmd->add_option("model", args->model, "ONNX model file")->required();
  cmd->add_option("--input", args->inputs, "NAME=FILE.npy (repeatable)");
  cmd->add_option("--output-dir", args->output_dir, "write each output to DIR/<name>.npy");
  cmd->add_option("--threads", args->threads, "intra-op threads (default: all cores)");
  cmd->add_option("--shape", args->shapes, "NAME=D0,D1,... shape for a random input (repeatable)");
  cmd->add_flag("--profile", args->profile, "print time and activation reorders per op type");
  cmd->add_flag("--no-optimize", args->no_optimize, "skip graph optimisations (to compare with the optimised graph)");
  cmd->callback([args, exit_code] {
    core::Status status = RunModel(*args);
    *exit_code = status.ok() ? 0 : ReportError(status);
  });
}

}  // namespace berth::cli
