// Loads ONNX model files into berth's graph IR.
//
// The whole file is parsed with the ONNX protobuf schema, initializers are
// converted (and validated) into tensors, subgraphs are converted recursively,
// and the graph structure is checked: every value produced once, every node
// input produced by something, no cycles, every graph output produced.
// Operator support is not checked here (see engine/session.h).
#pragma once

#include <filesystem>
#include <memory>
#include <string_view>

#include "core/status.h"
#include "engine/onnx/graph.h"

namespace berth::engine {

core::Result<std::shared_ptr<Model>> LoadModelFromFile(const std::filesystem::path& path);
// `model_dir` resolves external data; empty forbids it.
core::Result<std::shared_ptr<Model>> LoadModelFromBytes(std::string_view bytes, const std::filesystem::path& model_dir);

}  // namespace berth::engine
