// Token attributes, as llama.cpp's llama_token_attr bits: the token type
// from the vocabulary plus what llama.cpp's loader adds by the token's text
// (control for end-of-generation and fill-in-the-middle texts, unused for
// control tokens named "unused", strip flags for some models).
#pragma once

#include <cstdint>

namespace berth::llm {

enum TokenAttr : uint16_t {
  kAttrUnknown = 1 << 0,
  kAttrUnused = 1 << 1,
  kAttrNormal = 1 << 2,
  kAttrControl = 1 << 3,
  kAttrUserDefined = 1 << 4,
  kAttrByte = 1 << 5,
  kAttrLstrip = 1 << 7,  // whitespace before the token is dropped when it is split out of text
  kAttrRstrip = 1 << 8,  // likewise after it
};

}  // namespace berth::llm
