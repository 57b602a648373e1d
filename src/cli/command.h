// Subcommands of the `berth` binary. Each lives in its own file and adds
// itself to the CLI11 app; its callback stores the process exit code.
#pragma once

#include <CLI/CLI.hpp>
#include <string>

#include "core/status.h"

namespace berth::cli {

void AddRunCommand(CLI::App& app, int* exit_code);
void AddInspectCommand(CLI::App& app, int* exit_code);
void AddConformanceCommand(CLI::App& app, int* exit_code);
void AddServeCommand(CLI::App& app, int* exit_code);
void AddHealthCommand(CLI::App& app, int* exit_code);
void AddBenchCommand(CLI::App& app, int* exit_code);
void AddPullCommand(CLI::App& app, int* exit_code);
void AddDoctorCommand(CLI::App& app, int* exit_code);
void AddTokenizeCommand(CLI::App& app, int* exit_code);
void AddDetokenizeCommand(CLI::App& app, int* exit_code);
void AddGenerateCommand(CLI::App& app, int* exit_code);

// Prints "berth: error: <message>" on one line to stderr and returns exit
// code 1. Usage errors (bad flags, a bad BERTH_MAX_CPU_ISA) exit 2 from main.
int ReportError(const core::Status& status);

}  // namespace berth::cli
