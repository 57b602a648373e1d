// berth pull (not implemented yet)
#include "cli/command.h"

namespace berth::cli {

void AddPullCommand(CLI::App& app, int* exit_code) {
  CLI::App* cmd = app.add_subcommand("pull", "(not implemented yet)");
  cmd->allow_extras();
  cmd->callback([exit_code] { *exit_code = ReportError(core::Unimplemented("'berth pull' is not implemented yet")); });
}

}  // namespace berth::cli
