// JsonAutomaton: the pushdown automaton that reads a document of a
// JsonGrammar one byte at a time.
//
// Its state is a small stack of frames (the document, then one per open
// object, array, string, number or literal), copied freely: the token mask
// walks the vocabulary's trie with one copy per trie depth. Strings are read
// as JSON's grammar says (escapes, no raw control characters) and must be
// valid UTF-8 (no overlong forms, no surrogates, also not as \u escapes);
// numbers as JSON's (no leading zeros, no "+", no bare "."), bounded in
// digits by GrammarOptions.
//
// Whitespace: a gap between two tokens of the document (after "{", "[", ",",
// ":", before "}", "]", ",", ":", and before the top-level value) holds at
// most GrammarOptions::max_whitespace bytes of space, tab and newline, one
// newline at most; nothing may follow the top-level value.
//
// Thread safety: the automaton is immutable; states belong to their caller.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "llm/grammar/json_grammar.h"

namespace berth::llm {

enum class FrameKind : uint8_t { kDocument, kObject, kFreeObject, kArray, kString, kNumber, kLiterals, kKey };

struct GrammarFrame {
  FrameKind kind = FrameKind::kDocument;
  uint8_t state = 0;
  uint8_t whitespace = 0;  // bytes of whitespace in the current gap; bit 7: it had a newline
  uint8_t pending = 0;     // strings: UTF-8 continuation bytes or \u digits still due
  uint8_t digits = 0;      // numbers: digits of the current part; strings: a \uD escape
  int32_t node = -1;       // the grammar node; literals and keys: the literal set; key strings: -1
  int32_t count = 0;       // items, entries, characters, the next property, the literal position
  int32_t lo = 0, hi = 0;  // literals: the texts still possible; strings: the next continuation byte's range
};

using GrammarState = std::vector<GrammarFrame>;

class JsonAutomaton {
 public:
  explicit JsonAutomaton(const JsonGrammar& grammar) : grammar_(grammar) {}

  GrammarState Start() const;
  // Reads one byte; false (and `state` unspecified) when the document
  // cannot go on with it.
  bool Step(GrammarState& state, uint8_t byte) const;
  bool StepAll(GrammarState& state, std::string_view bytes) const;
  // The document is complete: it may end here.
  bool IsComplete(const GrammarState& state) const;
  // The fewest bytes that complete the document from here.
  int64_t MinBytesToComplete(const GrammarState& state) const;
  // The top frame reads string text at a character boundary; `room` is then
  // how many more characters the string may take (-1: no bound).
  bool InPlainString(const GrammarState& state, int32_t* room) const;

 private:
  enum class Result : uint8_t { kReject, kConsumed, kEnded };
  Result StepDocument(GrammarState& state, uint8_t byte) const;
  Result StepObject(GrammarState& state, uint8_t byte) const;
  Result StepArray(GrammarState& state, uint8_t byte) const;
  Result StepString(GrammarState& state, uint8_t byte) const;
  Result StepNumber(GrammarState& state, uint8_t byte) const;
  Result StepLiterals(GrammarState& state, uint8_t byte) const;
  bool StartValue(GrammarState& state, int32_t node, uint8_t byte) const;
  bool Whitespace(GrammarFrame& frame, uint8_t byte) const;
  bool ObjectCanClose(const GrammarFrame& frame) const;
  bool ObjectHasMore(const GrammarFrame& frame) const;
  int64_t FrameMinBytes(const GrammarState& state, size_t index) const;
  int64_t KeyMinBytes(const GrammarState& state, size_t index) const;
  int32_t PropertySuffix(int32_t object, int32_t index) const;

  const JsonGrammar& grammar_;
};

}  // namespace berth::llm
