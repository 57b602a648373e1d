// berth: one binary for running, inspecting, benchmarking and serving models.
#include <malloc.h>

#include <cstdio>

#include "cli/command.h"
#include "core/cpu_features.h"

namespace berth::cli {

int ReportError(const core::Status& status) {
  std::string message = status.message();
  for (char& c : message) {
    if (c == '\n') c = ' ';
  }
  std::fprintf(stderr, "berth: error: %s\n", message.c_str());
  return 1;
}

}  // namespace berth::cli

int main(int argc, char** argv) {
  // Large blocks (weights, request bodies, parse buffers) go back to the
  // system when freed: a fixed mmap threshold stops glibc from raising it
  // after the first large free and then keeping such blocks in the heap —
  // which would keep a model's plain weights resident after prepacking.
  mallopt(M_MMAP_THRESHOLD, 512 * 1024);
  CLI::App app{"berth: a small, fast inference server for ONNX models"};
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string("berth ") + BERTH_VERSION + " (" + BERTH_GIT_REVISION + ")");
  int exit_code = 0;
  berth::cli::AddRunCommand(app, &exit_code);
  berth::cli::AddInspectCommand(app, &exit_code);
  berth::cli::AddConformanceCommand(app, &exit_code);
  berth::cli::AddServeCommand(app, &exit_code);
  berth::cli::AddHealthCommand(app, &exit_code);
  berth::cli::AddBenchCommand(app, &exit_code);
  berth::cli::AddPullCommand(app, &exit_code);
  berth::cli::AddDoctorCommand(app, &exit_code);
  berth::cli::AddTokenizeCommand(app, &exit_code);
  berth::cli::AddDetokenizeCommand(app, &exit_code);
  berth::cli::AddGenerateCommand(app, &exit_code);
  // Usage errors (flags, environment) exit 2; failures of the work itself 1.
  if (auto ceiling = berth::core::CheckIsaCeilingEnvironment(); !ceiling.ok()) {
    berth::cli::ReportError(ceiling);
    return 2;
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;  // --help and --version are not errors
  }
  return exit_code;
}
