// NumPy .npy files (format versions 1-3): the CLI's tensor exchange format.
//
// Reads little-endian numeric/bool arrays, byte strings (|S) and unicode
// strings (<U, stored as UTF-8); C order only. Every size in the header is
// checked against the file length before anything is allocated.
#pragma once

#include <string>
#include <string_view>

#include "core/status.h"
#include "core/tensor.h"

namespace berth::core {

Result<Tensor> ParseNpy(std::string_view bytes, std::string_view what = "npy data");
Result<Tensor> ReadNpyFile(const std::string& path);

// Serialises a tensor as .npy version 1.0 (strings as fixed-width |S bytes;
// bfloat16 is written as float32, which NumPy lacks a type for).
Result<std::string> SerializeNpy(const Tensor& tensor);
Status WriteNpyFile(const std::string& path, const Tensor& tensor);

}  // namespace berth::core
