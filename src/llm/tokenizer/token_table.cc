#include "llm/tokenizer/token_table.h"

#include <cstring>

namespace berth::llm {

core::Result<TokenTable> TokenTable::Build(const Vocabulary& vocab) {
  TokenTable table;
  const int32_t n = vocab.size();
  uint64_t total = 0;
  for (int32_t id = 0; id < n; ++id) {
    // llama.cpp renames an empty token "[EMPTY_<id>]"; such a vocabulary is
    // broken (an empty token can match anywhere) and refused here.
    if (vocab.tokens[id].empty()) return core::InvalidArgument("token {} has empty text", id);
    total += vocab.tokens[id].size();
  }
  table.chars_.resize(total);
  table.offsets_.reserve(static_cast<size_t>(n) + 1);
  table.offsets_.push_back(0);
  for (int32_t id = 0; id < n; ++id) {
    std::string_view text = vocab.tokens[id];
    std::memcpy(table.chars_.data() + table.offsets_.back(), text.data(), text.size());
    table.offsets_.push_back(table.offsets_.back() + text.size());
  }
  table.scores_.assign(static_cast<size_t>(n), 0.0f);
  if (!vocab.scores.empty()) table.scores_ = vocab.scores;
  table.attrs_.resize(static_cast<size_t>(n));
  for (int32_t id = 0; id < n; ++id) {
    switch (vocab.types[id]) {
      case TokenType::kNormal:
        table.attrs_[id] = kAttrNormal;
        break;
      case TokenType::kUnknown:
        table.attrs_[id] = kAttrUnknown;
        break;
      case TokenType::kControl:
        table.attrs_[id] = kAttrControl;
        break;
      case TokenType::kUserDefined:
        table.attrs_[id] = kAttrUserDefined;
        break;
      case TokenType::kUnused:
        table.attrs_[id] = kAttrUnused;
        break;
      case TokenType::kByte:
        table.attrs_[id] = kAttrByte;
        break;
    }
  }
  // operator[] in id order, as llama.cpp fills its map: the last of equal
  // texts wins, and the iteration order matches (see ForEach).
  for (int32_t id = 0; id < n; ++id) table.ids_[table.text(id)] = id;
  return table;
}

}  // namespace berth::llm
