// The syntax tree of a chat template: one node type for statements and
// expressions. What each kind keeps in `children`:
//
//   kText        -                        (the text in `name`)
//   kIf          [test]                   body, otherwise
//   kFor         [target, iterable, condition or null]  body, otherwise (the for's else)
//   kSet         [target, value or null]  body (a block set, when value is null)
//   kMacro       parameters (kIdentifier, or kKeywordArgument with the default)  body
//   kFilterBlock [filter: kFilter with a null operand]  body
//   kLiteral     -                        (the value in `value`)
//   kIdentifier  -                        (`name`)
//   kList, kTuple  items;  kDict  key, value, key, value, ...
//   kMember      [object, key]            (obj[key]; obj.name is a string key)
//   kSlice       [object, start, stop, step]  (each of the last three may be null)
//   kCall        [callee, arguments...]   (kKeywordArgument for name=value)
//   kKeywordArgument [value]              (`name`)
//   kUnary       [operand]                (operator in `name`: not - +)
//   kBinary      [left, right]            (operator in `name`)
//   kFilter      [operand, arguments...]  (filter name in `name`)
//   kTest        [operand]                (test name in `name`; `negated`)
//   kSelect      [value, condition]       (`value if condition` without else)
//   kTernary     [condition, if true, if false]
//
// Any expression in a body is output (`{{ expression }}`).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "llm/template/template_value.h"

namespace berth::llm {

enum class TemplateNodeKind {
  kText,
  kIf,
  kFor,
  kSet,
  kMacro,
  kFilterBlock,
  kBreak,
  kContinue,
  kComment,
  kLiteral,
  kIdentifier,
  kList,
  kTuple,
  kDict,
  kMember,
  kSlice,
  kCall,
  kKeywordArgument,
  kUnary,
  kBinary,
  kFilter,
  kTest,
  kSelect,
  kTernary,
};

struct TemplateNode;
using TemplateNodePtr = std::unique_ptr<TemplateNode>;

struct TemplateNode {
  TemplateNodeKind kind;
  size_t offset = 0;  // in the template source, for messages
  std::string name;
  TemplateValue value;
  bool negated = false;
  int height = 1;  // the longest path to a leaf, bounded by the parser
  std::vector<TemplateNodePtr> children;
  std::vector<TemplateNodePtr> body;
  std::vector<TemplateNodePtr> otherwise;
};

}  // namespace berth::llm
