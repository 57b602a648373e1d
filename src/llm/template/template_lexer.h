// The chat-template lexer: source text to tokens, with the whitespace rules
// HuggingFace transformers renders chat templates with (trim_blocks and
// lstrip_blocks on, as @huggingface/jinja applies them: one trailing newline
// of the template dropped, `{%-`/`-%}` and friends) and transformers'
// `{% generation %}` tags removed.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace berth::llm {

enum class TemplateTokenType {
  kText,
  kNumber,  // digits, possibly with a fraction and a leading sign
  kString,  // the value, escapes resolved
  kIdentifier,
  kEquals,
  kOpenParen,
  kCloseParen,
  kOpenStatement,
  kCloseStatement,
  kOpenExpression,
  kCloseExpression,
  kOpenSquare,
  kCloseSquare,
  kOpenCurly,
  kCloseCurly,
  kComma,
  kDot,
  kColon,
  kPipe,
  kAdditive,        // + - ~
  kMultiplicative,  // * / // %
  kPower,           // **
  kComparison,      // < > <= >= == !=
  kUnary,           // a sign not followed by digits
  kComment,
};

struct TemplateToken {
  TemplateTokenType type;
  std::string value;
  size_t offset = 0;  // where the token starts in the original source
};

// "line L, column C" (both from 1; columns count bytes) of `offset`.
std::string TemplateLocation(std::string_view source, size_t offset);

core::Result<std::vector<TemplateToken>> TokenizeTemplate(std::string_view source);

}  // namespace berth::llm
