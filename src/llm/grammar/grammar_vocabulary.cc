#include "llm/grammar/grammar_vocabulary.h"

#include <algorithm>
#include <numeric>

namespace berth::llm {
namespace {

// The characters of `bytes` when it is plain JSON string text (see the
// header), else -1. A character cut short at the end counts as one.
int32_t PlainCharacters(std::string_view bytes) {
  int32_t characters = 0;
  size_t i = 0;
  while (i < bytes.size()) {
    const auto lead = static_cast<uint8_t>(bytes[i]);
    if (lead < 0x20 || lead == '"' || lead == '\\') return -1;
    size_t length = 1;
    uint8_t lo = 0x80, hi = 0xBF;
    if (lead >= 0x80) {
      if (lead >= 0xC2 && lead <= 0xDF) {
        length = 2;
      } else if (lead >= 0xE0 && lead <= 0xEF) {
        length = 3;
        if (lead == 0xE0) lo = 0xA0;
        if (lead == 0xED) hi = 0x9F;
      } else if (lead >= 0xF0 && lead <= 0xF4) {
        length = 4;
        if (lead == 0xF0) lo = 0x90;
        if (lead == 0xF4) hi = 0x8F;
      } else {
        return -1;
      }
    }
    for (size_t k = 1; k < length && i + k < bytes.size(); ++k) {
      const auto c = static_cast<uint8_t>(bytes[i + k]);
      if (c < lo || c > hi) return -1;
      lo = 0x80;
      hi = 0xBF;
    }
    ++characters;
    i += length;
  }
  return characters;
}

}  // namespace

TokenTrie TokenTrie::Build(std::vector<std::pair<std::string_view, int32_t>> tokens) {
  tokens.erase(std::remove_if(tokens.begin(), tokens.end(), [](const auto& t) { return t.first.empty(); }),
               tokens.end());
  std::sort(tokens.begin(), tokens.end());
  TokenTrie trie;
  trie.byte.push_back(0);
  trie.depth.push_back(0);
  trie.subtree_end.push_back(0);
  trie.token_begin.push_back(0);
  std::vector<int32_t> path = {0};  // path[d]: the node at depth d
  std::string_view previous;
  auto close = [&](size_t keep) {
    while (path.size() > keep) {
      trie.subtree_end[static_cast<size_t>(path.back())] = static_cast<int32_t>(trie.byte.size());
      path.pop_back();
    }
  };
  for (const auto& [bytes, id] : tokens) {
    size_t common = 0;
    while (common < previous.size() && common < bytes.size() && previous[common] == bytes[common]) ++common;
    close(common + 1);
    for (size_t d = common; d < bytes.size(); ++d) {
      path.push_back(static_cast<int32_t>(trie.byte.size()));
      trie.byte.push_back(static_cast<uint8_t>(bytes[d]));
      trie.depth.push_back(static_cast<uint16_t>(std::min<size_t>(d + 1, UINT16_MAX)));
      trie.subtree_end.push_back(0);
      trie.token_begin.push_back(static_cast<int32_t>(trie.token_ids.size()));
    }
    trie.token_ids.push_back(id);
    trie.max_depth = std::max(trie.max_depth, bytes.size());
    previous = bytes;
  }
  close(0);
  trie.token_begin.push_back(static_cast<int32_t>(trie.token_ids.size()));
  return trie;
}

std::shared_ptr<const GrammarVocabulary> GrammarVocabulary::Create(const Tokenizer& tokenizer) {
  auto vocabulary = std::make_shared<GrammarVocabulary>();
  const int32_t n = tokenizer.size();
  vocabulary->pieces_.resize(static_cast<size_t>(n));
  vocabulary->end_of_generation_ = tokenizer.end_of_generation();
  const uint16_t no_text = kAttrControl | kAttrUnknown | kAttrUnused | kAttrUserDefined;
  std::vector<std::pair<std::string_view, int32_t>> all, special;
  std::vector<std::pair<int32_t, int32_t>> plain;  // (characters, id)
  vocabulary->plain_mask_.assign((static_cast<size_t>(n) + 63) / 64, 0);
  for (int32_t id = 0; id < n; ++id) {
    if (tokenizer.IsEndOfGeneration(id) || (tokenizer.Attributes(id) & no_text) != 0) continue;
    vocabulary->pieces_[static_cast<size_t>(id)] = std::string(tokenizer.Piece(id));
  }
  for (int32_t id = 0; id < n; ++id) {
    std::string_view bytes = vocabulary->pieces_[static_cast<size_t>(id)];
    if (bytes.empty()) continue;
    all.emplace_back(bytes, id);
    const int32_t characters = PlainCharacters(bytes);
    if (characters < 0) {
      special.emplace_back(bytes, id);
      continue;
    }
    plain.emplace_back(characters, id);
    vocabulary->plain_mask_[static_cast<size_t>(id) / 64] |= uint64_t{1} << (id % 64);
  }
  std::sort(plain.begin(), plain.end());
  for (const auto& [characters, id] : plain) {
    vocabulary->plain_tokens_.push_back(id);
    vocabulary->plain_characters_.push_back(characters);
  }
  vocabulary->trie_ = TokenTrie::Build(std::move(all));
  vocabulary->special_trie_ = TokenTrie::Build(std::move(special));
  return vocabulary;
}

bool GrammarVocabulary::IsEndOfGeneration(int32_t token) const {
  return std::find(end_of_generation_.begin(), end_of_generation_.end(), token) != end_of_generation_.end();
}

}  // namespace berth::llm
