#include "llm/tokenizer/pre_tokenizer.h"

#include <algorithm>
#include <iterator>

#include "llm/tokenizer/unicode.h"

namespace berth::llm {
namespace {

// Per code point: one bit for its category, kSpace for White_Space. A
// position outside the piece being split reads as 0 (no category at all),
// which is how llama.cpp's splitters see the ends of a piece.
constexpr uint16_t Bit(unicode::Category c) { return uint16_t{1} << c; }
constexpr uint16_t kLetter = Bit(unicode::kLetter);
constexpr uint16_t kMark = Bit(unicode::kMark);
constexpr uint16_t kNumber = Bit(unicode::kNumber);
constexpr uint16_t kPunctuation = Bit(unicode::kPunctuation);
constexpr uint16_t kSpace = 0x100;

struct Text {
  const std::vector<uint32_t>& cps;
  std::vector<uint16_t> bits;
};

// One piece [begin, end) of the text being split into words (appended to
// `out` as lengths). Words are emitted in order, each from where the last
// one ended.
class Piece {
 public:
  Piece(const Text& text, size_t begin, size_t end, std::vector<size_t>* out)
      : text_(text), end_(end), pos_(begin), out_(out) {}

  size_t pos() const { return pos_; }
  bool done() const { return pos_ >= end_; }
  bool inside(size_t p) const { return p < end_; }
  // The code point at `p`, or a value no code point has beyond the end.
  uint32_t cp(size_t p) const { return p < end_ ? text_.cps[p] : 0xFFFFFFFF; }
  uint16_t bits(size_t p) const { return p < end_ ? text_.bits[p] : 0; }
  // Ends the current word at `to` (nothing when it would be empty).
  void Emit(size_t to) {
    if (to > pos_) out_->push_back(to - pos_);
    pos_ = to;
  }

 private:
  const Text& text_;
  const size_t end_;
  size_t pos_;
  std::vector<size_t>* out_;
};

// ASCII lowercase: the only case folding the contractions need (checked for
// all of Unicode by scripts/llm/make_unicode_tables.py).
uint32_t Lower(uint32_t c) { return c >= 'A' && c <= 'Z' ? c + 32 : c; }

// Length of the contraction ('s 't 'm 'd 're 've 'll) at the piece's
// position, or 0.
size_t Contraction(const Piece& p, bool any_case) {
  const size_t pos = p.pos();
  if (p.cp(pos) != '\'' || !p.inside(pos + 1)) return 0;
  auto fold = [&](uint32_t c) { return any_case ? Lower(c) : c; };
  const uint32_t a = fold(p.cp(pos + 1));
  if (a == 's' || a == 't' || a == 'm' || a == 'd') return 2;
  if (!p.inside(pos + 2)) return 0;
  const uint32_t b = fold(p.cp(pos + 2));
  return (a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l') ? 3 : 0;
}

// Whitespace at the piece's position: GPT-2's \s+(?!\S)|\s+ (a run followed
// by more text gives up its last character to the next word). Returns
// false when there is no whitespace there.
bool SplitSpaces(Piece& p) {
  const size_t pos = p.pos();
  size_t n = 0;
  while (p.bits(pos + n) & kSpace) ++n;
  if (n > 1 && p.inside(pos + n)) {
    p.Emit(pos + n - 1);
  } else if (n > 0) {
    p.Emit(pos + n);
  } else {
    return false;
  }
  return true;
}

// 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
// as llama.cpp's unicode_regex_split_custom_gpt2 reads it.
void SplitGpt2(const Text& text, size_t begin, size_t end, std::vector<size_t>* out) {
  Piece p(text, begin, end, out);
  while (!p.done()) {
    const size_t pos = p.pos();
    if (size_t n = Contraction(p, false)) {
      p.Emit(pos + n);
      continue;
    }
    const bool space = p.cp(pos) == ' ';
    const uint16_t next = space ? p.bits(pos + 1) : p.bits(pos);
    size_t q = pos + space;
    if (next & kLetter) {
      while (p.bits(q) & kLetter) ++q;
    } else if (next & kNumber) {
      while (p.bits(q) & kNumber) ++q;
    } else if (!(next & (kSpace | kLetter | kNumber)) && next != 0) {
      while (!(p.bits(q) & (kSpace | kLetter | kNumber)) && p.bits(q) != 0) ++q;
    } else if (SplitSpaces(p)) {
      continue;
    } else {
      q = pos + 1;
    }
    p.Emit(q);
  }
}

// Llama 3's expression and its relatives, as llama.cpp's custom splitters
// read them:
//   (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|
//   ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
// Qwen 2 takes one digit at a time; Qwen 3.5 also counts combining marks
// (\p{M}) as word characters.
void SplitLlama3(const Text& text, size_t begin, size_t end, size_t max_digits, bool marks, std::vector<size_t>* out) {
  const uint16_t word = marks ? kLetter | kMark : kLetter;
  const uint16_t not_symbol = kSpace | kNumber | word;
  Piece p(text, begin, end, out);
  while (!p.done()) {
    const size_t pos = p.pos();
    const uint32_t c = p.cp(pos);
    const uint16_t bits = p.bits(pos);
    if (size_t n = Contraction(p, true)) {
      p.Emit(pos + n);
      continue;
    }
    if (c != '\r' && c != '\n' && !(bits & kNumber) && ((bits & word) || (p.bits(pos + 1) & word))) {
      size_t q = pos + 1;
      while (p.bits(q) & word) ++q;
      p.Emit(q);
      continue;
    }
    if (bits & kNumber) {
      size_t q = pos;
      while (p.bits(q) & kNumber) {
        ++q;
        if (q - p.pos() >= max_digits) p.Emit(q);
      }
      p.Emit(q);
      continue;
    }
    const bool space = c == ' ';
    const uint16_t next = space ? p.bits(pos + 1) : bits;
    // llama.cpp tests the first character's flags here, not the next one's.
    if (!(next & not_symbol) && bits != 0) {
      size_t q = pos + space;
      while (!(p.bits(q) & not_symbol) && p.bits(q) != 0) ++q;
      while (p.cp(q) == '\r' || p.cp(q) == '\n') ++q;
      p.Emit(q);
      continue;
    }
    size_t n = 0;
    size_t after_newline = 0;
    while (p.bits(pos + n) & kSpace) {
      if (p.cp(pos + n) == '\r' || p.cp(pos + n) == '\n') after_newline = pos + n + 1;
      ++n;
    }
    if (after_newline > 0) {
      p.Emit(after_newline);
    } else if (n > 1 && p.inside(pos + n)) {
      p.Emit(pos + n - 1);
    } else {
      p.Emit(pos + (n > 0 ? n : 1));
    }
  }
}

// One regular expression applied the way llama.cpp applies those it has no
// splitter for (std::regex_iterator over the piece): each match is a word,
// and so is the text between matches. `match(pos, end)` is the length of
// the match starting at `pos` (0 for none); the leftmost match wins.
template <typename Match>
void SplitMatches(size_t begin, size_t end, const Match& match, std::vector<size_t>* out) {
  size_t gap = begin;
  size_t pos = begin;
  while (pos < end) {
    const size_t n = match(pos, end);
    if (n == 0) {
      ++pos;
      continue;
    }
    if (pos > gap) out->push_back(pos - gap);
    out->push_back(n);
    pos += n;
    gap = pos;
  }
  if (end > gap) out->push_back(end - gap);
}

// Matchers for SplitMatches over a predicate on a code point and its bits.
template <typename Pred>
auto RunOf(const Text& text, Pred pred) {  // [class]+
  return [&text, pred](size_t pos, size_t end) {
    size_t q = pos;
    while (q < end && pred(text.cps[q], text.bits[q])) ++q;
    return q - pos;
  };
}
template <typename Pred>
auto OneOf(const Text& text, Pred pred) {  // [class]
  return [&text, pred](size_t pos, size_t) -> size_t { return pred(text.cps[pos], text.bits[pos]) ? 1 : 0; };
}
template <typename Pred>
auto SpaceThenRunOf(const Text& text, Pred pred) {  // \s?[class]+ (the class holds no whitespace)
  return [&text, pred](size_t pos, size_t end) {
    size_t q = pos;
    if ((text.bits[q] & kSpace) && q + 1 < end && pred(text.cps[q + 1], text.bits[q + 1])) ++q;
    const size_t first = q;
    while (q < end && pred(text.cps[q], text.bits[q])) ++q;
    return q == first ? 0 : q - pos;
  };
}

bool IsDigit(uint32_t c) { return c >= '0' && c <= '9'; }

// [\p{P}\$\+<=>\^~\|] (and `extra`, Falcon's backquote).
auto PunctuationRun(const Text& text, uint32_t extra) {
  return RunOf(text, [extra](uint32_t c, uint16_t bits) {
    return (bits & kPunctuation) || c == '$' || c == '+' || c == '<' || c == '=' || c == '>' || c == '^' || c == '~' ||
           c == '|' || (extra != 0 && c == extra);
  });
}

// [0-9][0-9][0-9]
auto DigitTriple(const Text& text) {
  return [&text](size_t pos, size_t end) -> size_t {
    return pos + 2 < end && IsDigit(text.cps[pos]) && IsDigit(text.cps[pos + 1]) && IsDigit(text.cps[pos + 2]) ? 3 : 0;
  };
}

// [一-龥ࠀ-一가-퟿]: U+0800..U+9FA5 and U+AC00..U+D7FF. llama.cpp matches this
// on code points with non-ASCII whitespace replaced by \v, so U+3000 and
// its kind are not in it.
bool IsCjk(uint32_t c, uint16_t bits) {
  return !(bits & kSpace) && ((c >= 0x800 && c <= 0x9FA5) || (c >= 0xAC00 && c <= 0xD7FF));
}

bool HasBits(uint16_t bits, uint16_t want) { return (bits & want) != 0; }

struct CodepointSpan {
  uint32_t first;
  uint32_t last;
};

bool InSpans(uint32_t c, const CodepointSpan* spans, size_t count) {
  const CodepointSpan* end = spans + count;
  const CodepointSpan* it =
      std::upper_bound(spans, end, c, [](uint32_t v, const CodepointSpan& s) { return v < s.first; });
  return it != spans && c <= (it - 1)->last;
}

// The letter class of DeepSeek LLM's pre-tokenizer (its tokenizer.json,
// as llama.cpp writes it: [A-Za-zµÀ-ÖØ-öø-ƺ...𞤀-𞥃]), sorted.
constexpr CodepointSpan kDeepseekLetters[] = {
    {0x41, 0x5A},       {0x61, 0x7A},       {0xB5, 0xB5},       {0xC0, 0xD6},       {0xD8, 0xF6},
    {0xF8, 0x1BA},      {0x1BC, 0x1BF},     {0x1C4, 0x293},     {0x295, 0x2AF},     {0x370, 0x373},
    {0x376, 0x377},     {0x37B, 0x37D},     {0x37F, 0x37F},     {0x386, 0x386},     {0x388, 0x38A},
    {0x38C, 0x38C},     {0x38E, 0x3A1},     {0x3A3, 0x3F5},     {0x3F7, 0x481},     {0x48A, 0x52F},
    {0x531, 0x556},     {0x10A0, 0x10C5},   {0x13A0, 0x13F5},   {0x13F8, 0x13FD},   {0x1C90, 0x1CBA},
    {0x1CBD, 0x1CBF},   {0x1D00, 0x1D2B},   {0x1D6B, 0x1D77},   {0x1D79, 0x1D9A},   {0x1E00, 0x1F15},
    {0x1F18, 0x1F1D},   {0x1F20, 0x1F45},   {0x1F48, 0x1F4D},   {0x1F50, 0x1F57},   {0x1F59, 0x1F59},
    {0x1F5B, 0x1F5B},   {0x1F5D, 0x1F5D},   {0x1F5F, 0x1F7D},   {0x1F80, 0x1FB4},   {0x1FB6, 0x1FBC},
    {0x1FBE, 0x1FBE},   {0x1FC2, 0x1FC4},   {0x1FC6, 0x1FCC},   {0x1FD0, 0x1FD3},   {0x1FD6, 0x1FDB},
    {0x1FE0, 0x1FEC},   {0x1FF2, 0x1FF4},   {0x1FF6, 0x1FFC},   {0x2102, 0x2102},   {0x2107, 0x2107},
    {0x210A, 0x2113},   {0x2115, 0x2115},   {0x2119, 0x211D},   {0x2124, 0x2124},   {0x2126, 0x2126},
    {0x2128, 0x2128},   {0x212A, 0x212D},   {0x212F, 0x2134},   {0x2139, 0x2139},   {0x213C, 0x213F},
    {0x2145, 0x2149},   {0x214E, 0x214E},   {0x2183, 0x2184},   {0x2C00, 0x2C7B},   {0x2C7E, 0x2CE4},
    {0x2CEB, 0x2CEE},   {0x2CF2, 0x2CF3},   {0xA640, 0xA66D},   {0xA680, 0xA69B},   {0xA722, 0xA76F},
    {0xA771, 0xA787},   {0xA78B, 0xA78E},   {0xAB70, 0xABBF},   {0xFB00, 0xFB06},   {0xFB13, 0xFB17},
    {0xFF21, 0xFF3A},   {0xFF41, 0xFF5A},   {0x10400, 0x1044F}, {0x104B0, 0x104D3}, {0x104D8, 0x104FB},
    {0x10C80, 0x10CB2}, {0x10CC0, 0x10CF2}, {0x118A0, 0x118DF}, {0x1E900, 0x1E943},
};
// Its punctuation class: [!-/:-~！-／：-～‘-‟　-。], sorted.
constexpr CodepointSpan kDeepseekPunctuation[] = {{0x21, 0x2F},     {0x3A, 0x7E},     {0x2018, 0x201F},
                                                  {0x3000, 0x3002}, {0xFF01, 0xFF0F}, {0xFF1A, 0xFF5E}};

// llama.cpp matches these classes on code points with non-ASCII whitespace
// replaced by \v, so a space character is never in them.
bool IsDeepseekLetter(uint32_t c, uint16_t bits) {
  return !(bits & kSpace) && InSpans(c, kDeepseekLetters, std::size(kDeepseekLetters));
}
bool IsDeepseekPunctuation(uint32_t c, uint16_t bits) {
  return !(bits & kSpace) && InSpans(c, kDeepseekPunctuation, std::size(kDeepseekPunctuation));
}

// \s+$: the whitespace at the end of a piece is a word of its own.
void SplitTrailingSpaces(const Text& text, size_t begin, size_t end, std::vector<size_t>* out) {
  size_t start = end;
  while (start > begin && (text.bits[start - 1] & kSpace)) --start;
  if (start > begin) out->push_back(start - begin);
  if (end > start) out->push_back(end - start);
}

}  // namespace

std::vector<size_t> PreTokenize(PreTokenizerKind kind, const std::vector<uint32_t>& cps) {
  if (cps.empty()) return {};
  Text text{cps, std::vector<uint16_t>(cps.size())};
  for (size_t i = 0; i < cps.size(); ++i) {
    const uint8_t flags = unicode::Flags(cps[i]);
    text.bits[i] = Bit(static_cast<unicode::Category>(flags & unicode::kCategoryMask)) |
                   ((flags & unicode::kWhitespace) ? kSpace : 0);
  }
  std::vector<size_t> words{cps.size()};
  // Applies one expression to every piece so far.
  auto apply = [&](const auto& split) {
    std::vector<size_t> next;
    next.reserve(words.size() * 2);
    size_t start = 0;
    for (size_t n : words) {
      split(start, start + n, &next);
      start += n;
    }
    words = std::move(next);
  };
  auto matches = [&](const auto& match) {
    apply([&](size_t b, size_t e, std::vector<size_t>* out) { SplitMatches(b, e, match, out); });
  };
  auto gpt2 = [&](size_t b, size_t e, std::vector<size_t>* out) { SplitGpt2(text, b, e, out); };
  auto numbers = [](uint32_t, uint16_t bits) { return HasBits(bits, kNumber); };
  switch (kind) {
    case PreTokenizerKind::kDefault:
      matches(PunctuationRun(text, 0));
      apply(gpt2);
      matches(RunOf(text, numbers));
      matches(DigitTriple(text));
      break;
    case PreTokenizerKind::kGpt2:
      apply(gpt2);
      break;
    case PreTokenizerKind::kLlama3:
    case PreTokenizerKind::kQwen2:
    case PreTokenizerKind::kQwen35: {
      const size_t digits = kind == PreTokenizerKind::kLlama3 ? 3 : 1;
      const bool marks = kind == PreTokenizerKind::kQwen35;
      apply([&](size_t b, size_t e, std::vector<size_t>* out) { SplitLlama3(text, b, e, digits, marks, out); });
      break;
    }
    case PreTokenizerKind::kStarcoder:
      matches(OneOf(text, numbers));
      apply(gpt2);
      break;
    case PreTokenizerKind::kFalcon:
      matches(PunctuationRun(text, '`'));
      apply(gpt2);
      matches(DigitTriple(text));
      break;
    case PreTokenizerKind::kDeepseekCoder:
      matches(OneOf(text, [](uint32_t c, uint16_t) { return c == '\r' || c == '\n'; }));
      matches(SpaceThenRunOf(text, [](uint32_t, uint16_t bits) { return HasBits(bits, kLetter); }));
      matches(SpaceThenRunOf(text, [](uint32_t, uint16_t bits) { return HasBits(bits, kPunctuation); }));
      matches(RunOf(text, IsCjk));
      matches(OneOf(text, numbers));
      break;
    case PreTokenizerKind::kDeepseekLlm:
      matches(OneOf(text, [](uint32_t c, uint16_t) { return c == '\r' || c == '\n'; }));
      matches(SpaceThenRunOf(text, IsDeepseekLetter));
      matches(SpaceThenRunOf(text, IsDeepseekPunctuation));
      apply([&](size_t b, size_t e, std::vector<size_t>* out) { SplitTrailingSpaces(text, b, e, out); });
      matches(RunOf(text, IsCjk));
      matches(RunOf(text, numbers));
      break;
  }
  return words;
}

}  // namespace berth::llm
