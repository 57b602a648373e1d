// TokenTable: a vocabulary's token texts as the tokenizers use them: copied
// out of the GGUF mapping (so a tokenizer outlives its file), looked up by
// text, with llama.cpp's per-token attributes.
#pragma once

#include <cstdint>
#include <string_view>
#include <utility>
#include <vector>

#include "core/status.h"
#include "llm/tokenizer/token_attributes.h"
#include "llm/tokenizer/vocabulary.h"

namespace berth::llm {

class TokenTable {
 public:
  // InvalidArgument for a token with empty text.
  static core::Result<TokenTable> Build(const Vocabulary& vocab);

  TokenTable(TokenTable&&) = default;
  TokenTable& operator=(TokenTable&&) = default;
  TokenTable(const TokenTable&) = delete;
  TokenTable& operator=(const TokenTable&) = delete;

  int32_t size() const { return static_cast<int32_t>(scores_.size()); }
  std::string_view text(int32_t id) const {
    return {chars_.data() + offsets_[id], static_cast<size_t>(offsets_[id + 1] - offsets_[id])};
  }
  float score(int32_t id) const { return scores_[id]; }
  uint16_t attr(int32_t id) const { return attrs_[id]; }
  void set_attr(int32_t id, uint16_t attr) { attrs_[id] = attr; }

  // The token with exactly this text (the last one when several have it,
  // as in llama.cpp), or -1.
  int32_t Find(std::string_view text) const;

  // Every distinct text with its token, in the order llama.cpp's
  // token_to_id map (a std::unordered_map<std::string, int> filled in id
  // order) iterates: where llama.cpp takes the first of several candidate
  // texts, berth can take the same one. Same library, same hash, same
  // insertion order, same iteration order. Costly; for the rare vocabulary
  // that needs it.
  std::vector<std::pair<std::string_view, int32_t>> InLlamaCppOrder() const;

 private:
  TokenTable() = default;
  void Index(int32_t id);

  std::vector<char> chars_;  // every text, back to back (moves keep the views valid)
  std::vector<uint64_t> offsets_;
  std::vector<float> scores_;
  std::vector<uint16_t> attrs_;
  // Text to id: open addressing with linear probing, a power of two in
  // size, at most half full; each slot keeps the high half of its text's
  // hash to skip most comparisons.
  struct Slot {
    uint32_t hash;
    int32_t id;  // -1: empty
  };
  std::vector<Slot> index_;
  uint64_t mask_ = 0;
};

}  // namespace berth::llm
