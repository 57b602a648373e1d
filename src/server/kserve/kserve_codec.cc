#include "server/kserve/kserve_codec.h"

#include <google/protobuf/util/json_util.h>

#include <algorithm>
#include <charconv>
#include <cstring>
#include <limits>

#include "server/json/json_util.h"

namespace berth::server {
namespace {

using core::DataType;
using core::InvalidArgument;
using core::Result;
using core::Status;
using rapidjson::Value;

constexpr size_t kMaxRank = 32;

std::string_view View(const Value& v) { return {v.GetString(), v.GetStringLength()}; }

const Value* Member(const Value& object, const char* name) {
  auto it = object.FindMember(name);
  return it == object.MemberEnd() ? nullptr : &it->value;
}

// Calls fn(leaf) for every non-array value inside nested arrays, in order,
// without recursion; stops (returning false) when fn does.
template <typename Fn>
bool ForEachLeaf(const Value& data, Fn&& fn) {
  if (!data.IsArray()) return fn(data);
  std::vector<std::pair<const Value*, rapidjson::SizeType>> stack;
  stack.emplace_back(&data, 0);
  while (!stack.empty()) {
    auto& top = stack.back();
    if (top.second >= top.first->Size()) {
      stack.pop_back();
      continue;
    }
    const Value& item = (*top.first)[top.second++];
    if (item.IsArray()) {
      stack.emplace_back(&item, 0);
    } else if (!fn(item)) {
      return false;
    }
  }
  return true;
}

template <typename T>
bool JsonToElement(const Value& v, T* out) {
  if constexpr (std::is_same_v<T, bool>) {
    if (!v.IsBool()) return false;
    *out = v.GetBool();
    return true;
  } else if constexpr (std::is_same_v<T, std::string>) {
    if (!v.IsString()) return false;
    out->assign(v.GetString(), v.GetStringLength());
    return true;
  } else if constexpr (std::is_floating_point_v<T> || std::is_same_v<T, core::Float16> ||
                       std::is_same_v<T, core::BFloat16>) {
    if (!v.IsNumber()) return false;
    if constexpr (std::is_same_v<T, double>) {
      *out = v.GetDouble();
    } else {
      *out = T(static_cast<float>(v.GetDouble()));
    }
    return true;
  } else if constexpr (std::is_signed_v<T>) {
    if (!v.IsInt64()) return false;
    int64_t x = v.GetInt64();
    if (x < std::numeric_limits<T>::min() || x > std::numeric_limits<T>::max()) return false;
    *out = static_cast<T>(x);
    return true;
  } else {
    if (!v.IsUint64()) return false;
    uint64_t x = v.GetUint64();
    if (x > std::numeric_limits<T>::max()) return false;
    *out = static_cast<T>(x);
    return true;
  }
}

std::string DescribeLeaf(const Value& v) {
  if (v.IsString()) {
    std::string_view s = View(v);
    return s.size() > 32 ? fmt::format("\"{}...\"", s.substr(0, 32)) : fmt::format("\"{}\"", s);
  }
  if (v.IsBool()) return v.GetBool() ? "true" : "false";
  if (v.IsNull()) return "null";
  if (v.IsObject()) return "an object";
  if (v.IsInt64()) return std::to_string(v.GetInt64());
  if (v.IsUint64()) return std::to_string(v.GetUint64());
  if (v.IsNumber()) return fmt::format("{}", v.GetDouble());
  return "a value";
}

Status FillFromJson(const Value& data, std::string_view input, core::Tensor& tensor) {
  return core::VisitAnyType(tensor.dtype(), [&]<typename T>() -> Status {
    if constexpr (std::is_void_v<T>) {
      return core::Unimplemented("input '{}': datatype {} cannot be sent as JSON", input,
                                 core::DataTypeWireName(tensor.dtype()));
    } else {
      T* out = tensor.data<T>();
      int64_t index = 0;
      const Value* bad = nullptr;
      ForEachLeaf(data, [&](const Value& leaf) {
        if (!JsonToElement<T>(leaf, &out[index])) {
          bad = &leaf;
          return false;
        }
        ++index;
        return true;
      });
      if (bad) {
        return InvalidArgument("input '{}': data element {} is {}, not a valid {} value", input, index,
                               DescribeLeaf(*bad), core::DataTypeWireName(tensor.dtype()));
      }
      return Status::Ok();
    }
  });
}

Status FillFromBinary(std::string_view bytes, std::string_view input, int64_t count, core::Tensor& tensor) {
  const DataType dtype = tensor.dtype();
  if (dtype == DataType::kString) {
    auto* out = tensor.data<std::string>();
    size_t offset = 0;
    for (int64_t i = 0; i < count; ++i) {
      if (bytes.size() - offset < 4) {
        return InvalidArgument("input '{}': BYTES element {} has a truncated length prefix", input, i);
      }
      uint32_t length = 0;
      std::memcpy(&length, bytes.data() + offset, 4);  // little-endian on every platform berth builds for
      offset += 4;
      if (length > bytes.size() - offset) {
        return InvalidArgument("input '{}': BYTES element {} claims {} bytes, {} are left", input, i, length,
                               bytes.size() - offset);
      }
      out[i].assign(bytes.data() + offset, length);
      offset += length;
    }
    if (offset != bytes.size()) {
      return InvalidArgument("input '{}': {} bytes of binary data follow its {} BYTES elements", input,
                             bytes.size() - offset, count);
    }
    return Status::Ok();
  }
  if (dtype == DataType::kBool) {
    auto* out = tensor.data<bool>();
    for (int64_t i = 0; i < count; ++i) out[i] = bytes[static_cast<size_t>(i)] != 0;
    return Status::Ok();
  }
  if (!bytes.empty()) std::memcpy(tensor.raw_data(), bytes.data(), bytes.size());
  return Status::Ok();
}

Result<core::TensorShape> ParseShape(const Value* shape, std::string_view input) {
  if (!shape) return InvalidArgument("input '{}' has no shape", input);
  if (!shape->IsArray()) return InvalidArgument("input '{}': shape must be an array of integers", input);
  if (shape->Size() > kMaxRank) {
    return InvalidArgument("input '{}': shape has {} dimensions (at most {})", input, shape->Size(), kMaxRank);
  }
  core::TensorShape dims;
  dims.reserve(shape->Size());
  for (const Value& dim : shape->GetArray()) {
    if (dim.IsInt64()) {
      int64_t d = dim.GetInt64();
      if (d < 0) return InvalidArgument("input '{}': shape has a negative dimension {}", input, d);
      dims.push_back(d);
    } else if (dim.IsUint64()) {
      return InvalidArgument("input '{}': shape dimension {} is too large", input, dim.GetUint64());
    } else {
      return InvalidArgument("input '{}': shape must be an array of integers, found {}", input, DescribeLeaf(dim));
    }
  }
  return dims;
}

Result<Parameters> ParseParameters(const Value* object, std::string_view where) {
  Parameters parameters;
  if (!object) return parameters;
  if (!object->IsObject()) return InvalidArgument("{}parameters must be an object", where);
  for (const auto& member : object->GetObject()) {
    std::string key(View(member.name));
    const Value& v = member.value;
    if (v.IsString()) {
      parameters.emplace(std::move(key), std::string(View(v)));
    } else if (v.IsBool()) {
      parameters.emplace(std::move(key), v.GetBool());
    } else if (v.IsInt64()) {
      parameters.emplace(std::move(key), v.GetInt64());
    } else if (v.IsNumber()) {
      parameters.emplace(std::move(key), v.GetDouble());
    } else {
      return InvalidArgument("{}parameter '{}' must be a string, number or boolean", where, key);
    }
  }
  return parameters;
}

struct BinaryCursor {
  std::string_view bytes;
  size_t offset = 0;
  bool present = false;
};

// Where a request's input tensors come from: the heap, charged to the
// request's account when it has one; a refused charge is reported as the
// account's refusal, naming the input.
class InputAllocator {
 public:
  explicit InputAllocator(std::shared_ptr<core::MemoryAccount> memory) : memory_(std::move(memory)) {
    if (memory_) accounted_.emplace(core::HeapAllocator(), memory_);
  }

  Result<core::Tensor> Create(DataType dtype, const core::TensorShape& shape, std::string_view input_name) {
    core::Allocator& allocator = accounted_ ? static_cast<core::Allocator&>(*accounted_) : core::HeapAllocator();
    auto tensor = core::Tensor::Create(dtype, shape, allocator);
    if (tensor.ok() || !memory_) return tensor;
    core::Status refusal = memory_->refusal();
    if (!refusal.ok()) return refusal.WithContext(fmt::format("input '{}'", input_name));
    return tensor.status();
  }

 private:
  std::shared_ptr<core::MemoryAccount> memory_;
  std::optional<core::AccountedAllocator> accounted_;
};

// An upper bound on what RapidJSON's tree of `json` takes while it is built:
// each value is 16 bytes (an object member 32), held on the parser's stack
// (which grows by half) until its array or object closes and is then copied
// into the pool; strings are copied too. Counting the characters that can
// start a value bounds the values. Measured in `berth serve` (peak RSS
// growth over body and tensor): 27-28 bytes per value for 4 and 8 million
// numbers; 40 leaves a margin.
uint64_t JsonTreeBound(std::string_view json) {
  uint64_t separators = 0;
  for (char c : json) separators += c == ',' || c == '[' || c == '{' || c == ':';
  return 40 * (separators + 1) + json.size() + (64 << 10);
}

Result<NamedValue> ParseInput(const Value& input, size_t index, BinaryCursor& binary, InputAllocator& allocator) {
  if (!input.IsObject()) return InvalidArgument("inputs[{}] must be an object", index);
  const Value* name = Member(input, "name");
  if (!name || !name->IsString() || name->GetStringLength() == 0) {
    return InvalidArgument("inputs[{}] has no name", index);
  }
  const std::string input_name(View(*name));
  const Value* datatype = Member(input, "datatype");
  if (!datatype || !datatype->IsString()) return InvalidArgument("input '{}' has no datatype", input_name);
  auto dtype = core::DataTypeFromWireName(View(*datatype));
  if (!dtype) {
    return InvalidArgument(
        "input '{}': unknown datatype '{}' (BOOL, UINT8..UINT64, INT8..INT64, FP16, BF16, FP32, "
        "FP64, BYTES)",
        input_name, View(*datatype));
  }
  ASSIGN_OR_RETURN(core::TensorShape shape, ParseShape(Member(input, "shape"), input_name));
  const size_t element_size = *dtype == DataType::kString ? 1 : core::DataTypeSize(*dtype);
  auto counted = core::CheckedElementCount(shape, element_size);
  if (!counted.ok()) return InvalidArgument("input '{}': {}", input_name, counted.status().message());
  const int64_t count = *counted;

  std::string where = fmt::format("input '{}': ", input_name);
  ASSIGN_OR_RETURN(Parameters parameters, ParseParameters(Member(input, "parameters"), where));
  std::optional<uint64_t> binary_size;
  if (auto it = parameters.find("binary_data_size"); it != parameters.end()) {
    const auto* size = std::get_if<int64_t>(&it->second);
    if (!size || *size < 0)
      return InvalidArgument("input '{}': binary_data_size must be a non-negative integer", input_name);
    binary_size = static_cast<uint64_t>(*size);
  }
  const Value* data = Member(input, "data");
  if (binary_size && data) return InvalidArgument("input '{}' has both data and binary_data_size", input_name);

  core::Tensor tensor;
  if (binary_size) {
    if (!binary.present) {
      return InvalidArgument(
          "input '{}' has binary_data_size but the request has no Inference-Header-Content-Length "
          "header",
          input_name);
    }
    const size_t left = binary.bytes.size() - binary.offset;
    if (*binary_size > left) {
      return InvalidArgument("input '{}': binary_data_size {} exceeds the {} bytes of binary data left", input_name,
                             *binary_size, left);
    }
    if (*dtype == DataType::kString) {
      if (static_cast<uint64_t>(count) > *binary_size / 4) {
        return InvalidArgument("input '{}': {} BYTES elements cannot fit in binary_data_size {}", input_name, count,
                               *binary_size);
      }
    } else if (static_cast<uint64_t>(count) * element_size != *binary_size) {
      return InvalidArgument("input '{}': shape {} of {} needs {} bytes, binary_data_size is {}", input_name,
                             core::ShapeToString(shape), View(*datatype), static_cast<uint64_t>(count) * element_size,
                             *binary_size);
    }
    ASSIGN_OR_RETURN(tensor, allocator.Create(*dtype, shape, input_name));
    std::string_view bytes = binary.bytes.substr(binary.offset, *binary_size);
    binary.offset += *binary_size;
    RETURN_IF_ERROR(FillFromBinary(bytes, input_name, count, tensor));
  } else {
    if (!data) return InvalidArgument("input '{}' has neither data nor binary_data_size", input_name);
    int64_t leaves = 0;
    ForEachLeaf(*data, [&](const Value&) { return ++leaves <= count; });
    if (leaves != count) {
      return InvalidArgument("input '{}': shape {} has {} elements but data has {}", input_name,
                             core::ShapeToString(shape), count,
                             leaves > count ? fmt::format("more than {}", count) : std::to_string(leaves));
    }
    ASSIGN_OR_RETURN(tensor, allocator.Create(*dtype, shape, input_name));
    RETURN_IF_ERROR(FillFromJson(*data, input_name, tensor));
  }
  return NamedValue(input_name, std::move(tensor));
}

// Bytes an output takes in binary form.
size_t BinarySize(const core::Tensor& tensor) {
  if (tensor.dtype() == DataType::kString) {
    size_t total = 0;
    for (const auto& s : tensor.values<std::string>()) total += 4 + s.size();
    return total;
  }
  return tensor.byte_size();
}

void AppendBinary(const core::Tensor& tensor, std::string& out) {
  if (tensor.dtype() == DataType::kString) {
    for (const auto& s : tensor.values<std::string>()) {
      uint32_t length = static_cast<uint32_t>(s.size());
      out.append(reinterpret_cast<const char*>(&length), 4);
      out.append(s);
    }
  } else if (tensor.dtype() == DataType::kBool) {
    for (bool b : tensor.values<bool>()) out.push_back(b ? 1 : 0);
  } else {
    out.append(static_cast<const char*>(tensor.raw_data()), tensor.byte_size());
  }
}

void WriteData(JsonWriter& w, const core::Tensor& tensor) {
  w.StartArray();
  core::VisitAnyType(tensor.dtype(), [&]<typename T>() {
    if constexpr (!std::is_void_v<T>) {
      for (const T& v : tensor.values<T>()) {
        if constexpr (std::is_same_v<T, bool>) {
          w.Bool(v);
        } else if constexpr (std::is_same_v<T, std::string>) {
          w.String(v.data(), static_cast<rapidjson::SizeType>(v.size()));
        } else if constexpr (std::is_same_v<T, double>) {
          WriteFloat(w, v);
        } else if constexpr (std::is_same_v<T, float> || std::is_same_v<T, core::Float16> ||
                             std::is_same_v<T, core::BFloat16>) {
          WriteFloat(w, static_cast<float>(v));
        } else if constexpr (std::is_same_v<T, uint64_t>) {
          w.Uint64(v);
        } else {
          w.Int64(static_cast<int64_t>(v));
        }
      }
    }
  });
  w.EndArray();
}

}  // namespace

Result<size_t> ParseInferenceHeaderLength(std::string_view value, size_t body_size) {
  while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
  while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.remove_suffix(1);
  if (value.empty() || value.size() > 19 ||
      !std::all_of(value.begin(), value.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return InvalidArgument("Inference-Header-Content-Length '{}' is not a non-negative integer", value);
  }
  uint64_t length = std::stoull(std::string(value));
  if (length > body_size) {
    return InvalidArgument("Inference-Header-Content-Length {} is larger than the {}-byte body", length, body_size);
  }
  return static_cast<size_t>(length);
}

Result<KServeInferRequest> ParseInferRequest(std::string_view body, std::optional<size_t> json_length,
                                             const JsonLimits& limits, std::shared_ptr<core::MemoryAccount> memory) {
  std::string_view json = json_length ? body.substr(0, *json_length) : body;
  BinaryCursor binary;
  binary.present = json_length.has_value();
  if (json_length) binary.bytes = body.substr(*json_length);
  RETURN_IF_ERROR(CheckJsonLimits(json, limits.max_depth, limits.max_objects));
  // The parsed tree is charged while it lives, the input tensors while they do.
  core::MemoryReservation tree(memory.get(), JsonTreeBound(json), "the parsed JSON");
  RETURN_IF_ERROR(tree.status());
  InputAllocator allocator(memory);

  // One pool sized to the text: large requests get large (mmap-backed) chunks
  // that go back to the system as soon as the request is parsed.
  rapidjson::MemoryPoolAllocator<> pool(std::clamp<size_t>(json.size() * 2, 4096, size_t{64} << 20));
  rapidjson::Document document(&pool);
  document.Parse<kJsonParseFlags>(json.data(), json.size());
  if (document.HasParseError()) return InvalidArgument("{}", DescribeJsonError(document));
  if (!document.IsObject()) return InvalidArgument("the request body must be a JSON object");

  KServeInferRequest parsed;
  InferRequest& request = parsed.request;
  if (const Value* id = Member(document, "id")) {
    if (!id->IsString()) return InvalidArgument("id must be a string");
    request.id.assign(id->GetString(), id->GetStringLength());
  }
  ASSIGN_OR_RETURN(request.parameters, ParseParameters(Member(document, "parameters"), ""));
  if (auto it = request.parameters.find("binary_data_output"); it != request.parameters.end()) {
    const bool* flag = std::get_if<bool>(&it->second);
    if (!flag) return InvalidArgument("parameter binary_data_output must be true or false");
    parsed.binary_output_default = *flag;
  }

  const Value* inputs = Member(document, "inputs");
  if (!inputs) return InvalidArgument("the request has no inputs");
  if (!inputs->IsArray()) return InvalidArgument("inputs must be an array");
  request.inputs.reserve(inputs->Size());
  for (rapidjson::SizeType i = 0; i < inputs->Size(); ++i) {
    ASSIGN_OR_RETURN(NamedValue input, ParseInput((*inputs)[i], i, binary, allocator));
    for (const auto& existing : request.inputs) {
      if (existing.first == input.first) return InvalidArgument("input '{}' is given twice", input.first);
    }
    request.inputs.push_back(std::move(input));
  }
  if (binary.present && binary.offset != binary.bytes.size()) {
    return InvalidArgument("{} bytes of binary data follow the JSON header but no input claims them",
                           binary.bytes.size() - binary.offset);
  }

  if (const Value* outputs = Member(document, "outputs")) {
    if (!outputs->IsArray()) return InvalidArgument("outputs must be an array");
    for (rapidjson::SizeType i = 0; i < outputs->Size(); ++i) {
      const Value& output = (*outputs)[i];
      if (!output.IsObject()) return InvalidArgument("outputs[{}] must be an object", i);
      const Value* name = Member(output, "name");
      if (!name || !name->IsString() || name->GetStringLength() == 0) {
        return InvalidArgument("outputs[{}] has no name", i);
      }
      std::string output_name(View(*name));
      ASSIGN_OR_RETURN(Parameters parameters,
                       ParseParameters(Member(output, "parameters"), fmt::format("output '{}': ", output_name)));
      if (parameters.count("classification")) {
        return core::Unimplemented("output '{}': the classification extension is not supported", output_name);
      }
      if (auto it = parameters.find("binary_data"); it != parameters.end()) {
        const bool* flag = std::get_if<bool>(&it->second);
        if (!flag) return InvalidArgument("output '{}': binary_data must be true or false", output_name);
        parsed.output_binary.emplace_back(output_name, *flag);
      }
      request.outputs.push_back(std::move(output_name));
    }
  }
  request.memory = std::move(memory);
  return parsed;
}

Result<KServeInferRequest> ParseRawBinaryRequest(std::string_view body, const std::vector<TensorSpec>& inputs,
                                                 std::shared_ptr<core::MemoryAccount> memory) {
  if (inputs.size() != 1) {
    return InvalidArgument(
        "a raw binary request (Inference-Header-Content-Length: 0) needs a model with one input; this one has {}",
        inputs.size());
  }
  const TensorSpec& input = inputs.front();
  if (body.empty()) return InvalidArgument("a raw binary request (Inference-Header-Content-Length: 0) has no body");
  if (!input.rank_known) {
    return InvalidArgument("input '{}' has no fixed rank: a raw binary request cannot give its shape", input.name);
  }
  const std::string wire_name(core::DataTypeWireName(input.dtype));
  const std::string declared = fmt::format("{} {}", wire_name, core::ShapeToString(input.shape));
  core::TensorShape shape = input.shape;
  int variable = -1;
  uint64_t fixed = 1;
  for (size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] >= 0) {
      fixed *= static_cast<uint64_t>(shape[i]);
      continue;
    }
    if (variable >= 0) {
      return InvalidArgument(
          "input '{}' is {} with more than one variable dimension: a raw binary request cannot "
          "give its shape",
          input.name, declared);
    }
    variable = static_cast<int>(i);
  }
  if (input.dtype == DataType::kString) {
    // The body is one BYTES element.
    if (fixed != 1)
      return InvalidArgument("input '{}' is {}: a raw binary body is one BYTES element", input.name, declared);
    if (variable >= 0) shape[static_cast<size_t>(variable)] = 1;
  } else {
    const uint64_t row = fixed * core::DataTypeSize(input.dtype);
    if (row == 0 || body.size() % row != 0 || (variable < 0 && body.size() != row)) {
      return InvalidArgument("a raw binary body of {} bytes does not fill input '{}' ({}: {} bytes{})", body.size(),
                             input.name, declared, row, variable >= 0 ? " per step of its variable dimension" : "");
    }
    if (variable >= 0) shape[static_cast<size_t>(variable)] = static_cast<int64_t>(body.size() / row);
  }
  InputAllocator allocator(memory);
  ASSIGN_OR_RETURN(core::Tensor tensor, allocator.Create(input.dtype, shape, input.name));
  if (input.dtype == DataType::kString) {
    tensor.data<std::string>()[0].assign(body.data(), body.size());
  } else if (!body.empty()) {
    std::memcpy(tensor.raw_data(), body.data(), body.size());
  }
  KServeInferRequest parsed;
  parsed.binary_output_default = true;
  parsed.request.inputs.emplace_back(input.name, std::move(tensor));
  parsed.request.memory = std::move(memory);
  return parsed;
}

Result<EncodedInferResponse> EncodeInferResponse(const InferResponse& response, const KServeInferRequest& request,
                                                 core::MemoryAccount* memory) {
  EncodedInferResponse encoded;
  std::string& body = encoded.body;
  size_t estimate = 128;
  for (const auto& output : response.outputs) estimate += 64 + static_cast<size_t>(output.tensor.element_count()) * 12;
  // The body stays charged until the account goes, after it is written.
  if (memory) RETURN_IF_ERROR(memory->Charge(estimate, "the response").WithContext("cannot answer"));
  body.reserve(estimate);
  std::vector<const core::Tensor*> binaries;
  {
    JsonStringSink sink(&body);
    JsonWriter w(sink);
    w.StartObject();
    w.Key("model_name");
    w.String(response.model_name.data(), static_cast<rapidjson::SizeType>(response.model_name.size()));
    w.Key("model_version");
    std::string version = std::to_string(response.model_version);
    w.String(version.data(), static_cast<rapidjson::SizeType>(version.size()));
    if (!response.id.empty()) {
      w.Key("id");
      w.String(response.id.data(), static_cast<rapidjson::SizeType>(response.id.size()));
    }
    w.Key("outputs");
    w.StartArray();
    for (const auto& output : response.outputs) {
      const core::Tensor& tensor = output.tensor;
      std::string_view datatype = core::DataTypeWireName(tensor.dtype());
      if (datatype.empty()) {
        return core::Unimplemented("output '{}' is {}, which the protocol cannot carry", output.name,
                                   core::DataTypeName(tensor.dtype()));
      }
      bool binary = request.binary_output_default;
      for (const auto& [name, flag] : request.output_binary) {
        if (name == output.name) binary = flag;
      }
      w.StartObject();
      w.Key("name");
      w.String(output.name.data(), static_cast<rapidjson::SizeType>(output.name.size()));
      w.Key("datatype");
      w.String(datatype.data(), static_cast<rapidjson::SizeType>(datatype.size()));
      w.Key("shape");
      w.StartArray();
      for (int64_t d : tensor.shape()) w.Int64(d);
      w.EndArray();
      if (binary) {
        w.Key("parameters");
        w.StartObject();
        w.Key("binary_data_size");
        w.Uint64(BinarySize(tensor));
        w.EndObject();
        binaries.push_back(&tensor);
      } else {
        w.Key("data");
        WriteData(w, tensor);
      }
      w.EndObject();
    }
    w.EndArray();
    w.EndObject();
  }
  if (!binaries.empty()) {
    encoded.json_length = body.size();
    for (const core::Tensor* tensor : binaries) AppendBinary(*tensor, body);
  }
  return encoded;
}

namespace {

// One JSON value of a 64-bit integer field, printed by protobuf as a string.
void StringToNumber(Value& value, bool is_unsigned) {
  if (!value.IsString()) return;
  std::string_view text = View(value);
  if (is_unsigned) {
    uint64_t number = 0;
    if (std::from_chars(text.data(), text.data() + text.size(), number).ec == std::errc()) value.SetUint64(number);
  } else {
    int64_t number = 0;
    if (std::from_chars(text.data(), text.data() + text.size(), number).ec == std::errc()) value.SetInt64(number);
  }
}

// protobuf's JSON mapping writes 64-bit integers as strings; Triton writes
// numbers, and tools that read its config (dims, max_queue_delay_microseconds)
// expect them. Walks the printed JSON with the message's descriptor and turns
// every such field back into a number. The config is berth's own (bounded)
// output, so recursion is fine.
void Int64FieldsToNumbers(Value& object, const google::protobuf::Descriptor& descriptor) {
  using google::protobuf::FieldDescriptor;
  if (!object.IsObject()) return;
  for (auto& member : object.GetObject()) {
    const FieldDescriptor* field = descriptor.FindFieldByName(std::string(View(member.name)));
    if (!field) continue;
    Value& value = member.value;
    const FieldDescriptor* target = field->is_map() ? field->message_type()->map_value() : field;
    auto apply = [&](Value& item) {
      if (target->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE) {
        Int64FieldsToNumbers(item, *target->message_type());
      } else if (target->cpp_type() == FieldDescriptor::CPPTYPE_INT64) {
        StringToNumber(item, false);
      } else if (target->cpp_type() == FieldDescriptor::CPPTYPE_UINT64) {
        StringToNumber(item, true);
      }
    };
    if (field->is_map() && value.IsObject()) {
      for (auto& entry : value.GetObject()) apply(entry.value);
    } else if (field->is_repeated() && value.IsArray()) {
      for (auto& item : value.GetArray()) apply(item);
    } else {
      apply(value);
    }
  }
}

}  // namespace

std::string ModelConfigToJson(const config::ModelConfig& config) {
  google::protobuf::util::JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  options.always_print_primitive_fields = true;
  std::string json;
  auto status = google::protobuf::util::MessageToJsonString(config, &json, options);
  if (!status.ok()) return "{}";
  rapidjson::Document document;
  document.Parse<kJsonParseFlags>(json.data(), json.size());
  if (document.HasParseError()) return json;
  Int64FieldsToNumbers(document, *config.GetDescriptor());
  std::string out;
  out.reserve(json.size());
  JsonStringSink sink(&out);
  rapidjson::Writer<JsonStringSink> writer(sink);
  document.Accept(writer);
  return out;
}

}  // namespace berth::server
