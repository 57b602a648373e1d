// The ONNX backend: berth's own engine (engine::Session) behind the serving
// core's Backend interface. Chosen for a version folder holding model.onnx,
// or by config.pbtxt's platform "onnxruntime_onnx" / backend "onnxruntime",
// "onnx" or "berth" (Triton's names for ONNX models, and berth's own).
#pragma once

#include "server/backend.h"

namespace berth::server {

BackendFactory OnnxBackendFactory();

}  // namespace berth::server
