#include "server/model_config.h"

#include <google/protobuf/io/tokenizer.h>
#include <google/protobuf/text_format.h>

#include <algorithm>
#include <charconv>
#include <set>

#include "core/text_limits.h"
#include "core/utf8.h"

namespace berth::server {
namespace {

// Triton's deepest config (ensemble steps, optimisation policies) nests
// about six levels; 32 leaves room and stops a stack overflow far sooner.
constexpr int kMaxConfigNesting = 32;

using core::InvalidArgument;
using core::Result;
using core::Status;

class CollectingErrors : public google::protobuf::io::ErrorCollector {
 public:
  explicit CollectingErrors(std::string_view source, std::vector<std::string>* warnings)
      : source_(source), warnings_(warnings) {}
  void AddError(int line, google::protobuf::io::ColumnNumber column, const std::string& message) override {
    // Lines and columns are zero-based in the tokenizer.
    if (first_error_.empty()) first_error_ = fmt::format("{}:{}:{}: {}", source_, line + 1, column + 1, message);
  }
  void AddWarning(int line, google::protobuf::io::ColumnNumber column, const std::string& message) override {
    if (warnings_) warnings_->push_back(fmt::format("{}:{}:{}: {}", source_, line + 1, column + 1, message));
  }
  const std::string& first_error() const { return first_error_; }

 private:
  std::string source_;
  std::vector<std::string>* warnings_;
  std::string first_error_;
};

std::string DimsToString(const google::protobuf::RepeatedField<int64_t>& dims) {
  return core::ShapeToString(std::span<const int64_t>(dims.data(), static_cast<size_t>(dims.size())));
}

// No tensor berth can hold comes near this many elements (1 TiB is the cap
// on one tensor), and every product of dims below it fits in int64.
constexpr int64_t kMaxConfigElements = int64_t{1} << 40;

Status CheckDims(std::string_view what, const google::protobuf::RepeatedField<int64_t>& dims) {
  int64_t elements = 1;
  for (int64_t d : dims) {
    if (d < -1) return InvalidArgument("{} has dimension {} (dims are >= 0, or -1 for any)", what, d);
    if (d > 0) elements = d > kMaxConfigElements / elements ? kMaxConfigElements + 1 : elements * d;
    if (elements > kMaxConfigElements) {
      return InvalidArgument("{}: dims {} describe more than 2^40 elements", what, DimsToString(dims));
    }
  }
  return Status::Ok();
}

// default_model_filename names a file inside the version folder, nothing else.
Status CheckModelFilename(std::string_view model_name, const std::string& filename) {
  if (filename.empty()) return Status::Ok();
  if (filename == "." || filename == ".." || filename.find('/') != std::string::npos ||
      filename.find('\0') != std::string::npos) {
    return InvalidArgument("model '{}': default_model_filename '{}' must be a file name inside the version folder",
                           model_name, filename);
  }
  return Status::Ok();
}

// Merges the config's view of one tensor with the model's. `config_dims` are
// without the batch dimension when `batched`. Returns the full spec.
template <typename ConfigTensor>
Result<TensorSpec> MergeTensor(std::string_view model_name, std::string_view kind, const DeclaredTensor& declared,
                               bool batched, ConfigTensor* tensor) {
  std::string what = fmt::format("model '{}': {} '{}'", model_name, kind, declared.name);
  if (!declared.is_tensor) {
    return core::Unimplemented("{} is not a tensor ({}); only tensors can be served", what, declared.description);
  }
  TensorSpec spec;
  spec.name = declared.name;
  spec.dtype = declared.dtype;
  if (tensor->data_type() != config::TYPE_INVALID) {
    auto configured = DataTypeFromConfig(tensor->data_type());
    if (!configured)
      return InvalidArgument("{}: data_type {} is not supported", what, config::DataType_Name(tensor->data_type()));
    if (spec.dtype != core::DataType::kUndefined && *configured != spec.dtype) {
      return InvalidArgument("{}: config says {} but the model declares {}", what,
                             config::DataType_Name(tensor->data_type()), core::DataTypeName(spec.dtype));
    }
    spec.dtype = *configured;
  } else if (spec.dtype != core::DataType::kUndefined) {
    tensor->set_data_type(DataTypeToConfig(spec.dtype));
  }

  const bool model_rank_known = declared.rank_known;
  core::TensorShape model_shape = model_rank_known ? declared.shape : core::TensorShape{};
  if (batched && model_rank_known) {
    if (model_shape.empty()) return InvalidArgument("{}: max_batch_size > 0 but the model's tensor is a scalar", what);
    if (model_shape[0] >= 0 && model_shape[0] != 1) {
      return InvalidArgument("{}: max_batch_size > 0 but the model fixes the first dimension to {}", what,
                             model_shape[0]);
    }
  }
  const bool config_has_dims = tensor->dims_size() > 0;
  if (!config_has_dims) {
    if (model_rank_known) {
      for (size_t d = batched ? 1 : 0; d < model_shape.size(); ++d) tensor->add_dims(model_shape[d]);
      spec.shape = model_shape;
      if (batched) spec.shape[0] = -1;
    } else {
      spec.rank_known = false;
    }
    return spec;
  }
  // The config states dims: check them against the model and keep the stricter.
  core::TensorShape configured;
  if (batched) configured.push_back(-1);
  configured.insert(configured.end(), tensor->dims().begin(), tensor->dims().end());
  if (model_rank_known) {
    if (configured.size() != model_shape.size()) {
      return InvalidArgument("{}: config dims {}{} have rank {}, the model's shape {} has rank {}", what,
                             DimsToString(tensor->dims()), batched ? " (plus the batch dimension)" : "",
                             configured.size(), core::ShapeToString(model_shape), model_shape.size());
    }
    for (size_t d = batched ? 1 : 0; d < configured.size(); ++d) {
      if (configured[d] >= 0 && model_shape[d] >= 0 && configured[d] != model_shape[d]) {
        return InvalidArgument("{}: config dims {} do not match the model's shape {}", what,
                               DimsToString(tensor->dims()), core::ShapeToString(model_shape));
      }
      if (configured[d] < 0) configured[d] = model_shape[d];
    }
  }
  spec.shape = configured;
  return spec;
}

template <typename ConfigTensor>
Status MergeTensors(std::string_view model_name, std::string_view kind, const std::vector<DeclaredTensor>& declared,
                    bool batched, google::protobuf::RepeatedPtrField<ConfigTensor>* configured,
                    std::vector<TensorSpec>* specs) {
  std::set<std::string> seen;
  for (const auto& tensor : *configured) {
    if (tensor.name().empty())
      return InvalidArgument("model '{}': an {} in config.pbtxt has no name", model_name, kind);
    if (!seen.insert(tensor.name()).second) {
      return InvalidArgument("model '{}': {} '{}' is listed twice in config.pbtxt", model_name, kind, tensor.name());
    }
    bool found = std::any_of(declared.begin(), declared.end(), [&](const auto& v) { return v.name == tensor.name(); });
    if (!found) {
      return InvalidArgument("model '{}': config.pbtxt lists {} '{}' that the model does not have", model_name, kind,
                             tensor.name());
    }
  }
  for (const auto& value : declared) {
    ConfigTensor* tensor = nullptr;
    for (auto& candidate : *configured) {
      if (candidate.name() == value.name) tensor = &candidate;
    }
    if (!tensor) {
      tensor = configured->Add();
      tensor->set_name(value.name);
    }
    ASSIGN_OR_RETURN(TensorSpec spec, MergeTensor(model_name, kind, value, batched, tensor));
    specs->push_back(std::move(spec));
  }
  // Keep the config's tensor order the model's order.
  std::vector<ConfigTensor> ordered;
  for (const auto& value : declared) {
    for (const auto& tensor : *configured) {
      if (tensor.name() == value.name) ordered.push_back(tensor);
    }
  }
  configured->Clear();
  for (auto& tensor : ordered) *configured->Add() = std::move(tensor);
  return Status::Ok();
}

}  // namespace

Result<config::ModelConfig> ParseModelConfig(std::string_view text, std::string_view source,
                                             std::vector<std::string>* warnings) {
  if (!core::IsValidUtf8(text)) return InvalidArgument("{}: is not valid UTF-8", source);
  // Protobuf's parser skips unknown fields recursively with no depth limit:
  // a small file nested deep enough would overflow the stack.
  RETURN_IF_ERROR(core::CheckNesting(text, core::kProtobufTextSyntax, kMaxConfigNesting, source).status());
  config::ModelConfig config;
  google::protobuf::TextFormat::Parser parser;
  CollectingErrors errors(source, warnings);
  parser.RecordErrorsTo(&errors);
  parser.AllowUnknownField(true);
  parser.AllowUnknownExtension(true);
  if (!parser.ParseFromString(std::string(text), &config)) {
    std::string message =
        errors.first_error().empty() ? fmt::format("{}: cannot be parsed", source) : errors.first_error();
    return InvalidArgument("{}", message);
  }
  return config;
}

Status ValidateModelConfig(const config::ModelConfig& config, std::string_view model_name) {
  if (!config.name().empty() && config.name() != model_name) {
    return InvalidArgument("model '{}': config.pbtxt names the model '{}'; the name must match the directory",
                           model_name, config.name());
  }
  if (config.max_batch_size() < 0) {
    return InvalidArgument("model '{}': max_batch_size {} is negative", model_name, config.max_batch_size());
  }
  if (config.version_policy().has_latest() && config.version_policy().latest().num_versions() == 0) {
    return InvalidArgument("model '{}': version_policy latest asks for 0 versions (num_versions must be >= 1)",
                           model_name);
  }
  RETURN_IF_ERROR(CheckModelFilename(model_name, config.default_model_filename()));
  if (config.version_policy().has_specific()) {
    if (config.version_policy().specific().versions_size() == 0) {
      return InvalidArgument("model '{}': version_policy specific lists no versions", model_name);
    }
    for (int64_t v : config.version_policy().specific().versions()) {
      if (v <= 0)
        return InvalidArgument("model '{}': version_policy lists version {} (versions are >= 1)", model_name, v);
    }
  }
  for (const auto& group : config.instance_group()) {
    if (group.kind() == config::ModelInstanceGroup::KIND_GPU) {
      return core::Unimplemented(
          "model '{}': instance_group kind KIND_GPU is not supported (berth runs on CPU; "
          "use KIND_CPU)",
          model_name);
    }
    if (group.count() < 0 || group.count() > 256) {
      return InvalidArgument("model '{}': instance_group count {} is out of range [0, 256]", model_name, group.count());
    }
  }
  if (config.has_sequence_batching()) {
    return core::Unimplemented("model '{}': sequence_batching is not supported", model_name);
  }
  if (config.has_ensemble_scheduling()) {
    return core::Unimplemented("model '{}': ensembles are not supported", model_name);
  }
  if (config.batch_input_size() > 0 || config.batch_output_size() > 0) {
    return core::Unimplemented("model '{}': batch_input / batch_output are not supported", model_name);
  }
  if (config.model_transaction_policy().decoupled()) {
    return core::Unimplemented("model '{}': decoupled models are not supported", model_name);
  }
  if (config.model_operations().op_library_filename_size() > 0) {
    return core::Unimplemented("model '{}': custom operator libraries (model_operations) are not supported",
                               model_name);
  }
  for (const auto& input : config.input()) {
    RETURN_IF_ERROR(CheckDims(fmt::format("model '{}': input '{}'", model_name, input.name()), input.dims()));
    if (input.has_reshape()) {
      return core::Unimplemented("model '{}': input '{}': reshape is not supported", model_name, input.name());
    }
  }
  for (const auto& output : config.output()) {
    RETURN_IF_ERROR(CheckDims(fmt::format("model '{}': output '{}'", model_name, output.name()), output.dims()));
    if (output.has_reshape()) {
      return core::Unimplemented("model '{}': output '{}': reshape is not supported", model_name, output.name());
    }
  }
  if (config.has_dynamic_batching()) {
    const auto& batching = config.dynamic_batching();
    for (int32_t size : batching.preferred_batch_size()) {
      if (size < 1 || (config.max_batch_size() > 0 && size > config.max_batch_size())) {
        return InvalidArgument("model '{}': dynamic_batching preferred_batch_size {} is outside [1, max_batch_size {}]",
                               model_name, size, config.max_batch_size());
      }
    }
    // Longer than an hour is a unit mistake, not a policy.
    constexpr uint64_t kHourMicros = uint64_t{3600} * 1000 * 1000;
    if (batching.max_queue_delay_microseconds() > kHourMicros) {
      return InvalidArgument("model '{}': dynamic_batching max_queue_delay_microseconds {} is above an hour",
                             model_name, batching.max_queue_delay_microseconds());
    }
    if (batching.priority_levels() > 0 || !batching.priority_queue_policy().empty()) {
      return core::Unimplemented("model '{}': dynamic_batching priority levels are not supported", model_name);
    }
  }
  if (auto threads = config.parameters().find("intra_op_threads"); threads != config.parameters().end()) {
    if (!IntraOpThreadsParameter(config)) {
      return InvalidArgument("model '{}': parameter intra_op_threads '{}' is not a number in [0, 1024]", model_name,
                             threads->second.string_value());
    }
  }
  return Status::Ok();
}

std::vector<int64_t> SelectVersions(const config::ModelVersionPolicy& policy, std::span<const int64_t> available) {
  std::vector<int64_t> selected;
  if (policy.has_all()) {
    selected.assign(available.begin(), available.end());
  } else if (policy.has_specific()) {
    for (int64_t v : available) {
      const auto& wanted = policy.specific().versions();
      if (std::find(wanted.begin(), wanted.end(), v) != wanted.end()) selected.push_back(v);
    }
  } else {
    size_t n = policy.has_latest() ? std::max<uint32_t>(policy.latest().num_versions(), 1) : 1;
    size_t begin = available.size() > n ? available.size() - n : 0;
    selected.assign(available.begin() + static_cast<ptrdiff_t>(begin), available.end());
  }
  return selected;
}

Result<ModelSignature> CompleteModelConfig(std::string_view model_name, const DeclaredSignature& declared,
                                           const BackendFactory& backend, config::ModelConfig* config) {
  config->set_name(std::string(model_name));
  if (config->platform().empty()) config->set_platform(backend.platform);
  if (config->backend().empty()) config->set_backend(backend.backend);
  if (config->default_model_filename().empty()) config->set_default_model_filename(backend.default_model_filename);
  if (!config->has_version_policy()) config->mutable_version_policy()->mutable_latest()->set_num_versions(1);
  if (config->instance_group_size() == 0) {
    auto* group = config->add_instance_group();
    group->set_kind(config::ModelInstanceGroup::KIND_CPU);
    group->set_count(1);
  }
  const bool batched = config->max_batch_size() > 0;
  ModelSignature signature;
  RETURN_IF_ERROR(
      MergeTensors(model_name, "input", declared.inputs, batched, config->mutable_input(), &signature.inputs));
  RETURN_IF_ERROR(
      MergeTensors(model_name, "output", declared.outputs, batched, config->mutable_output(), &signature.outputs));
  return signature;
}

int InstanceCount(const config::ModelConfig& config) {
  int count = 0;
  for (const auto& group : config.instance_group()) count += std::max(group.count(), 1);
  return std::max(count, 1);
}

size_t QueueCapacity(const config::ModelConfig& config, size_t fallback) {
  if (config.has_dynamic_batching() && config.dynamic_batching().default_queue_policy().max_queue_size() > 0) {
    return config.dynamic_batching().default_queue_policy().max_queue_size();
  }
  return fallback;
}

std::optional<int> IntraOpThreadsParameter(const config::ModelConfig& config) {
  auto it = config.parameters().find("intra_op_threads");
  if (it == config.parameters().end()) return std::nullopt;
  const std::string& text = it->second.string_value();
  int value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || value < 0 || value > 1024) return std::nullopt;
  return value;
}

std::string ModelFilename(const config::ModelConfig& config, const BackendFactory& backend) {
  return config.default_model_filename().empty() ? backend.default_model_filename : config.default_model_filename();
}

std::optional<core::DataType> DataTypeFromConfig(config::DataType type) {
  return core::DataTypeFromConfigName(config::DataType_Name(type));
}

config::DataType DataTypeToConfig(core::DataType type) {
  config::DataType out = config::TYPE_INVALID;
  config::DataType_Parse(std::string(core::DataTypeConfigName(type)), &out);
  return out;
}

}  // namespace berth::server
