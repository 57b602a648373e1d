// berth conformance DIR... : runs ONNX backend test cases and compares with
// their reference outputs.
//
// Every case runs in a forked child process with a time limit, so a crash or
// hang in one case is reported as that case's failure and the run goes on.
// Each case ends as pass, fail (with the reason) or unsupported (an op, type
// or feature berth does not implement, with the reason).
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <regex>
#include <sstream>
#include <thread>

#include "cli/command.h"
#include "core/logging.h"
#include "core/parallel.h"
#include "core/tensor_compare.h"
#include "engine/onnx/tensor_proto.h"
#include "engine/session.h"

namespace berth::cli {
namespace {

namespace fs = std::filesystem;

struct ConformanceArguments {
  std::vector<std::string> paths;
  std::string filter;
  std::string json_path;
  std::string ratchet_path;
  double timeout_seconds = 10;
  int jobs = 0;
  bool verbose = false;
};

struct CaseResult {
  std::string suite;
  std::string name;
  std::string status;  // pass | fail | unsupported
  std::string reason;
  double milliseconds = 0;
};

std::string ReadFile(const fs::path& path) {
  std::ifstream file(path, std::ios::binary);
  std::stringstream buffer;
  buffer << file.rdbuf();
  return buffer.str();
}

// Reads a .pb file as the kind of value the graph declares there.
core::Result<core::Value> ReadValue(const fs::path& path, const engine::ValueType& type) {
  std::string bytes = ReadFile(path);
  switch (type.kind) {
    case engine::ValueType::Kind::kSequence: {
      ASSIGN_OR_RETURN(core::TensorSequence sequence, engine::ParseSequenceProto(bytes));
      if (sequence.element_type == core::DataType::kUndefined && type.element && type.element->is_tensor()) {
        sequence.element_type = type.element->dtype;
      }
      return core::Value(std::move(sequence));
    }
    case engine::ValueType::Kind::kOptional:
      return engine::ParseOptionalProto(bytes);
    default: {
      ASSIGN_OR_RETURN(core::Tensor tensor, engine::ParseTensorProto(bytes));
      // NumPy has no bfloat16, so ONNX's generator stored bfloat16 data as
      // uint16 bit patterns; read them back as what the graph declares.
      if (type.is_tensor() && type.dtype == core::DataType::kBFloat16 && tensor.dtype() == core::DataType::kUInt16) {
        tensor = core::Tensor::Wrap(core::DataType::kBFloat16, tensor.shape(), tensor.raw_data(), tensor.storage());
      }
      return core::Value(std::move(tensor));
    }
  }
}

std::vector<fs::path> SortedFiles(const fs::path& dir, const std::string& prefix) {
  std::vector<fs::path> files;
  for (const auto& entry : fs::directory_iterator(dir)) {
    std::string name = entry.path().filename().string();
    if (name.rfind(prefix, 0) == 0 && entry.path().extension() == ".pb") files.push_back(entry.path());
  }
  // input_10.pb sorts after input_9.pb.
  std::sort(files.begin(), files.end(), [&](const fs::path& a, const fs::path& b) {
    auto number = [&](const fs::path& p) { return std::atoi(p.stem().string().substr(prefix.size()).c_str()); };
    return number(a) < number(b);
  });
  return files;
}

bool IsUnsupported(const core::Status& status) { return status.code() == core::StatusCode::kUnimplemented; }

// Runs one case in this process; returns (status, reason).
std::pair<std::string, std::string> RunCase(const fs::path& case_dir) {
  engine::SessionOptions options;
  options.intra_op_threads = 1;
  auto session_or = engine::Session::Load(case_dir / "model.onnx", options);
  if (!session_or.ok()) {
    return {IsUnsupported(session_or.status()) ? "unsupported" : "fail", session_or.status().message()};
  }
  const engine::Session& session = **session_or;
  const engine::Graph& graph = session.model().graph;
  std::vector<fs::path> data_sets;
  for (const auto& entry : fs::directory_iterator(case_dir)) {
    if (entry.is_directory() && entry.path().filename().string().rfind("test_data_set_", 0) == 0) {
      data_sets.push_back(entry.path());
    }
  }
  std::sort(data_sets.begin(), data_sets.end());
  if (data_sets.empty()) return {"fail", "case has no test_data_set_*"};
  for (const auto& data_set : data_sets) {
    std::string label = data_set.filename().string();
    std::vector<fs::path> input_files = SortedFiles(data_set, "input_");
    std::vector<fs::path> output_files = SortedFiles(data_set, "output_");
    // Files map to declared inputs in order; when there are fewer files than
    // declared inputs, to the inputs that have no initializer.
    std::vector<const engine::ValueInfo*> targets;
    if (input_files.size() >= graph.inputs.size()) {
      for (const auto& input : graph.inputs) targets.push_back(&input);
    } else {
      targets = graph.RequiredInputs();
    }
    if (input_files.size() > targets.size()) {
      return {"fail", fmt::format("{}: {} input files for {} graph inputs", label, input_files.size(), targets.size())};
    }
    std::vector<engine::NamedValue> feeds;
    for (size_t i = 0; i < input_files.size(); ++i) {
      auto value = ReadValue(input_files[i], targets[i]->type);
      if (!value.ok()) {
        return {IsUnsupported(value.status()) ? "unsupported" : "fail",
                label + " " + input_files[i].filename().string() + ": " + value.status().message()};
      }
      feeds.emplace_back(targets[i]->name, std::move(value).value());
    }
    auto outputs_or = session.Run(feeds);
    if (!outputs_or.ok()) {
      return {IsUnsupported(outputs_or.status()) ? "unsupported" : "fail",
              label + ": " + outputs_or.status().message()};
    }
    const auto& outputs = *outputs_or;
    if (output_files.size() != outputs.size()) {
      return {"fail",
              fmt::format("{}: {} reference outputs, model gave {}", label, output_files.size(), outputs.size())};
    }
    for (size_t i = 0; i < outputs.size(); ++i) {
      const engine::ValueInfo& declared = session.outputs()[i];
      engine::ValueType type = declared.type;
      if (type.kind == engine::ValueType::Kind::kUnknown) type = graph.outputs[i].type;
      auto expected = ReadValue(output_files[i], type);
      if (!expected.ok()) {
        return {IsUnsupported(expected.status()) ? "unsupported" : "fail",
                label + " " + output_files[i].filename().string() + ": " + expected.status().message()};
      }
      core::Value actual = outputs[i];
      core::Value reference = std::move(expected).value();
      // An optional output holding a tensor is stored as the tensor itself.
      core::Status compare = core::CompareValues(reference, actual);
      if (!compare.ok()) return {"fail", fmt::format("{} output '{}': {}", label, declared.name, compare.message())};
      // Static inference must agree with what the kernels produced.
      if (actual.is_tensor() && declared.type.is_tensor() && declared.type.has_shape) {
        const auto& dims = declared.type.dims;
        const auto& shape = actual.tensor().shape();
        bool agree = dims.size() == shape.size();
        for (size_t d = 0; agree && d < dims.size(); ++d) {
          if (dims[d].known() && dims[d].value != shape[d]) agree = false;
        }
        if (!agree) {
          return {"fail", fmt::format("{} output '{}': static shape inference says {}, kernel produced {}", label,
                                      declared.name, declared.type.ToString(), core::ShapeToString(shape))};
        }
      }
    }
  }
  return {"pass", ""};
}

// Forks, runs the case in the child, and reads its verdict from a pipe.
CaseResult RunCaseIsolated(const fs::path& case_dir, double timeout_seconds) {
  CaseResult result;
  result.name = case_dir.filename().string();
  result.suite = case_dir.parent_path().filename().string();
  auto start = std::chrono::steady_clock::now();
  int fds[2];
  if (pipe(fds) != 0) {
    result.status = "fail";
    result.reason = "pipe() failed";
    return result;
  }
  pid_t pid = fork();
  if (pid == 0) {
    close(fds[0]);
    auto [status, reason] = RunCase(case_dir);
    std::string message = status + "\n" + reason;
    size_t done = 0;
    while (done < message.size()) {
      ssize_t n = write(fds[1], message.data() + done, message.size() - done);
      if (n <= 0) break;
      done += static_cast<size_t>(n);
    }
    close(fds[1]);
    _exit(0);
  }
  close(fds[1]);
  std::string message;
  bool timed_out = false;
  char buffer[4096];
  while (true) {
    double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    int remaining_ms = static_cast<int>((timeout_seconds - elapsed) * 1000);
    if (remaining_ms <= 0) {
      timed_out = true;
      break;
    }
    pollfd pfd{fds[0], POLLIN, 0};
    int ready = poll(&pfd, 1, remaining_ms);
    if (ready < 0 && errno == EINTR) continue;
    if (ready <= 0) {
      timed_out = ready == 0;
      break;
    }
    ssize_t n = read(fds[0], buffer, sizeof(buffer));
    if (n <= 0) break;
    message.append(buffer, static_cast<size_t>(n));
  }
  close(fds[0]);
  if (timed_out) kill(pid, SIGKILL);
  int wait_status = 0;
  waitpid(pid, &wait_status, 0);
  result.milliseconds = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  if (timed_out) {
    result.status = "fail";
    result.reason = fmt::format("timed out after {} s", timeout_seconds);
  } else if (WIFSIGNALED(wait_status)) {
    result.status = "fail";
    result.reason = fmt::format("crashed with signal {} ({})", WTERMSIG(wait_status), strsignal(WTERMSIG(wait_status)));
  } else {
    size_t newline = message.find('\n');
    result.status = message.substr(0, newline);
    result.reason = newline == std::string::npos ? "" : message.substr(newline + 1);
    if (result.status.empty()) {
      result.status = "fail";
      result.reason = "case process exited without a verdict";
    }
  }
  return result;
}

void CollectCases(const fs::path& path, std::vector<fs::path>* cases) {
  if (fs::exists(path / "model.onnx")) {
    cases->push_back(path);
    return;
  }
  std::vector<fs::path> children;
  for (const auto& entry : fs::directory_iterator(path)) {
    if (entry.is_directory()) children.push_back(entry.path());
  }
  std::sort(children.begin(), children.end());
  for (const auto& child : children) CollectCases(child, cases);
}

// Reads {"suite": min_pass, ...}.
std::map<std::string, int> ReadRatchet(const std::string& path) {
  std::map<std::string, int> out;
  std::string text = ReadFile(path);
  std::regex entry("\"([^\"]+)\"\\s*:\\s*([0-9]+)");
  for (auto it = std::sregex_iterator(text.begin(), text.end(), entry); it != std::sregex_iterator(); ++it) {
    out[(*it)[1]] = std::stoi((*it)[2]);
  }
  return out;
}

// A case that ran out of time beside others on a busy machine runs again,
// alone and with six times the time: only a case that is slow by itself fails.
void RetryTimedOutCases(const std::vector<fs::path>& cases, double timeout_seconds, std::vector<CaseResult>* results) {
  for (size_t i = 0; i < cases.size(); ++i) {
    CaseResult& result = (*results)[i];
    if (result.status != "fail" || !result.reason.starts_with("timed out")) continue;
    result = RunCaseIsolated(cases[i], 6 * timeout_seconds);
    std::printf("%-11s %s/%s (run again alone, limit %g s) %s\n", result.status.c_str(), result.suite.c_str(),
                result.name.c_str(), 6 * timeout_seconds, result.reason.substr(0, 300).c_str());
    std::fflush(stdout);
  }
}

int RunConformance(const ConformanceArguments& args) {
  std::vector<fs::path> cases;
  for (const auto& path : args.paths) {
    if (!fs::is_directory(path)) return ReportError(core::NotFound("'{}' is not a directory", path));
    CollectCases(path, &cases);
  }
  if (!args.filter.empty()) {
    std::regex filter(args.filter);
    std::erase_if(cases, [&](const fs::path& p) { return !std::regex_search(p.filename().string(), filter); });
  }
  int jobs = args.jobs > 0 ? args.jobs : core::HardwareThreads();
  std::vector<CaseResult> results(cases.size());
  std::atomic<size_t> next{0};
  std::mutex print_mutex;
  auto worker = [&] {
    while (true) {
      size_t index = next++;
      if (index >= cases.size()) return;
      results[index] = RunCaseIsolated(cases[index], args.timeout_seconds);
      if (args.verbose || results[index].status == "fail") {
        std::lock_guard lock(print_mutex);
        std::printf("%-11s %s/%s %s\n", results[index].status.c_str(), results[index].suite.c_str(),
                    results[index].name.c_str(), results[index].reason.substr(0, 300).c_str());
        std::fflush(stdout);
      }
    }
  };
  std::vector<std::thread> threads;
  for (int j = 0; j < jobs; ++j) threads.emplace_back(worker);
  for (auto& t : threads) t.join();
  RetryTimedOutCases(cases, args.timeout_seconds, &results);

  struct Counts {
    int total = 0, pass = 0, fail = 0, unsupported = 0;
  };
  std::map<std::string, Counts> suites;
  for (const auto& r : results) {
    Counts& c = suites[r.suite];
    ++c.total;
    if (r.status == "pass")
      ++c.pass;
    else if (r.status == "unsupported")
      ++c.unsupported;
    else
      ++c.fail;
  }
  std::printf("\n%-24s %6s %6s %6s %12s\n", "suite", "total", "pass", "fail", "unsupported");
  for (const auto& [suite, c] : suites) {
    std::printf("%-24s %6d %6d %6d %12d\n", suite.c_str(), c.total, c.pass, c.fail, c.unsupported);
  }
  if (!args.json_path.empty()) {
    std::ofstream out(args.json_path);
    out << "{\n  \"suites\": {";
    bool first = true;
    for (const auto& [suite, c] : suites) {
      out << (first ? "\n" : ",\n") << "    \"" << core::JsonEscape(suite) << "\": {\"total\": " << c.total
          << ", \"pass\": " << c.pass << ", \"fail\": " << c.fail << ", \"unsupported\": " << c.unsupported << "}";
      first = false;
    }
    out << "\n  },\n  \"cases\": [";
    for (size_t i = 0; i < results.size(); ++i) {
      const auto& r = results[i];
      out << (i ? ",\n" : "\n") << "    {\"suite\": \"" << core::JsonEscape(r.suite) << "\", \"name\": \""
          << core::JsonEscape(r.name) << "\", \"status\": \"" << r.status
          << "\", \"ms\": " << fmt::format("{:.1f}", r.milliseconds) << ", \"reason\": \"" << core::JsonEscape(r.reason)
          << "\"}";
    }
    out << "\n  ]\n}\n";
  }
  int exit_code = 0;
  if (!args.ratchet_path.empty()) {
    for (const auto& [suite, minimum] : ReadRatchet(args.ratchet_path)) {
      int pass = suites.count(suite) ? suites[suite].pass : 0;
      if (pass < minimum) {
        std::fprintf(stderr, "berth: error: suite %s: %d cases pass, the ratchet requires %d\n", suite.c_str(), pass,
                     minimum);
        exit_code = 1;
      } else if (pass > minimum) {
        std::printf("suite %s: %d pass, above the ratchet (%d): raise it in %s\n", suite.c_str(), pass, minimum,
                    args.ratchet_path.c_str());
      }
    }
  }
  return exit_code;
}

}  // namespace

void AddConformanceCommand(CLI::App& app, int* exit_code) {
  auto args = std::make_shared<ConformanceArguments>();
  CLI::App* cmd = app.add_subcommand("conformance", "Run ONNX backend test cases against their reference outputs");
  cmd->add_option("paths", args->paths, "suite folders, or folders of suites, or single cases")->required();
  cmd->add_option("--filter", args->filter, "only cases whose name matches this regex");
  cmd->add_option("--json", args->json_path, "write a JSON report here");
  cmd->add_option("--ratchet", args->ratchet_path, "JSON {suite: minimum pass count}; exit 1 when below");
  cmd->add_option("--timeout-secs", args->timeout_seconds,
                  "time limit per case (default 10; a case over it runs again alone with six times as long)");
  cmd->add_option("--jobs", args->jobs, "cases run in parallel (default: cores)");
  cmd->add_flag("-v,--verbose", args->verbose, "print every case, not only failures");
  cmd->callback([args, exit_code] { *exit_code = RunConformance(*args); });
}

}  // namespace berth::cli
