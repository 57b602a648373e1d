// berth health (not implemented yet)
#include "cli/command.h"

namespace berth::cli {

void AddHealthCommand(CLI::App& app, int* exit_code) {
  CLI::App* cmd = app.add_subcommand("health", "(not implemented yet)");
  cmd->allow_extras();
  cmd->callback([exit_code] { *exit_code = ReportError(core::Unimplemented("'berth health' is not implemented yet")); });
}

}  // namespace berth::cli
