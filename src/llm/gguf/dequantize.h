// Dequantization of ggml's block formats to float32: the scalar reference
// that the engine's kernels are tested against, bit-exact with the format's
// definition (checked against llama.cpp's own Python reference in
// tests/llm/dequantize_test.cc).
#pragma once

#include <cstdint>

#include "core/status.h"
#include "llm/gguf/gguf_file.h"

namespace berth::llm {

// Writes `count` values of `type` stored at `data` (whole blocks: `count` a
// multiple of the type's block size) to `out`. Unimplemented for types
// berth does not compute with (yet).
core::Status Dequantize(GgmlType type, const void* data, int64_t count, float* out);

}  // namespace berth::llm
