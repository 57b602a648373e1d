#include "llm/template/template_lexer.h"

#include <array>
#include <cstdint>
#include <utility>

#include "llm/template/template_text.h"

namespace berth::llm {
namespace {

using template_text::WhitespaceAt;

// Text after a preprocessing step, with each byte's offset in the original
// source (and one more entry for the end).
struct MappedText {
  std::string text;
  std::vector<uint32_t> origin;

  void Append(const MappedText& from, size_t pos) {
    text.push_back(from.text[pos]);
    origin.push_back(from.origin[pos]);
  }
  void Finish(const MappedText& from) { origin.push_back(from.origin.back()); }
};

bool IsLineStart(std::string_view text, size_t pos) {
  if (pos == 0) return true;
  char previous = text[pos - 1];
  if (previous == '\n' || previous == '\r') return true;
  // U+2028 and U+2029 end lines too (E2 80 A8/A9).
  return pos >= 3 && text.substr(pos - 3, 2) == "\xE2\x80" && (text[pos - 1] == '\xA8' || text[pos - 1] == '\xA9');
}

bool IsBlockStart(std::string_view text, size_t pos) {
  return pos + 1 < text.size() && text[pos] == '{' &&
         (text[pos + 1] == '#' || text[pos + 1] == '%' || text[pos + 1] == '-');
}

// lstrip_blocks: spaces and tabs from the start of a line to a block tag go.
MappedText StripBlockIndent(const MappedText& in) {
  MappedText out;
  const std::string& text = in.text;
  for (size_t pos = 0; pos < text.size();) {
    if (IsLineStart(text, pos)) {
      size_t end = pos;
      while (end < text.size() && (text[end] == ' ' || text[end] == '\t')) ++end;
      if (end > pos && IsBlockStart(text, end)) pos = end;
      if (pos >= text.size()) break;
    }
    out.Append(in, pos++);
  }
  out.Finish(in);
  return out;
}

// trim_blocks: the newline right after `%}`, `#}` (or `-}`) goes.
MappedText TrimBlockNewlines(const MappedText& in) {
  MappedText out;
  const std::string& text = in.text;
  for (size_t pos = 0; pos < text.size(); ++pos) {
    bool after_block =
        pos >= 2 && text[pos - 1] == '}' && (text[pos - 2] == '#' || text[pos - 2] == '%' || text[pos - 2] == '-');
    if (text[pos] == '\n' && after_block) continue;
    out.Append(in, pos);
  }
  out.Finish(in);
  return out;
}

// If a `{% generation %}` or `{% endgeneration %}` tag starts at `pos`,
// returns its end and whether it strips on either side.
size_t MatchGenerationTag(std::string_view text, size_t pos, bool& strip_before, bool& strip_after) {
  if (text.substr(pos, 2) != "{%") return 0;
  size_t at = pos + 2;
  strip_before = at < text.size() && text[at] == '-';
  if (strip_before) ++at;
  while (size_t length = WhitespaceAt(text, at)) at += length;
  if (text.substr(at, 3) == "end") at += 3;
  if (text.substr(at, 10) != "generation") return 0;
  at += 10;
  while (size_t length = WhitespaceAt(text, at)) at += length;
  strip_after = at < text.size() && text[at] == '-';
  if (strip_after) ++at;
  if (text.substr(at, 2) != "%}") return 0;
  return at + 2;
}

// transformers' `{% generation %}` marks: removed, with the whitespace
// around them when they say `-`.
MappedText RemoveGenerationTags(const MappedText& in) {
  MappedText out;
  const std::string& text = in.text;
  size_t kept = 0;  // output before this is not to be stripped again
  for (size_t pos = 0; pos < text.size();) {
    bool strip_before = false, strip_after = false;
    size_t end = text[pos] == '{' ? MatchGenerationTag(text, pos, strip_before, strip_after) : 0;
    if (end == 0) {
      out.Append(in, pos++);
      continue;
    }
    if (strip_before) {
      std::string_view emitted(out.text);
      size_t trimmed = template_text::Trim(emitted.substr(kept), false, true).size() + kept;
      out.text.resize(trimmed);
      out.origin.resize(trimmed);
    }
    pos = end;
    if (strip_after) {
      while (size_t length = WhitespaceAt(text, pos)) pos += length;
    }
    kept = out.text.size();
  }
  out.Finish(in);
  return out;
}

MappedText Preprocess(std::string_view source) {
  MappedText mapped;
  if (!source.empty() && source.back() == '\n') source.remove_suffix(1);
  mapped.text.assign(source);
  mapped.origin.resize(source.size() + 1);
  for (size_t i = 0; i <= source.size(); ++i) mapped.origin[i] = static_cast<uint32_t>(i);
  return RemoveGenerationTags(TrimBlockNewlines(StripBlockIndent(mapped)));
}

bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool IsWordCharacter(char c) { return IsDigit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }

constexpr std::array<std::pair<std::string_view, TemplateTokenType>, 29> kSymbols{{
    {"{%", TemplateTokenType::kOpenStatement},  {"%}", TemplateTokenType::kCloseStatement},
    {"{{", TemplateTokenType::kOpenExpression}, {"}}", TemplateTokenType::kCloseExpression},
    {"(", TemplateTokenType::kOpenParen},       {")", TemplateTokenType::kCloseParen},
    {"{", TemplateTokenType::kOpenCurly},       {"}", TemplateTokenType::kCloseCurly},
    {"[", TemplateTokenType::kOpenSquare},      {"]", TemplateTokenType::kCloseSquare},
    {",", TemplateTokenType::kComma},           {".", TemplateTokenType::kDot},
    {":", TemplateTokenType::kColon},           {"|", TemplateTokenType::kPipe},
    {"<=", TemplateTokenType::kComparison},     {">=", TemplateTokenType::kComparison},
    {"==", TemplateTokenType::kComparison},     {"!=", TemplateTokenType::kComparison},
    {"<", TemplateTokenType::kComparison},      {">", TemplateTokenType::kComparison},
    {"+", TemplateTokenType::kAdditive},        {"-", TemplateTokenType::kAdditive},
    {"~", TemplateTokenType::kAdditive},        {"**", TemplateTokenType::kPower},
    {"*", TemplateTokenType::kMultiplicative},  {"//", TemplateTokenType::kMultiplicative},
    {"/", TemplateTokenType::kMultiplicative},  {"%", TemplateTokenType::kMultiplicative},
    {"=", TemplateTokenType::kEquals},
}};

class Lexer {
 public:
  Lexer(std::string_view source, MappedText mapped) : source_(source), mapped_(std::move(mapped)) {}
  core::Result<std::vector<TemplateToken>> Run();

 private:
  const std::string& text() const { return mapped_.text; }
  bool At(std::string_view s) const { return std::string_view(text()).substr(pos_, s.size()) == s; }
  core::Status Error(std::string_view what, size_t pos) const {
    return core::InvalidArgument("chat template: {}: {}", TemplateLocation(source_, mapped_.origin[pos]), what);
  }
  void Push(TemplateTokenType type, std::string value, size_t start) {
    tokens_.push_back({type, std::move(value), mapped_.origin[start]});
  }
  TemplateTokenType LastType() const { return tokens_.back().type; }
  void StripTrailingWhitespace();
  void SkipWhitespace() {
    while (size_t length = WhitespaceAt(text(), pos_)) pos_ += length;
  }
  bool LexText();
  core::Status LexComment();
  core::Status LexString();
  core::Status LexEscape(std::string& out);
  std::string Digits();
  core::Status LexInTag();

  std::string_view source_;
  MappedText mapped_;
  size_t pos_ = 0;
  int curly_depth_ = 0;
  std::vector<TemplateToken> tokens_;
};

void Lexer::StripTrailingWhitespace() {
  if (tokens_.empty() || LastType() != TemplateTokenType::kText) return;
  std::string& value = tokens_.back().value;
  value.resize(template_text::Trim(value, false, true).size());
  if (value.empty()) tokens_.pop_back();
}

// Text up to the next `{%`, `{{` or `{#`; false when there is none here.
bool Lexer::LexText() {
  size_t start = pos_;
  while (pos_ < text().size() && !(At("{%") || At("{{") || At("{#"))) ++pos_;
  if (pos_ == start) return false;
  Push(TemplateTokenType::kText, text().substr(start, pos_ - start), start);
  return true;
}

core::Status Lexer::LexComment() {
  size_t start = pos_;
  pos_ += 2;
  bool strip_before = pos_ < text().size() && text()[pos_] == '-';
  if (strip_before) ++pos_;
  size_t end = text().find("#}", pos_);
  if (end == std::string::npos) return Error("comment is not closed", start);
  bool strip_after = end > pos_ && text()[end - 1] == '-';
  if (strip_before) StripTrailingWhitespace();
  Push(TemplateTokenType::kComment, text().substr(pos_, end - pos_ - (strip_after ? 1 : 0)), start);
  pos_ = end + 2;
  if (strip_after) SkipWhitespace();
  return core::Status::Ok();
}

core::Status Lexer::LexEscape(std::string& out) {
  size_t start = pos_++;
  if (pos_ >= text().size()) return Error("string is not closed", start);
  char c = text()[pos_++];
  if (c == 'x' || c == 'u') {
    size_t length = c == 'x' ? 2 : 4;
    uint32_t code = 0;
    for (size_t i = 0; i < length; ++i, ++pos_) {
      char h = pos_ < text().size() ? text()[pos_] : '\0';
      int digit = IsDigit(h) ? h - '0' : (h | 0x20) >= 'a' && (h | 0x20) <= 'f' ? (h | 0x20) - 'a' + 10 : -1;
      if (digit < 0) return Error("bad hexadecimal escape in string", start);
      code = code * 16 + digit;
    }
    // A UTF-16 surrogate pair written as two \u escapes is one character.
    if (code >= 0xD800 && code < 0xDC00 && At("\\u")) {
      size_t saved = pos_;
      std::string low;
      RETURN_IF_ERROR(LexEscape(low));
      if (low.size() == 3 && static_cast<unsigned char>(low[0]) == 0xED && (low[1] & 0xF0) == 0xB0) {
        uint32_t low_code = ((low[1] & 0x0F) << 6 | (low[2] & 0x3F)) + 0xDC00;
        template_text::AppendCodePoint(out, 0x10000 + ((code - 0xD800) << 10) + (low_code - 0xDC00));
        return core::Status::Ok();
      }
      pos_ = saved;
    }
    if (code >= 0xD800 && code < 0xE000) {
      // A lone surrogate is not text: as what a UTF-8 encoder makes of it.
      code = 0xFFFD;
    }
    template_text::AppendCodePoint(out, code);
    return core::Status::Ok();
  }
  static constexpr std::string_view kFrom = "ntrbfv'\"\\", kTo = "\n\t\r\b\f\v'\"\\";
  size_t which = kFrom.find(c);
  if (which == std::string_view::npos) {
    out.push_back('\\');  // as Python keeps an unknown escape
    out.push_back(c);
  } else {
    out.push_back(kTo[which]);
  }
  return core::Status::Ok();
}

core::Status Lexer::LexString() {
  size_t start = pos_;
  char quote = text()[pos_++];
  std::string value;
  while (true) {
    if (pos_ >= text().size()) return Error("string is not closed", start);
    char c = text()[pos_];
    if (c == quote) break;
    if (c == '\\') {
      RETURN_IF_ERROR(LexEscape(value));
    } else {
      value.push_back(c);
      ++pos_;
    }
  }
  ++pos_;
  Push(TemplateTokenType::kString, std::move(value), start);
  return core::Status::Ok();
}

// Digits, with a fraction when a digit follows the dot.
std::string Lexer::Digits() {
  size_t start = pos_;
  while (pos_ < text().size() && IsDigit(text()[pos_])) ++pos_;
  bool after_dot = !tokens_.empty() && LastType() == TemplateTokenType::kDot;
  if (!after_dot && pos_ > start && At(".") && pos_ + 1 < text().size() && IsDigit(text()[pos_ + 1])) {
    ++pos_;
    while (pos_ < text().size() && IsDigit(text()[pos_])) ++pos_;
  }
  return text().substr(start, pos_ - start);
}

core::Status Lexer::LexInTag() {
  size_t start = pos_;
  char c = text()[pos_];
  if (c == '-' || c == '+') {
    if (tokens_.empty() || LastType() == TemplateTokenType::kText) return Error("unexpected sign", start);
    TemplateTokenType last = LastType();
    bool binary = last == TemplateTokenType::kIdentifier || last == TemplateTokenType::kNumber ||
                  last == TemplateTokenType::kString || last == TemplateTokenType::kCloseParen ||
                  last == TemplateTokenType::kCloseSquare;
    if (!binary) {
      ++pos_;
      std::string digits = Digits();
      Push(digits.empty() ? TemplateTokenType::kUnary : TemplateTokenType::kNumber, c + digits, start);
      return core::Status::Ok();
    }
  }
  for (const auto& [symbol, type] : kSymbols) {
    if (symbol == "}}" && curly_depth_ > 0) continue;
    if (!At(symbol)) continue;
    if (type == TemplateTokenType::kOpenExpression) curly_depth_ = 0;
    if (type == TemplateTokenType::kOpenCurly) ++curly_depth_;
    if (type == TemplateTokenType::kCloseCurly) --curly_depth_;
    Push(type, std::string(symbol), start);
    pos_ += symbol.size();
    return core::Status::Ok();
  }
  if (c == '\'' || c == '"') return LexString();
  if (IsDigit(c)) {
    std::string digits = Digits();
    Push(TemplateTokenType::kNumber, std::move(digits), start);
    return core::Status::Ok();
  }
  if (IsWordCharacter(c)) {
    while (pos_ < text().size() && IsWordCharacter(text()[pos_])) ++pos_;
    Push(TemplateTokenType::kIdentifier, text().substr(start, pos_ - start), start);
    return core::Status::Ok();
  }
  return Error("unexpected character '" + std::string(1, c) + "'", start);
}

core::Result<std::vector<TemplateToken>> Lexer::Run() {
  while (pos_ < text().size()) {
    bool outside = tokens_.empty() || LastType() == TemplateTokenType::kCloseStatement ||
                   LastType() == TemplateTokenType::kCloseExpression || LastType() == TemplateTokenType::kComment;
    if (outside && LexText()) continue;
    if (At("{#")) {
      RETURN_IF_ERROR(LexComment());
      continue;
    }
    if (At("{%-") || At("{{-")) {
      StripTrailingWhitespace();
      bool statement = text()[pos_ + 1] == '%';
      Push(statement ? TemplateTokenType::kOpenStatement : TemplateTokenType::kOpenExpression, statement ? "{%" : "{{",
           pos_);
      if (!statement) curly_depth_ = 0;
      pos_ += 3;
      continue;
    }
    SkipWhitespace();
    if (pos_ >= text().size()) break;
    if (At("-%}") || At("-}}")) {
      bool statement = text()[pos_ + 1] == '%';
      Push(statement ? TemplateTokenType::kCloseStatement : TemplateTokenType::kCloseExpression,
           statement ? "%}" : "}}", pos_);
      pos_ += 3;
      SkipWhitespace();
      continue;
    }
    RETURN_IF_ERROR(LexInTag());
  }
  return std::move(tokens_);
}

}  // namespace

std::string TemplateLocation(std::string_view source, size_t offset) {
  size_t line = 1, column = 1;
  for (size_t i = 0; i < offset && i < source.size(); ++i) {
    if (source[i] == '\n') {
      ++line;
      column = 1;
    } else {
      ++column;
    }
  }
  return "line " + std::to_string(line) + ", column " + std::to_string(column);
}

core::Result<std::vector<TemplateToken>> TokenizeTemplate(std::string_view source) {
  Lexer lexer(source, Preprocess(source));
  return lexer.Run();
}

}  // namespace berth::llm
