// Random input tensors for `berth run` and `berth bench`: floats uniform in
// [0,1), integers in [0,1000), bools 0/1, strings "berth". Symbolic dims take
// `batch` for the first dim and 1 elsewhere unless overridden.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "core/status.h"
#include "engine/session.h"

namespace berth::cli {

core::Result<core::Tensor> RandomTensor(const engine::ValueInfo& input, int64_t batch,
                                        const std::map<std::string, core::TensorShape>& shape_overrides, uint64_t seed);

// Parses "NAME=D0,D1,..." into (name, shape).
core::Result<std::pair<std::string, core::TensorShape>> ParseShapeOverride(const std::string& text);

// Output name made safe as a file name: every character outside
// [A-Za-z0-9._-] becomes '_'.
std::string SafeFileName(const std::string& name);

}  // namespace berth::cli
