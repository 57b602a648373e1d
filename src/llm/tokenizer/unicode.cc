#include "llm/tokenizer/unicode.h"

#include <algorithm>
#include <array>

namespace berth::llm::unicode {
namespace {

uint8_t SearchFlags(uint32_t cp) {
  const CodepointRange* end = kCodepointRanges + kCodepointRangeCount;
  const CodepointRange* next =
      std::upper_bound(kCodepointRanges, end, cp, [](uint32_t c, const CodepointRange& r) { return c < r.first; });
  return next == kCodepointRanges ? uint8_t{kUndefined} : (next - 1)->flags;
}

// The Basic Multilingual Plane looked up directly (64 KiB); the rest by
// binary search over the ranges.
const std::array<uint8_t, 0x10000>& BmpFlags() {
  static const std::array<uint8_t, 0x10000> table = [] {
    std::array<uint8_t, 0x10000> flags{};
    for (uint32_t cp = 0; cp < 0x10000; ++cp) flags[cp] = SearchFlags(cp);
    return flags;
  }();
  return table;
}

struct ByteAlphabet {
  std::array<uint32_t, 256> codepoint{};
  std::array<int16_t, 0x144> byte{};  // the alphabet ends at U+0143
};

const ByteAlphabet& Alphabet() {
  static const ByteAlphabet alphabet = [] {
    ByteAlphabet a;
    a.byte.fill(-1);
    uint32_t next = 0x100;
    for (int b = 0; b < 256; ++b) {
      const bool printable = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
      a.codepoint[b] = printable ? static_cast<uint32_t>(b) : next++;
      a.byte[a.codepoint[b]] = static_cast<int16_t>(b);
    }
    return a;
  }();
  return alphabet;
}

}  // namespace

uint8_t Flags(uint32_t cp) {
  if (cp < 0x10000) return BmpFlags()[cp];
  if (cp >= 0x110000) return kUndefined;
  return SearchFlags(cp);
}

uint32_t NextLenient(std::string_view text, size_t* pos) {
  const auto* bytes = reinterpret_cast<const uint8_t*>(text.data());
  const size_t n = text.size();
  const size_t i = *pos;
  auto continuation = [&](size_t k) { return k < n && (bytes[k] & 0xC0) == 0x80; };
  const uint8_t b = bytes[i];
  if (b < 0x80) {
    *pos = i + 1;
    return b;
  }
  if (b >= 0xC0 && b < 0xE0 && continuation(i + 1)) {
    *pos = i + 2;
    return ((b & 0x1Fu) << 6) | (bytes[i + 1] & 0x3Fu);
  }
  if (b >= 0xE0 && b < 0xF0 && continuation(i + 1) && continuation(i + 2)) {
    *pos = i + 3;
    return ((b & 0x0Fu) << 12) | ((bytes[i + 1] & 0x3Fu) << 6) | (bytes[i + 2] & 0x3Fu);
  }
  if (b >= 0xF0 && b < 0xF8 && continuation(i + 1) && continuation(i + 2) && continuation(i + 3)) {
    const uint32_t cp =
        ((b & 0x07u) << 18) | ((bytes[i + 1] & 0x3Fu) << 12) | ((bytes[i + 2] & 0x3Fu) << 6) | (bytes[i + 3] & 0x3Fu);
    if (cp < 0x110000) {
      *pos = i + 4;
      return cp;
    }
  }
  *pos = i + 1;
  return 0xFFFD;
}

std::vector<uint32_t> DecodeLenient(std::string_view text) {
  std::vector<uint32_t> out;
  out.reserve(text.size());
  for (size_t pos = 0; pos < text.size();) out.push_back(NextLenient(text, &pos));
  return out;
}

void AppendUtf8(uint32_t cp, std::string* out) {
  if (cp < 0x80) {
    out->push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out->push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out->push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out->push_back(static_cast<char>(0xF0 | ((cp >> 18) & 0x07)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

uint32_t CodepointOfByte(uint8_t byte) { return Alphabet().codepoint[byte]; }

int ByteOfCodepoint(uint32_t cp) { return cp < Alphabet().byte.size() ? Alphabet().byte[cp] : -1; }

}  // namespace berth::llm::unicode
