// Vocabulary: the tokenizer data of a GGUF file (tokenizer.ggml.*), read and
// checked once. The tokenizers build on it; the checks here are the ones
// malformed vocabularies have crashed other loaders with: arrays of the
// wrong type or of a length other than the token list's, special-token ids
// outside the vocabulary, byte tokens whose text is not <0xNN>.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "llm/gguf/gguf_file.h"

namespace berth::llm {

// tokenizer.ggml.token_type values.
enum class TokenType : int32_t { kNormal = 1, kUnknown = 2, kControl = 3, kUserDefined = 4, kUnused = 5, kByte = 6 };

struct Vocabulary {
  std::string model;                     // tokenizer.ggml.model: "llama" (SentencePiece), "gpt2" (byte-level BPE), ...
  std::string pre;                       // tokenizer.ggml.pre (the BPE pre-tokenizer), may be empty
  std::vector<std::string_view> tokens;  // views into the file
  std::vector<float> scores;             // empty when the file has none
  std::vector<TokenType> types;          // kNormal for all when the file has none
  std::vector<std::string_view> merges;  // BPE merges, "a b"
  std::optional<int32_t> bos, eos, eot, unk, sep, pad;
  // End of message, mask, and the fill-in-the-middle tokens (fim_pre etc.
  // also from the older prefix/suffix/middle_token_id keys).
  std::optional<int32_t> eom, mask, fim_pre, fim_suf, fim_mid, fim_pad, fim_rep, fim_sep;
  // add_bos_token / add_eos_token, or when absent true for "llama" only.
  // The tokenizer's defaults for absent keys also depend on the
  // pre-tokenizer, hence the raw values below.
  bool add_bos = false;
  bool add_eos = false;
  std::optional<bool> add_bos_token, add_eos_token;
  // tokenizer.ggml.add_space_prefix, when present.
  std::optional<bool> add_space_prefix;
  // general.name (some tokenizers treat special tokens by model name, as
  // llama.cpp does for Phi-3), may be empty.
  std::string name;
  // For byte tokens: the byte each stands for (-1 for other tokens).
  std::vector<int16_t> byte_of;

  int32_t size() const { return static_cast<int32_t>(tokens.size()); }
};

// Reads and checks the vocabulary; InvalidArgument naming the key and the
// problem (the file's name first) when anything is wrong.
core::Result<Vocabulary> LoadVocabulary(const GgufFile& file);

}  // namespace berth::llm
