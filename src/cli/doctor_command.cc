// berth doctor (not implemented yet)
#include "cli/command.h"

namespace berth::cli {

void AddDoctorCommand(CLI::App& app, int* exit_code) {
  CLI::App* cmd = app.add_subcommand("doctor", "(not implemented yet)");
  cmd->allow_extras();
  cmd->callback([exit_code] { *exit_code = ReportError(core::Unimplemented("'berth doctor' is not implemented yet")); });
}

}  // namespace berth::cli
