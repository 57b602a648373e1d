// The flags of `berth serve` and their BERTH_* environment variables (flags
// win over the environment), filling server::ServerOptions. The table in
// docs/SERVING.md mirrors this; keep the two in step.
#pragma once

#include <CLI/CLI.hpp>

#include "server/server_options.h"

namespace berth::cli {

// Adds every option to `command` (flags, environment variables, defaults,
// help). The values land in `options` when the command line is parsed.
void AddServeOptions(CLI::App& command, server::ServerOptions* options);

}  // namespace berth::cli
