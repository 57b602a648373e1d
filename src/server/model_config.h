// Model configuration: config.pbtxt (protobuf text format, Triton's field
// names) parsed into config::ModelConfig, checked, and completed from what the
// model declares (through its backend: see backend.h).
//
// A model directory without config.pbtxt gets a config derived entirely from
// the model (max_batch_size 0, every input and output with the model's dims,
// one instance, version policy latest {1}). A config that lists some inputs or
// outputs is checked against the model and completed with the rest.
//
// Shapes: with max_batch_size > 0 the config's dims leave out the leading
// batch dimension (Triton's convention); TensorSpec shapes always include it,
// so they are the shapes requests carry. -1 means "any extent".
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/data_type.h"
#include "core/status.h"
#include "core/tensor_shape.h"
#include "server/backend.h"
#include "server/model_config.pb.h"

namespace berth::server {

// One input or output as the protocol sees it.
struct TensorSpec {
  std::string name;
  core::DataType dtype = core::DataType::kUndefined;
  bool rank_known = true;
  core::TensorShape shape;  // batch dimension included; -1 = any extent
};

struct ModelSignature {
  std::vector<TensorSpec> inputs;
  std::vector<TensorSpec> outputs;
};

// Parses config.pbtxt text. Fields berth does not know are skipped and each
// is described in `warnings`; a syntax error fails with
// "<source>:<line>:<column>: <reason>".
core::Result<config::ModelConfig> ParseModelConfig(std::string_view text, std::string_view source,
                                                   std::vector<std::string>* warnings);

// Checks what can be checked without the model: the name matches the
// directory, the version policy, instance groups, max_batch_size and declared
// data types are valid. (Whether berth has the backend or platform it names
// is BackendRegistry::CheckNames.)
core::Status ValidateModelConfig(const config::ModelConfig& config, std::string_view model_name);

// Versions (ascending) that `policy` selects among `available` (ascending).
std::vector<int64_t> SelectVersions(const config::ModelVersionPolicy& policy, std::span<const int64_t> available);

// Checks the config's inputs/outputs against the model's declarations, fills
// in what the config leaves out (name, the backend's platform, backend name
// and model file name, data types, dims, missing tensors) and returns the
// specs requests are checked against.
core::Result<ModelSignature> CompleteModelConfig(std::string_view model_name, const DeclaredSignature& declared,
                                                 const BackendFactory& backend, config::ModelConfig* config);

// Concurrent executions: the sum of instance_group counts, at least 1.
int InstanceCount(const config::ModelConfig& config);
// dynamic_batching.default_queue_policy.max_queue_size when set, else `fallback`.
size_t QueueCapacity(const config::ModelConfig& config, size_t fallback);
// parameters { key: "intra_op_threads" value: { string_value: "N" } } when set.
std::optional<int> IntraOpThreadsParameter(const config::ModelConfig& config);
// default_model_filename when the config sets it, else the backend's.
std::string ModelFilename(const config::ModelConfig& config, const BackendFactory& backend);

std::optional<core::DataType> DataTypeFromConfig(config::DataType type);
config::DataType DataTypeToConfig(core::DataType type);

}  // namespace berth::server
