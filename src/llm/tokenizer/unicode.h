// Unicode as the tokenizers need it: the general category and White_Space
// of a code point (Unicode 15.1, the version llama.cpp's tables are; ranges
// generated into unicode_tables.cc by scripts/llm/make_unicode_tables.py),
// UTF-8 decoded leniently the way llama.cpp decodes it, and GPT-2's mapping
// of bytes to printable code points.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace berth::llm::unicode {

// General categories, one per code point (\p{L}, \p{M}, \p{N}, ...; kOther
// is Cc, Cf, Co and Cs; kUndefined is Cn and anything beyond U+10FFFF).
enum Category : uint8_t {
  kUndefined = 0,
  kLetter = 1,
  kMark = 2,
  kNumber = 3,
  kPunctuation = 4,
  kSymbol = 5,
  kSeparator = 6,
  kOther = 7,
};
constexpr uint8_t kCategoryMask = 0x07;
// The White_Space property (regex \s), on top of the category.
constexpr uint8_t kWhitespace = 0x08;

struct CodepointRange {
  uint32_t first;
  uint8_t flags;  // Category | kWhitespace
};
extern const CodepointRange kCodepointRanges[];
extern const int kCodepointRangeCount;

// Category | kWhitespace of `cp`.
uint8_t Flags(uint32_t cp);
inline Category CategoryOf(uint32_t cp) { return static_cast<Category>(Flags(cp) & kCategoryMask); }
inline bool IsWhitespace(uint32_t cp) { return (Flags(cp) & kWhitespace) != 0; }

// The code points of `text`, decoded as llama.cpp decodes (no check for
// overlong forms or surrogates, which it keeps): each byte that does not
// start a complete sequence becomes U+FFFD and decoding resumes at the next
// byte. A 4-byte form above U+10FFFF (which makes llama.cpp's tokenizer
// throw) is treated the same way.
std::vector<uint32_t> DecodeLenient(std::string_view text);
// The same one code point at a time: the one at *pos, advancing *pos
// (which must be < text.size()).
uint32_t NextLenient(std::string_view text, size_t* pos);

// Appends the UTF-8 form of `cp` (< 0x110000).
void AppendUtf8(uint32_t cp, std::string* out);

// The length llama.cpp gives a UTF-8 sequence from its first byte alone
// (1 for ASCII and stray continuation bytes, 2, 3 or 4 by the high bits).
inline size_t SequenceLength(uint8_t first) { return first < 0xC0 ? 1 : first < 0xE0 ? 2 : first < 0xF0 ? 3 : 4; }

// GPT-2's byte-level alphabet: each byte stands for a printable code point
// (the byte itself for '!'..'~', '¡'..'¬', '®'..'ÿ'; U+0100 on for the rest).
uint32_t CodepointOfByte(uint8_t byte);
// The byte a code point of that alphabet stands for, or -1.
int ByteOfCodepoint(uint32_t cp);

}  // namespace berth::llm::unicode
