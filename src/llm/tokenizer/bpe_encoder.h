// The byte-level BPE encoder of tokenizer.ggml.model "gpt2", as llama.cpp's
// llm_tokenizer_bpe: each word (from the pre-tokenizer) is written in
// GPT-2's byte alphabet, one symbol per byte, and the adjacent pair with
// the lowest merge rank is merged, again and again (a priority queue of
// candidate pairs, ties to the leftmost).
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "llm/tokenizer/token_table.h"

namespace berth::llm {

class BpeEncoder {
 public:
  // Reads the merges ("left right", rank = position; the first of equal
  // merges counts). InvalidArgument, naming the merge, for one without a
  // space between two non-empty parts, or whose parts or result are not
  // tokens (a merge that could only make text no token stands for).
  static core::Result<BpeEncoder> Create(const TokenTable& table, const std::vector<std::string_view>& merges,
                                         bool ignore_merges);

  // Appends the tokens of the code points `cps`, split into words of the
  // lengths `words` (the pre-tokenizer's).
  void Encode(const TokenTable& table, const std::vector<uint32_t>& cps, const std::vector<size_t>& words,
              std::vector<int32_t>* out) const;

 private:
  struct Symbol;
  struct Candidate;
  // One word, as the UTF-8 text it stands for; `symbols` and `heap` are
  // scratch space kept from word to word.
  void EncodeWord(const TokenTable& table, std::string_view word, std::vector<Symbol>* symbols,
                  std::vector<Candidate>* heap, std::vector<int32_t>* out) const;
  struct Merge {
    uint64_t pair;  // left id << 32 | right id; ~0 marks an empty slot
    int32_t rank;
    int32_t result;
  };
  const Merge* Find(int32_t left, int32_t right) const;
  void Insert(uint64_t pair, int32_t rank, int32_t result);

  // Open addressing, linear probing; a power of two in size.
  std::vector<Merge> merges_;
  uint64_t mask_ = 0;
  bool ignore_merges_ = false;
  // Per byte: the token of its character in the byte alphabet (-1: none),
  // and what llama.cpp falls back to when there is none (the tokens whose
  // text is one byte of that character's UTF-8 form).
  std::array<int32_t, 256> byte_token_{};
  std::array<std::vector<int32_t>, 256> byte_fallback_;
  // Per byte: its character in the byte alphabet, as UTF-8.
  std::array<std::string, 256> byte_char_;
};

}  // namespace berth::llm
