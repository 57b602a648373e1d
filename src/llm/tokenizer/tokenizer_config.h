// What llama.cpp's vocabulary loader decides from a GGUF vocabulary before
// it tokenizes anything (llama_vocab::impl::load): the tokenizer family and
// pre-tokenizer, the flags each tokenizer.ggml.pre value implies, special
// token ids with their defaults, the attributes it adds to tokens by their
// text (end-of-generation and fill-in-the-middle tokens become control
// tokens, Phi-3's special tokens eat the whitespace after them, ...), and
// the order in which special tokens are split out of the text.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/status.h"
#include "llm/tokenizer/pre_tokenizer.h"
#include "llm/tokenizer/token_table.h"
#include "llm/tokenizer/vocabulary.h"

namespace berth::llm {

enum class TokenizerFamily {
  kSentencePiece,  // tokenizer.ggml.model "llama"
  kBytePairs,      // tokenizer.ggml.model "gpt2"
};

struct TokenizerConfig {
  TokenizerFamily family = TokenizerFamily::kSentencePiece;
  PreTokenizerKind pre = PreTokenizerKind::kDefault;
  bool add_space_prefix = false;  // SentencePiece: a space before the text (and dropped again when decoding)
  bool add_bos = false;
  bool add_eos = false;
  bool ignore_merges = false;  // BPE: a word that is a token as a whole is not merged (Llama 3)
  bool clean_spaces = false;   // decoding drops the space before , . ? ! and some contractions
  // Special token ids, -1 for none.
  int32_t bos = -1, eos = -1, eot = -1, eom = -1, unk = -1;
  std::vector<int32_t> end_of_generation;  // sorted
  // Control, user-defined and unknown tokens, longest text first: the order
  // in which they are split out of the text.
  std::vector<int32_t> special_tokens;
};

// The names tokenizer.ggml.pre may have for byte-level BPE, for messages.
std::string SupportedPreTokenizers();

// Resolves the configuration and sets the attributes in `table` (built from
// `vocab`). InvalidArgument for an unsupported model or pre-tokenizer type,
// naming it and listing the supported ones, and for a vocabulary that adds
// a BOS or EOS token it does not have.
core::Result<TokenizerConfig> ResolveTokenizerConfig(const Vocabulary& vocab, TokenTable* table);

}  // namespace berth::llm
