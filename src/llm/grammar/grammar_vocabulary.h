// GrammarVocabulary: what constrained sampling needs of a model's
// vocabulary, built once per model and shared by every request.
//
// Each token's bytes are its piece (Tokenizer::Piece: SentencePiece's ▁ as
// a space, <0xNN> as the byte, GPT-2's byte alphabet decoded). Control,
// unknown, unused and user-defined tokens never match document text; the
// end-of-generation tokens match only the end of a complete document.
//
// The tokens are held in a trie (preorder arrays: a subtree is a range, so a
// walk skips a dead branch in one step), and a second trie holds only the
// tokens that are not plain string text (those with a quote, a backslash, a
// control byte or a byte that is not UTF-8 where it stands): inside a string
// every plain token is allowed by its character count alone, and only the
// second, small trie needs walking.
//
// Thread safety: immutable once built.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "llm/tokenizer/tokenizer.h"

namespace berth::llm {

struct TokenTrie {
  // Node 0 is the root; nodes are in preorder. A node's subtree is
  // [node, subtree_end[node]); its tokens are token_ids[token_begin[node] ..
  // token_begin[node + 1]).
  std::vector<uint8_t> byte;
  std::vector<uint16_t> depth;
  std::vector<int32_t> subtree_end;
  std::vector<int32_t> token_begin;
  std::vector<int32_t> token_ids;
  size_t max_depth = 0;

  // `tokens`: (bytes, id) pairs, any order; empty byte strings are skipped.
  static TokenTrie Build(std::vector<std::pair<std::string_view, int32_t>> tokens);
  size_t size() const { return byte.size(); }
};

class GrammarVocabulary {
 public:
  static std::shared_ptr<const GrammarVocabulary> Create(const Tokenizer& tokenizer);

  int32_t size() const { return static_cast<int32_t>(pieces_.size()); }
  // The bytes `token` stands for; empty for tokens that never match text.
  std::string_view bytes(int32_t token) const { return pieces_[static_cast<size_t>(token)]; }
  bool IsEndOfGeneration(int32_t token) const;
  const std::vector<int32_t>& end_of_generation() const { return end_of_generation_; }
  const TokenTrie& trie() const { return trie_; }
  const TokenTrie& string_special_trie() const { return special_trie_; }
  // Plain string tokens, fewest characters first, with their counts.
  const std::vector<int32_t>& plain_tokens() const { return plain_tokens_; }
  const std::vector<int32_t>& plain_characters() const { return plain_characters_; }
  // All plain string tokens as a bitmask (bit i of word i / 64).
  const std::vector<uint64_t>& plain_mask() const { return plain_mask_; }

 private:
  std::vector<std::string> pieces_;
  std::vector<int32_t> end_of_generation_;
  TokenTrie trie_;
  TokenTrie special_trie_;
  std::vector<int32_t> plain_tokens_;
  std::vector<int32_t> plain_characters_;
  std::vector<uint64_t> plain_mask_;
};

}  // namespace berth::llm
