// Dynamic batching's tensor work: which requests may share a run, joining
// their inputs along the batch dimension, and cutting the outputs back into
// each request's rows. Format-agnostic (plain tensors in, plain tensors out),
// so every backend of a model with max_batch_size > 0 gets it.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "core/allocator.h"
#include "core/status.h"
#include "core/tensor.h"
#include "server/infer_request.h"

namespace berth::server {

// The rows a request brings: the first dimension of its first input (the
// server has checked that every input agrees), 1 without inputs.
int64_t RequestRows(const InferRequest& request);

// Two requests may run as one when they name the same inputs with the same
// data types and the same shapes but for the first dimension, and ask for
// the same outputs in the same order.
bool SameBatchSignature(const InferRequest& a, const InferRequest& b);

// The requests' inputs joined along the first dimension, in the first
// request's input order (SameBatchSignature must hold for every pair).
// Storage comes from `allocator`.
core::Result<std::vector<NamedValue>> JoinInputs(std::span<const InferRequest* const> requests,
                                                 core::Allocator& allocator);

// Cuts `tensor` into consecutive pieces of `rows[i]` along its first
// dimension, which must be their sum. Numeric pieces share the tensor's
// storage; strings are copied. FailedPrecondition when the tensor has no
// such first dimension (an output that is not per row cannot be split).
core::Result<std::vector<core::Tensor>> SplitRows(const core::Tensor& tensor, std::span<const int64_t> rows);

}  // namespace berth::server
