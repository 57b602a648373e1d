// TokenTable: a vocabulary's token texts as the tokenizers use them: copied
// out of the GGUF mapping (so a tokenizer outlives its file), looked up by
// text, with llama.cpp's per-token attributes.
#pragma once

#include <cstdint>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/status.h"
#include "llm/tokenizer/vocabulary.h"

namespace berth::llm {

// llama.cpp's token attributes (llama_token_attr): the token type, plus
// what the loader adds (control for end-of-generation texts, l/rstrip).
enum TokenAttr : uint16_t {
  kAttrUnknown = 1 << 0,
  kAttrUnused = 1 << 1,
  kAttrNormal = 1 << 2,
  kAttrControl = 1 << 3,
  kAttrUserDefined = 1 << 4,
  kAttrByte = 1 << 5,
  kAttrLstrip = 1 << 7,  // whitespace before the token is dropped when it is split out
  kAttrRstrip = 1 << 8,  // whitespace after it likewise
};

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
  int32_t Find(std::string_view text) const {
    auto it = ids_.find(text);
    return it == ids_.end() ? -1 : it->second;
  }

  // Calls f(text, id) for every distinct text. The order is that of
  // llama.cpp's token_to_id map (a std::unordered_map<std::string, int>
  // filled in id order): where llama.cpp picks the first of several
  // candidate texts (fill-in-the-middle tokens), so does berth. Same
  // library, same hash, same insertion order, same iteration order.
  template <typename F>
  void ForEach(F f) const {
    for (const auto& [text, id] : ids_) f(text, id);
  }

 private:
  TokenTable() = default;

  std::vector<char> chars_;  // every text, back to back (moves keep the views valid)
  std::vector<uint64_t> offsets_;
  std::vector<float> scores_;
  std::vector<uint16_t> attrs_;
  std::unordered_map<std::string_view, int32_t> ids_;
};

}  // namespace berth::llm
