// berth inspect MODEL.gguf: architecture, parameter count, context length,
// vocabulary, a histogram of tensor types, the chat template and every
// metadata key (long arrays summarised).
#include "cli/inspect_gguf.h"

#include <cstdio>
#include <map>
#include <string>

#include "llm/gguf/gguf_file.h"

namespace berth::cli {
namespace {

// One metadata value on one line (strings shortened, arrays summarised).
std::string Describe(const llm::GgufValue& value) {
  using llm::GgufValueType;
  auto shorten = [](std::string_view s) {
    std::string out;
    for (char c : s.substr(0, 60)) out += (static_cast<unsigned char>(c) < 0x20) ? ' ' : c;
    return s.size() > 60 ? "\"" + out + "...\" (" + std::to_string(s.size()) + " bytes)" : "\"" + out + "\"";
  };
  switch (value.type) {
    case GgufValueType::kString:
      return shorten(value.string);
    case GgufValueType::kArray: {
      std::string out =
          "array of " + std::to_string(value.count) + " " + std::string(llm::GgufValueTypeName(value.element_type));
      if (value.element_type == GgufValueType::kString && !value.strings.empty()) {
        out += ": " + shorten(value.strings.front()) + (value.count > 1 ? ", ..." : "");
      }
      return out;
    }
    case GgufValueType::kFloat32:
    case GgufValueType::kFloat64:
      return std::to_string(value.float_value);
    case GgufValueType::kBool:
      return value.unsigned_value ? "true" : "false";
    default:
      if (auto number = value.AsInt()) return std::to_string(*number);
      return std::to_string(value.unsigned_value);
  }
}

}  // namespace

core::Status InspectGguf(const std::string& path) {
  ASSIGN_OR_RETURN(std::shared_ptr<llm::GgufFile> file, llm::GgufFile::Open(path));
  auto architecture = file->GetString("general.architecture");
  const std::string arch = architecture.ok() ? std::string(*architecture) : "unknown";
  std::printf("model: %s\nformat: GGUF v%u (alignment %llu)\narchitecture: %s\n", path.c_str(), file->version(),
              static_cast<unsigned long long>(file->alignment()), arch.c_str());
  if (auto name = file->GetString("general.name"); name.ok())
    std::printf("name: %.*s\n", int(name->size()), name->data());
  if (auto context = file->GetInt(arch + ".context_length"); context.ok()) {
    std::printf("context length: %lld\n", static_cast<long long>(*context));
  }
  if (const llm::GgufValue* tokens = file->Find("tokenizer.ggml.tokens")) {
    auto model = file->GetString("tokenizer.ggml.model");
    std::printf("vocabulary: %llu tokens (%s)\n", static_cast<unsigned long long>(tokens->count),
                model.ok() ? std::string(*model).c_str() : "type unknown");
  }
  uint64_t parameters = 0, bytes = 0;
  std::map<std::string_view, std::pair<int, uint64_t>> types;
  for (const auto& tensor : file->tensors()) {
    parameters += tensor.elements();
    bytes += tensor.bytes;
    auto& row = types[llm::TraitsOf(static_cast<uint32_t>(tensor.type))->name];
    ++row.first;
    row.second += tensor.bytes;
  }
  std::printf("parameters: %llu\ntensors: %zu (%.1f MB)\ntensor types:\n", static_cast<unsigned long long>(parameters),
              file->tensors().size(), static_cast<double>(bytes) / 1e6);
  for (const auto& [name, row] : types) {
    std::printf("  %-6.*s %5d tensors %10.1f MB\n", int(name.size()), name.data(), row.first,
                static_cast<double>(row.second) / 1e6);
  }
  if (auto chat = file->GetString("tokenizer.chat_template"); chat.ok()) {
    std::printf("chat template:\n%.*s\n", int(chat->size()), chat->data());
  }
  std::printf("metadata:\n");
  for (const auto& [key, value] : file->metadata()) {
    std::printf("  %.*s: %s\n", int(key.size()), key.data(), Describe(value).c_str());
  }
  return core::Status::Ok();
}

}  // namespace berth::cli
