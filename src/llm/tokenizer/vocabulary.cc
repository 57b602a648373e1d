#include "llm/tokenizer/vocabulary.h"

#include <limits>
#include <utility>

namespace berth::llm {
namespace {

using core::InvalidArgument;

// The byte a "<0xNN>" token names, or nullopt.
std::optional<uint8_t> ParseByteToken(std::string_view text) {
  if (text.size() != 6 || text.substr(0, 3) != "<0x" || text[5] != '>') return std::nullopt;
  int value = 0;
  for (char c : text.substr(3, 2)) {
    int digit = c >= '0' && c <= '9'   ? c - '0'
                : c >= 'A' && c <= 'F' ? c - 'A' + 10
                : c >= 'a' && c <= 'f' ? c - 'a' + 10
                                       : -1;
    if (digit < 0) return std::nullopt;
    value = value * 16 + digit;
  }
  return static_cast<uint8_t>(value);
}

// A per-token array: of `type` elements (or any numeric type when
// `numeric`), with exactly `count` of them.
core::Result<const GgufValue*> PerTokenArray(const GgufFile& file, std::string_view key, uint64_t count,
                                             std::initializer_list<GgufValueType> types) {
  const GgufValue* value = file.Find(key);
  if (!value) return static_cast<const GgufValue*>(nullptr);
  if (value->type != GgufValueType::kArray) {
    return InvalidArgument("{} is a {}, not an array", key, GgufValueTypeName(value->type));
  }
  bool allowed = false;
  for (auto t : types) allowed = allowed || value->element_type == t;
  if (!allowed) return InvalidArgument("{} is an array of {}", key, GgufValueTypeName(value->element_type));
  if (value->count != count) {
    return InvalidArgument("{} has {} entries for {} tokens", key, value->count, count);
  }
  return value;
}

core::Result<std::optional<int32_t>> TokenId(const GgufFile& file, std::string_view key, int32_t size) {
  const GgufValue* value = file.Find(key);
  if (!value) return std::optional<int32_t>();
  std::optional<int64_t> id = value->AsInt();
  if (!id) return InvalidArgument("{} is a {}, not an integer", key, GgufValueTypeName(value->type));
  // Some converters write -1 for "none" in an int32.
  if (*id == -1 && value->type == GgufValueType::kInt32) return std::optional<int32_t>();
  if (*id < 0 || *id >= size) return InvalidArgument("{} is {}, outside the vocabulary of {} tokens", key, *id, size);
  return std::optional<int32_t>(static_cast<int32_t>(*id));
}

core::Result<std::optional<bool>> Flag(const GgufFile& file, std::string_view key) {
  const GgufValue* value = file.Find(key);
  if (!value) return std::optional<bool>();
  if (value->type != GgufValueType::kBool)
    return InvalidArgument("{} is a {}, not a bool", key, GgufValueTypeName(value->type));
  return std::optional<bool>(value->unsigned_value != 0);
}

core::Result<Vocabulary> Load(const GgufFile& file) {
  Vocabulary vocab;
  ASSIGN_OR_RETURN(std::string_view model, file.GetString("tokenizer.ggml.model"));
  vocab.model = std::string(model);
  if (auto pre = file.GetString("tokenizer.ggml.pre"); pre.ok()) vocab.pre = std::string(*pre);
  const GgufValue* tokens = file.Find("tokenizer.ggml.tokens");
  if (!tokens) return core::NotFound("no tokenizer.ggml.tokens");
  if (tokens->type != GgufValueType::kArray || tokens->element_type != GgufValueType::kString) {
    return InvalidArgument("tokenizer.ggml.tokens is not an array of strings");
  }
  if (tokens->count == 0 || tokens->count > static_cast<uint64_t>(std::numeric_limits<int32_t>::max())) {
    return InvalidArgument("tokenizer.ggml.tokens has {} tokens", tokens->count);
  }
  vocab.tokens = tokens->strings;
  const uint64_t count = tokens->count;
  ASSIGN_OR_RETURN(const GgufValue* scores,
                   PerTokenArray(file, "tokenizer.ggml.scores", count, {GgufValueType::kFloat32}));
  if (scores) {
    vocab.scores.resize(count);
    for (uint64_t i = 0; i < count; ++i) vocab.scores[i] = static_cast<float>(scores->FloatAt(i));
  }
  ASSIGN_OR_RETURN(const GgufValue* types, PerTokenArray(file, "tokenizer.ggml.token_type", count,
                                                         {GgufValueType::kInt32, GgufValueType::kUint32}));
  vocab.types.assign(count, TokenType::kNormal);
  vocab.byte_of.assign(count, -1);
  if (types) {
    for (uint64_t i = 0; i < count; ++i) {
      const int64_t type = types->IntAt(i);
      if (type < 1 || type > 6) return InvalidArgument("token {} has type {} (1 to 6)", i, type);
      vocab.types[i] = static_cast<TokenType>(type);
      if (vocab.types[i] != TokenType::kByte) continue;
      std::optional<uint8_t> byte = ParseByteToken(vocab.tokens[i]);
      if (!byte) return InvalidArgument("token {} is a byte token but its text is not <0xNN>", i);
      vocab.byte_of[i] = *byte;
    }
  }
  if (const GgufValue* merges = file.Find("tokenizer.ggml.merges")) {
    if (merges->type != GgufValueType::kArray || merges->element_type != GgufValueType::kString) {
      return InvalidArgument("tokenizer.ggml.merges is not an array of strings");
    }
    vocab.merges = merges->strings;
  }
  const int32_t size = vocab.size();
  ASSIGN_OR_RETURN(vocab.bos, TokenId(file, "tokenizer.ggml.bos_token_id", size));
  ASSIGN_OR_RETURN(vocab.eos, TokenId(file, "tokenizer.ggml.eos_token_id", size));
  ASSIGN_OR_RETURN(vocab.eot, TokenId(file, "tokenizer.ggml.eot_token_id", size));
  ASSIGN_OR_RETURN(vocab.unk, TokenId(file, "tokenizer.ggml.unknown_token_id", size));
  ASSIGN_OR_RETURN(vocab.sep, TokenId(file, "tokenizer.ggml.seperator_token_id", size));
  ASSIGN_OR_RETURN(vocab.pad, TokenId(file, "tokenizer.ggml.padding_token_id", size));
  ASSIGN_OR_RETURN(vocab.eom, TokenId(file, "tokenizer.ggml.eom_token_id", size));
  ASSIGN_OR_RETURN(vocab.mask, TokenId(file, "tokenizer.ggml.mask_token_id", size));
  ASSIGN_OR_RETURN(vocab.fim_pad, TokenId(file, "tokenizer.ggml.fim_pad_token_id", size));
  ASSIGN_OR_RETURN(vocab.fim_rep, TokenId(file, "tokenizer.ggml.fim_rep_token_id", size));
  ASSIGN_OR_RETURN(vocab.fim_sep, TokenId(file, "tokenizer.ggml.fim_sep_token_id", size));
  // The older keys win when both are present, as in llama.cpp.
  const std::pair<std::optional<int32_t>*, const char*> fim[] = {
      {&vocab.fim_pre, "tokenizer.ggml.fim_pre_token_id"}, {&vocab.fim_suf, "tokenizer.ggml.fim_suf_token_id"},
      {&vocab.fim_mid, "tokenizer.ggml.fim_mid_token_id"}, {&vocab.fim_pre, "tokenizer.ggml.prefix_token_id"},
      {&vocab.fim_suf, "tokenizer.ggml.suffix_token_id"},  {&vocab.fim_mid, "tokenizer.ggml.middle_token_id"}};
  for (const auto& [id, key] : fim) {
    ASSIGN_OR_RETURN(std::optional<int32_t> value, TokenId(file, key, size));
    if (value) *id = value;
  }
  ASSIGN_OR_RETURN(vocab.add_bos_token, Flag(file, "tokenizer.ggml.add_bos_token"));
  ASSIGN_OR_RETURN(vocab.add_eos_token, Flag(file, "tokenizer.ggml.add_eos_token"));
  ASSIGN_OR_RETURN(vocab.add_space_prefix, Flag(file, "tokenizer.ggml.add_space_prefix"));
  vocab.add_bos = vocab.add_bos_token.value_or(vocab.model == "llama");
  vocab.add_eos = vocab.add_eos_token.value_or(false);
  if (auto name = file.GetString("general.name"); name.ok()) vocab.name = std::string(*name);
  if (vocab.add_bos && !vocab.bos)
    return InvalidArgument("tokenizer.ggml.add_bos_token is set but there is no BOS token");
  return vocab;
}

}  // namespace

core::Result<Vocabulary> LoadVocabulary(const GgufFile& file) {
  auto vocab = Load(file);
  if (!vocab.ok()) return vocab.status().WithContext(file.name());
  return vocab;
}

}  // namespace berth::llm
