// berth inspect for GGUF files (cli/inspect_command.cc picks it by extension).
#pragma once

#include <string>

#include "core/status.h"

namespace berth::cli {

core::Status InspectGguf(const std::string& path);

}  // namespace berth::cli
