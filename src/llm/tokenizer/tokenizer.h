// Tokenizer: text to token ids and back for a GGUF vocabulary, token for
// token as llama.cpp does it (llama_tokenize, llama_token_to_piece,
// llama_detokenize).
//
// Supported: tokenizer.ggml.model "llama" (SentencePiece-style: score-driven
// merging with byte fallback) and "gpt2" (byte-level BPE with merge ranks)
// with the pre-tokenizer types SupportedPreTokenizers() lists (default,
// gpt-2, llama3/llama-bpe, qwen2, qwen35, smollm, starcoder, phi-2,
// deepseek-coder, falcon, command-r, ... and llama.cpp's aliases of them).
//
// Where llama.cpp would throw or abort, berth does something defined
// instead: an id outside the vocabulary has an empty piece; a SentencePiece
// byte with no byte token becomes the unknown token (or nothing when there
// is none); text that is not valid UTF-8 is read as llama.cpp reads it
// (unicode.h).
//
// Thread safety: a Tokenizer is immutable once created; every method may be
// called from any number of threads at once. It holds its own copy of the
// vocabulary: the Vocabulary and the GGUF file need not outlive it.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "llm/tokenizer/token_attributes.h"
#include "llm/tokenizer/vocabulary.h"

namespace berth::llm {

class Tokenizer {
 public:
  // InvalidArgument for an unsupported tokenizer.ggml.model or
  // tokenizer.ggml.pre (naming it and listing the supported ones) and for a
  // malformed vocabulary: a token with empty text, a merge that is not two
  // tokens separated by a space or whose result is no token, a BPE
  // vocabulary without merges, BOS/EOS added but absent.
  static core::Result<std::unique_ptr<Tokenizer>> Create(const Vocabulary& vocabulary);
  ~Tokenizer();

  // The ids of `text` (any bytes). `add_special`: add the BOS/EOS tokens
  // the vocabulary asks for (as llama_tokenize's add_special).
  // `parse_special`: control and unknown tokens written in the text are
  // those tokens; otherwise they are plain text. User-defined tokens are
  // always split out, as in llama.cpp.
  std::vector<int32_t> Encode(std::string_view text, bool add_special, bool parse_special) const;

  // The bytes token `id` stands for (llama_token_to_piece): ▁ as a space
  // (SentencePiece), <0xNN> as the byte, GPT-2's byte alphabet decoded
  // (BPE). Control and unknown tokens give "" unless `special`, then their
  // text. Not necessarily valid UTF-8 on its own: see StreamDecoder.
  std::string TokenPiece(int32_t id, bool special = false) const;
  // The same without a copy; valid as long as the Tokenizer.
  std::string_view Piece(int32_t id, bool special = false) const;

  // The text of a sequence of ids (llama_detokenize with remove_special
  // false): the pieces joined, the space SentencePiece put before the text
  // taken off the first piece, and for most BPE vocabularies the spaces
  // their decoders drop (" ," " ." " 's" ...) dropped.
  std::string Decode(const std::vector<int32_t>& ids, bool special = false) const;

  int32_t size() const;
  bool is_sentencepiece() const;
  // Special tokens, -1 where the vocabulary has none.
  int32_t bos() const;
  int32_t eos() const;
  int32_t eot() const;
  // Whether Encode(..., add_special = true) adds BOS / EOS.
  bool adds_bos() const;
  bool adds_eos() const;
  // Tokens that end generation (EOS, EOT, end-of-message, ...), as
  // llama_vocab_is_eog.
  bool IsEndOfGeneration(int32_t id) const;
  const std::vector<int32_t>& end_of_generation() const;
  // Control (and unknown) tokens: no text unless asked for.
  bool IsControl(int32_t id) const;
  // The token's TokenAttr bits (0 outside the vocabulary).
  uint16_t Attributes(int32_t id) const;

 private:
  struct State;
  explicit Tokenizer(std::unique_ptr<State> state);
  std::unique_ptr<const State> state_;
};

}  // namespace berth::llm
