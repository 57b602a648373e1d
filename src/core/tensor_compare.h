// Compares tensors the way the ONNX backend tests do: same dtype and shape;
// floats |a - e| <= atol + rtol * |e| with NaN equal to NaN and infinities
// equal only to themselves; integers, bools and strings exactly.
#pragma once

#include "core/status.h"
#include "core/value.h"

namespace berth::core {

struct Tolerance {
  double rtol = 1e-3;
  double atol = 1e-5;
};

// OK when equal within tolerance; otherwise an error describing the first
// mismatch and how many elements differ.
Status CompareTensors(const Tensor& expected, const Tensor& actual, Tolerance tolerance = {});
Status CompareValues(const Value& expected, const Value& actual, Tolerance tolerance = {});

}  // namespace berth::core
