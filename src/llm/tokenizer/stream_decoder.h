// StreamDecoder: the text of tokens that arrive one at a time (generation),
// in whole UTF-8 characters. A character whose bytes come in several tokens
// (byte tokens <0xE2><0x9C><0x85>, or BPE pieces of an emoji) is held back
// until its last byte arrives, so no piece handed out ever ends inside a
// character.
//
// Bytes that cannot become a valid character (a stray continuation byte,
// 0xFF, an overlong form, a surrogate, a sequence cut short by a byte that
// does not continue it) are each replaced by U+FFFD as soon as that is
// certain, one U+FFFD per maximal invalid subpart (as Unicode recommends and
// browsers do). Flush() ends the stream: an incomplete character still held
// then becomes one U+FFFD. Everything handed out is valid UTF-8.
//
// Pieces are the tokens' own (Tokenizer::Piece): no space is taken off the
// first one and no BPE clean-up applies, as in llama.cpp's server when it
// streams. Not thread-safe; one per stream.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "llm/tokenizer/tokenizer.h"

namespace berth::llm {

class StreamDecoder {
 public:
  // `special`: render control tokens' text (see Tokenizer::Piece). The
  // tokenizer must outlive the decoder.
  explicit StreamDecoder(const Tokenizer& tokenizer, bool special = false);

  // Adds the token's piece; returns the text that is now complete (may be
  // empty).
  std::string Push(int32_t id);
  // Adds raw bytes (what Push does with a piece).
  std::string PushBytes(std::string_view bytes);
  // Ends the stream: what is still held, an incomplete character as U+FFFD.
  std::string Flush();

  // Bytes held back (0 to 3).
  size_t pending() const { return pending_.size(); }

 private:
  const Tokenizer& tokenizer_;
  bool special_;
  std::string pending_;
};

// Appends to `out` the complete characters at the start of `bytes` (invalid
// parts as U+FFFD, see above); returns how many bytes were used. The rest
// (at most 3 bytes) is the start of a character that may still complete.
size_t AppendCompleteUtf8(std::string_view bytes, std::string* out);

}  // namespace berth::llm
