#include "llm/tokenizer/token_table.h"

#include <cstring>
#include <functional>
#include <unordered_map>

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
  uint64_t capacity = 16;
  while (capacity < static_cast<uint64_t>(n) * 2) capacity *= 2;
  table.index_.assign(capacity, Slot{0, -1});
  table.mask_ = capacity - 1;
  // In id order: the last of equal texts wins, as in llama.cpp.
  for (int32_t id = 0; id < n; ++id) table.Index(id);
  return table;
}

void TokenTable::Index(int32_t id) {
  const std::string_view key = text(id);
  const uint64_t hash = std::hash<std::string_view>()(key);
  for (uint64_t i = hash & mask_;; i = (i + 1) & mask_) {
    Slot& slot = index_[i];
    if (slot.id < 0) {
      slot = {static_cast<uint32_t>(hash >> 32), id};
      return;
    }
    if (slot.hash == static_cast<uint32_t>(hash >> 32) && text(slot.id) == key) {
      slot.id = id;
      return;
    }
  }
}

int32_t TokenTable::Find(std::string_view key) const {
  const uint64_t hash = std::hash<std::string_view>()(key);
  for (uint64_t i = hash & mask_;; i = (i + 1) & mask_) {
    const Slot& slot = index_[i];
    if (slot.id < 0) return -1;
    if (slot.hash == static_cast<uint32_t>(hash >> 32) && text(slot.id) == key) return slot.id;
  }
}

std::vector<std::pair<std::string_view, int32_t>> TokenTable::InLlamaCppOrder() const {
  std::unordered_map<std::string_view, int32_t> map;
  for (int32_t id = 0; id < size(); ++id) map[text(id)] = id;
  return {map.begin(), map.end()};
}

}  // namespace berth::llm
