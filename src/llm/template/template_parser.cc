#include "llm/template/template_parser.h"

#include <algorithm>
#include <charconv>
#include <initializer_list>
#include <utility>

namespace berth::llm {
namespace {

using Kind = TemplateNodeKind;
using Type = TemplateTokenType;

class Parser {
 public:
  Parser(std::string_view source, const std::vector<TemplateToken>& tokens, int max_height)
      : source_(source), tokens_(tokens), max_height_(max_height) {}

  core::Result<std::vector<TemplateNodePtr>> Run() {
    std::vector<TemplateNodePtr> program;
    while (current_ < tokens_.size()) {
      ASSIGN_OR_RETURN(auto node, ParseAny());
      program.push_back(std::move(node));
    }
    return program;
  }

 private:
  using NodeResult = core::Result<TemplateNodePtr>;

  // Counts the parser's recursion: bounded like the tree's height.
  class Descent {
   public:
    explicit Descent(Parser& parser) : parser_(parser) { ++parser_.depth_; }
    ~Descent() { --parser_.depth_; }
    bool too_deep() const { return parser_.depth_ > parser_.max_height_; }

   private:
    Parser& parser_;
  };

  size_t Offset() const { return current_ < tokens_.size() ? tokens_[current_].offset : source_.size(); }
  core::Status Error(std::string_view what) const {
    return core::InvalidArgument("chat template: {}: {}", TemplateLocation(source_, Offset()), what);
  }
  core::Status TooDeep() const {
    return core::InvalidArgument("chat template: {}: nested deeper than {} levels", TemplateLocation(source_, Offset()),
                                 max_height_);
  }
  bool Is(Type type, size_t ahead = 0) const {
    return current_ + ahead < tokens_.size() && tokens_[current_ + ahead].type == type;
  }
  bool IsIdentifier(std::string_view name, size_t ahead = 0) const {
    return Is(Type::kIdentifier, ahead) && tokens_[current_ + ahead].value == name;
  }
  bool IsStatement(std::initializer_list<std::string_view> names) const {
    if (!Is(Type::kOpenStatement) || !Is(Type::kIdentifier, 1)) return false;
    return std::find(names.begin(), names.end(), tokens_[current_ + 1].value) != names.end();
  }
  core::Status Expect(Type type, std::string_view what) {
    if (!Is(type)) return Error(std::string("expected ") + std::string(what));
    ++current_;
    return core::Status::Ok();
  }
  core::Status ExpectEnd(std::string_view keyword) {
    if (!Is(Type::kOpenStatement) || !IsIdentifier(keyword, 1)) {
      return Error("expected {% " + std::string(keyword) + " %}");
    }
    current_ += 2;
    return Expect(Type::kCloseStatement, "'%}'");
  }

  // A node of `kind` over `children`, its height checked.
  NodeResult Make(Kind kind, size_t offset, std::vector<TemplateNodePtr> children, std::string name = {}) {
    auto node = std::make_unique<TemplateNode>();
    node->kind = kind;
    node->offset = offset;
    node->name = std::move(name);
    node->children = std::move(children);
    return Finish(std::move(node));
  }
  NodeResult Finish(TemplateNodePtr node) {
    int height = 0;
    for (const auto* list : {&node->children, &node->body, &node->otherwise}) {
      for (const auto& child : *list) {
        if (child) height = std::max(height, child->height);
      }
    }
    node->height = height + 1;
    if (node->height > max_height_) return TooDeep();
    return node;
  }
  template <typename... Nodes>
  static std::vector<TemplateNodePtr> List(Nodes&&... nodes) {
    std::vector<TemplateNodePtr> list;
    (list.push_back(std::move(nodes)), ...);
    return list;
  }

  NodeResult ParseAny();
  NodeResult ParseStatement();
  core::Status ParseBody(std::vector<TemplateNodePtr>& body, std::initializer_list<std::string_view> until);
  NodeResult ParseSet(size_t offset);
  NodeResult ParseIf(size_t offset);
  NodeResult ParseFor(size_t offset);
  NodeResult ParseMacro(size_t offset);
  NodeResult ParseFilterBlock(size_t offset);
  NodeResult ParseSequence(bool primary);
  NodeResult ParseExpression();
  NodeResult ParseOr();
  NodeResult ParseAnd();
  NodeResult ParseNot();
  NodeResult ParseComparison();
  NodeResult ParseBinaryLevel(Type type, NodeResult (Parser::*operand)());
  NodeResult ParseTest();
  NodeResult ParseFilter();
  NodeResult ParseSign();
  NodeResult ParsePostfix(TemplateNodePtr node);
  core::Status ParseArguments(std::vector<TemplateNodePtr>& out, bool parameters);
  NodeResult ParseSubscript(TemplateNodePtr object, size_t offset);
  NodeResult ParsePrimary();
  NodeResult ParseCollection(Type close, Kind kind, bool pairs, size_t offset);

  std::string_view source_;
  const std::vector<TemplateToken>& tokens_;
  int max_height_;
  size_t current_ = 0;
  int depth_ = 0;
};

Parser::NodeResult Parser::ParseAny() {
  Descent descent(*this);
  if (descent.too_deep()) return TooDeep();
  const TemplateToken& token = tokens_[current_];
  switch (token.type) {
    case Type::kComment:
      ++current_;
      return Make(Kind::kComment, token.offset, {});
    case Type::kText:
      ++current_;
      return Make(Kind::kText, token.offset, {}, token.value);
    case Type::kOpenStatement:
      return ParseStatement();
    case Type::kOpenExpression: {
      ++current_;
      ASSIGN_OR_RETURN(auto expression, ParseExpression());
      RETURN_IF_ERROR(Expect(Type::kCloseExpression, "'}}'"));
      return expression;
    }
    default:
      return Error("unexpected '" + token.value + "'");
  }
}

core::Status Parser::ParseBody(std::vector<TemplateNodePtr>& body, std::initializer_list<std::string_view> until) {
  while (!IsStatement(until)) {
    if (current_ >= tokens_.size()) return Error("expected {% " + std::string(*until.begin()) + " %}");
    ASSIGN_OR_RETURN(auto node, ParseAny());
    body.push_back(std::move(node));
  }
  return core::Status::Ok();
}

Parser::NodeResult Parser::ParseStatement() {
  size_t offset = Offset();
  ++current_;  // {%
  if (!Is(Type::kIdentifier)) return Error("expected a statement name");
  std::string name = tokens_[current_++].value;
  if (name == "set") return ParseSet(offset);
  if (name == "if") {
    ASSIGN_OR_RETURN(auto node, ParseIf(offset));
    RETURN_IF_ERROR(ExpectEnd("endif"));
    return node;
  }
  if (name == "for") return ParseFor(offset);
  if (name == "macro") return ParseMacro(offset);
  if (name == "filter") return ParseFilterBlock(offset);
  if (name == "break" || name == "continue") {
    RETURN_IF_ERROR(Expect(Type::kCloseStatement, "'%}'"));
    return Make(name == "break" ? Kind::kBreak : Kind::kContinue, offset, {});
  }
  --current_;
  return Error("unknown statement '" + name + "'");
}

Parser::NodeResult Parser::ParseSet(size_t offset) {
  ASSIGN_OR_RETURN(auto target, ParseSequence(false));
  auto node = std::make_unique<TemplateNode>();
  node->kind = Kind::kSet;
  node->offset = offset;
  TemplateNodePtr value;
  if (Is(Type::kEquals)) {
    ++current_;
    ASSIGN_OR_RETURN(value, ParseSequence(false));
  } else {
    RETURN_IF_ERROR(Expect(Type::kCloseStatement, "'=' or '%}'"));
    RETURN_IF_ERROR(ParseBody(node->body, {"endset"}));
    current_ += 2;
  }
  RETURN_IF_ERROR(Expect(Type::kCloseStatement, "'%}'"));
  node->children = List(std::move(target), std::move(value));
  return Finish(std::move(node));
}

Parser::NodeResult Parser::ParseIf(size_t offset) {
  ASSIGN_OR_RETURN(auto test, ParseExpression());
  RETURN_IF_ERROR(Expect(Type::kCloseStatement, "'%}'"));
  auto node = std::make_unique<TemplateNode>();
  node->kind = Kind::kIf;
  node->offset = offset;
  node->children = List(std::move(test));
  RETURN_IF_ERROR(ParseBody(node->body, {"endif", "elif", "else"}));
  if (IsStatement({"elif"})) {
    size_t elif_offset = Offset();
    current_ += 2;
    Descent descent(*this);
    if (descent.too_deep()) return TooDeep();
    ASSIGN_OR_RETURN(auto nested, ParseIf(elif_offset));
    node->otherwise.push_back(std::move(nested));
  } else if (IsStatement({"else"})) {
    current_ += 2;
    RETURN_IF_ERROR(Expect(Type::kCloseStatement, "'%}'"));
    RETURN_IF_ERROR(ParseBody(node->otherwise, {"endif"}));
  }
  return Finish(std::move(node));
}

Parser::NodeResult Parser::ParseFor(size_t offset) {
  ASSIGN_OR_RETURN(auto target, ParseSequence(true));
  if (target->kind != Kind::kIdentifier && target->kind != Kind::kTuple) {
    return Error("expected a name or names for the loop variable");
  }
  if (!IsIdentifier("in")) return Error("expected 'in'");
  ++current_;
  ASSIGN_OR_RETURN(auto iterable, ParseExpression());
  TemplateNodePtr condition;
  if (iterable->kind == Kind::kSelect) {  // for x in xs if condition
    condition = std::move(iterable->children[1]);
    iterable = std::move(iterable->children[0]);
  }
  RETURN_IF_ERROR(Expect(Type::kCloseStatement, "'%}'"));
  auto node = std::make_unique<TemplateNode>();
  node->kind = Kind::kFor;
  node->offset = offset;
  node->children = List(std::move(target), std::move(iterable), std::move(condition));
  RETURN_IF_ERROR(ParseBody(node->body, {"endfor", "else"}));
  if (IsStatement({"else"})) {
    current_ += 2;
    RETURN_IF_ERROR(Expect(Type::kCloseStatement, "'%}'"));
    RETURN_IF_ERROR(ParseBody(node->otherwise, {"endfor"}));
  }
  RETURN_IF_ERROR(ExpectEnd("endfor"));
  return Finish(std::move(node));
}

Parser::NodeResult Parser::ParseMacro(size_t offset) {
  if (!Is(Type::kIdentifier)) return Error("expected the macro's name");
  auto node = std::make_unique<TemplateNode>();
  node->kind = Kind::kMacro;
  node->offset = offset;
  node->name = tokens_[current_++].value;
  RETURN_IF_ERROR(ParseArguments(node->children, true));
  RETURN_IF_ERROR(Expect(Type::kCloseStatement, "'%}'"));
  RETURN_IF_ERROR(ParseBody(node->body, {"endmacro"}));
  RETURN_IF_ERROR(ExpectEnd("endmacro"));
  return Finish(std::move(node));
}

Parser::NodeResult Parser::ParseFilterBlock(size_t offset) {
  if (!Is(Type::kIdentifier)) return Error("expected a filter name");
  const TemplateToken& name = tokens_[current_++];
  std::vector<TemplateNodePtr> children = List(TemplateNodePtr());
  if (Is(Type::kOpenParen)) RETURN_IF_ERROR(ParseArguments(children, false));
  ASSIGN_OR_RETURN(auto filter, Make(Kind::kFilter, name.offset, std::move(children), name.value));
  RETURN_IF_ERROR(Expect(Type::kCloseStatement, "'%}'"));
  auto node = std::make_unique<TemplateNode>();
  node->kind = Kind::kFilterBlock;
  node->offset = offset;
  node->children = List(std::move(filter));
  RETURN_IF_ERROR(ParseBody(node->body, {"endfilter"}));
  RETURN_IF_ERROR(ExpectEnd("endfilter"));
  return Finish(std::move(node));
}

// `a, b, c` is a tuple (targets of set and for, and what set assigns).
Parser::NodeResult Parser::ParseSequence(bool primary) {
  size_t offset = Offset();
  ASSIGN_OR_RETURN(auto first, primary ? ParsePrimary() : ParseExpression());
  if (!Is(Type::kComma)) return first;
  std::vector<TemplateNodePtr> items = List(std::move(first));
  while (Is(Type::kComma)) {
    ++current_;
    ASSIGN_OR_RETURN(auto item, primary ? ParsePrimary() : ParseExpression());
    items.push_back(std::move(item));
  }
  return Make(Kind::kTuple, offset, std::move(items));
}

Parser::NodeResult Parser::ParseExpression() {
  Descent descent(*this);
  if (descent.too_deep()) return TooDeep();
  size_t offset = Offset();
  ASSIGN_OR_RETURN(auto value, ParseOr());
  if (!IsIdentifier("if")) return value;
  ++current_;
  ASSIGN_OR_RETURN(auto condition, ParseOr());
  if (!IsIdentifier("else")) return Make(Kind::kSelect, offset, List(std::move(value), std::move(condition)));
  ++current_;
  ASSIGN_OR_RETURN(auto otherwise, ParseExpression());
  return Make(Kind::kTernary, offset, List(std::move(condition), std::move(value), std::move(otherwise)));
}

Parser::NodeResult Parser::ParseOr() {
  size_t offset = Offset();
  ASSIGN_OR_RETURN(auto left, ParseAnd());
  while (IsIdentifier("or")) {
    ++current_;
    ASSIGN_OR_RETURN(auto right, ParseAnd());
    ASSIGN_OR_RETURN(left, Make(Kind::kBinary, offset, List(std::move(left), std::move(right)), "or"));
  }
  return left;
}

Parser::NodeResult Parser::ParseAnd() {
  size_t offset = Offset();
  ASSIGN_OR_RETURN(auto left, ParseNot());
  while (IsIdentifier("and")) {
    ++current_;
    ASSIGN_OR_RETURN(auto right, ParseNot());
    ASSIGN_OR_RETURN(left, Make(Kind::kBinary, offset, List(std::move(left), std::move(right)), "and"));
  }
  return left;
}

Parser::NodeResult Parser::ParseNot() {
  if (!IsIdentifier("not")) return ParseComparison();
  Descent descent(*this);
  if (descent.too_deep()) return TooDeep();
  size_t offset = Offset();
  ++current_;
  ASSIGN_OR_RETURN(auto operand, ParseNot());
  return Make(Kind::kUnary, offset, List(std::move(operand)), "not");
}

// Membership and comparisons share one level, left to right.
Parser::NodeResult Parser::ParseComparison() {
  size_t offset = Offset();
  auto additive = [this] { return ParseBinaryLevel(Type::kAdditive, &Parser::ParseTest); };
  ASSIGN_OR_RETURN(auto left, additive());
  while (true) {
    std::string op;
    if (IsIdentifier("not") && IsIdentifier("in", 1)) {
      op = "not in";
      current_ += 2;
    } else if (IsIdentifier("in") || Is(Type::kComparison)) {
      op = tokens_[current_++].value;
    } else {
      break;
    }
    ASSIGN_OR_RETURN(auto right, additive());
    ASSIGN_OR_RETURN(left, Make(Kind::kBinary, offset, List(std::move(left), std::move(right)), op));
  }
  return left;
}

// + - ~ over * / // % over ** over tests: each level left-associative
// (`**` too, as in Jinja).
Parser::NodeResult Parser::ParseBinaryLevel(Type type, NodeResult (Parser::*operand)()) {
  size_t offset = Offset();
  auto next = [&]() -> NodeResult {
    if (type == Type::kAdditive) return ParseBinaryLevel(Type::kMultiplicative, operand);
    if (type == Type::kMultiplicative) return ParseBinaryLevel(Type::kPower, operand);
    return (this->*operand)();
  };
  ASSIGN_OR_RETURN(auto left, next());
  while (Is(type)) {
    std::string op = tokens_[current_++].value;
    ASSIGN_OR_RETURN(auto right, next());
    ASSIGN_OR_RETURN(left, Make(Kind::kBinary, offset, List(std::move(left), std::move(right)), op));
  }
  return left;
}

Parser::NodeResult Parser::ParseTest() {
  size_t offset = Offset();
  ASSIGN_OR_RETURN(auto operand, ParseFilter());
  while (IsIdentifier("is")) {
    ++current_;
    bool negated = IsIdentifier("not");
    if (negated) ++current_;
    if (!Is(Type::kIdentifier)) return Error("expected a test name after 'is'");
    std::string name = tokens_[current_++].value;
    ASSIGN_OR_RETURN(operand, Make(Kind::kTest, offset, List(std::move(operand)), name));
    operand->negated = negated;
  }
  return operand;
}

Parser::NodeResult Parser::ParseFilter() {
  size_t offset = Offset();
  ASSIGN_OR_RETURN(auto operand, ParseSign());
  while (Is(Type::kPipe)) {
    ++current_;
    if (!Is(Type::kIdentifier)) return Error("expected a filter name after '|'");
    std::string name = tokens_[current_++].value;
    std::vector<TemplateNodePtr> children = List(std::move(operand));
    if (Is(Type::kOpenParen)) RETURN_IF_ERROR(ParseArguments(children, false));
    ASSIGN_OR_RETURN(operand, Make(Kind::kFilter, offset, std::move(children), name));
  }
  return operand;
}

Parser::NodeResult Parser::ParseSign() {
  bool sign =
      (Is(Type::kUnary) || Is(Type::kAdditive)) && (tokens_[current_].value == "-" || tokens_[current_].value == "+");
  if (!sign) {
    ASSIGN_OR_RETURN(auto primary, ParsePrimary());
    return ParsePostfix(std::move(primary));
  }
  Descent descent(*this);
  if (descent.too_deep()) return TooDeep();
  size_t offset = Offset();
  std::string op = tokens_[current_++].value;
  ASSIGN_OR_RETURN(auto operand, ParseSign());
  return Make(Kind::kUnary, offset, List(std::move(operand)), op);
}

// Member access, subscripts, slices and calls after a primary.
Parser::NodeResult Parser::ParsePostfix(TemplateNodePtr node) {
  while (Is(Type::kDot) || Is(Type::kOpenSquare) || Is(Type::kOpenParen)) {
    size_t offset = Offset();
    if (Is(Type::kOpenParen)) {
      std::vector<TemplateNodePtr> children = List(std::move(node));
      RETURN_IF_ERROR(ParseArguments(children, false));
      ASSIGN_OR_RETURN(node, Make(Kind::kCall, offset, std::move(children)));
    } else if (Is(Type::kOpenSquare)) {
      ++current_;
      ASSIGN_OR_RETURN(node, ParseSubscript(std::move(node), offset));
    } else {
      ++current_;
      TemplateNodePtr key = std::make_unique<TemplateNode>();
      key->kind = Kind::kLiteral;
      key->offset = Offset();
      if (Is(Type::kIdentifier)) {
        key->value = TemplateValue::String(tokens_[current_].value);
      } else if (Is(Type::kNumber) && tokens_[current_].value.find_first_of(".-+") == std::string::npos) {
        int64_t index = 0;
        const std::string& digits = tokens_[current_].value;
        std::from_chars(digits.data(), digits.data() + digits.size(), index);
        key->value = TemplateValue::Int(index);
      } else {
        return Error("expected a name after '.'");
      }
      ++current_;
      ASSIGN_OR_RETURN(node, Make(Kind::kMember, offset, List(std::move(node), std::move(key))));
    }
  }
  return node;
}

// After '[': a key, or a slice start:stop:step with any part left out.
Parser::NodeResult Parser::ParseSubscript(TemplateNodePtr object, size_t offset) {
  std::vector<TemplateNodePtr> parts;
  bool slice = false;
  while (!Is(Type::kCloseSquare)) {
    if (current_ >= tokens_.size()) return Error("expected ']'");
    if (Is(Type::kColon)) {
      parts.emplace_back();
      ++current_;
      slice = true;
    } else {
      ASSIGN_OR_RETURN(auto part, ParseExpression());
      parts.push_back(std::move(part));
      if (Is(Type::kColon)) {
        ++current_;
        slice = true;
      }
    }
  }
  ++current_;
  if (parts.empty()) return Error("expected a key or a slice in '[]'");
  if (!slice) {
    if (parts.size() != 1) return Error("expected one key in '[]'");
    return Make(Kind::kMember, offset, List(std::move(object), std::move(parts[0])));
  }
  if (parts.size() > 3) return Error("a slice has at most three parts");
  parts.resize(3);
  parts.insert(parts.begin(), std::move(object));
  return Make(Kind::kSlice, offset, std::move(parts));
}

// `(a, b=c)`: positional arguments, then keyword arguments (or, for a
// macro's parameters, names, then names with defaults).
core::Status Parser::ParseArguments(std::vector<TemplateNodePtr>& out, bool parameters) {
  RETURN_IF_ERROR(Expect(Type::kOpenParen, "'('"));
  bool keywords = false;
  while (!Is(Type::kCloseParen)) {
    if (current_ >= tokens_.size()) return Error("expected ')'");
    size_t offset = Offset();
    ASSIGN_OR_RETURN(auto argument, ParseExpression());
    if (Is(Type::kEquals)) {
      ++current_;
      if (argument->kind != Kind::kIdentifier) return Error("expected a name before '='");
      ASSIGN_OR_RETURN(auto value, ParseExpression());
      ASSIGN_OR_RETURN(argument, Make(Kind::kKeywordArgument, offset, List(std::move(value)), argument->name));
      keywords = true;
    } else if (keywords) {
      return Error(parameters ? "a parameter without default follows one with a default"
                              : "a positional argument follows a keyword argument");
    } else if (parameters && argument->kind != Kind::kIdentifier) {
      return Error("expected a parameter name");
    }
    out.push_back(std::move(argument));
    if (Is(Type::kComma)) ++current_;
  }
  ++current_;
  return core::Status::Ok();
}

Parser::NodeResult Parser::ParseCollection(Type close, Kind kind, bool pairs, size_t offset) {
  std::vector<TemplateNodePtr> items;
  while (!Is(close)) {
    if (current_ >= tokens_.size()) return Error(close == Type::kCloseSquare ? "expected ']'" : "expected '}'");
    ASSIGN_OR_RETURN(auto item, ParseExpression());
    items.push_back(std::move(item));
    if (pairs) {
      RETURN_IF_ERROR(Expect(Type::kColon, "':' between a key and its value"));
      ASSIGN_OR_RETURN(auto value, ParseExpression());
      items.push_back(std::move(value));
    }
    if (Is(Type::kComma)) ++current_;
  }
  ++current_;
  return Make(kind, offset, std::move(items));
}

Parser::NodeResult Parser::ParsePrimary() {
  if (current_ >= tokens_.size()) return Error("unexpected end of template");
  const TemplateToken& token = tokens_[current_++];
  auto literal = [&](TemplateValue value) -> NodeResult {
    ASSIGN_OR_RETURN(auto node, Make(Kind::kLiteral, token.offset, {}));
    node->value = std::move(value);
    return node;
  };
  switch (token.type) {
    case Type::kNumber: {
      const std::string& text = token.value;
      const char* begin = text.data() + (text[0] == '+' ? 1 : 0);
      if (text.find('.') != std::string::npos) {
        double value = 0;
        std::from_chars(begin, text.data() + text.size(), value);
        return literal(TemplateValue::Float(value));
      }
      int64_t value = 0;
      auto [end, error] = std::from_chars(begin, text.data() + text.size(), value);
      if (error != std::errc()) {
        --current_;
        return Error("integer out of range");
      }
      return literal(TemplateValue::Int(value));
    }
    case Type::kString: {
      std::string value = token.value;
      while (Is(Type::kString)) value += tokens_[current_++].value;  // 'a' 'b' is 'ab'
      return literal(TemplateValue::String(std::move(value)));
    }
    case Type::kIdentifier: {
      const std::string& name = token.value;
      if (name == "true" || name == "True") return literal(TemplateValue::Bool(true));
      if (name == "false" || name == "False") return literal(TemplateValue::Bool(false));
      if (name == "none" || name == "None") return literal(TemplateValue::None());
      return Make(Kind::kIdentifier, token.offset, {}, name);
    }
    case Type::kOpenParen: {
      ASSIGN_OR_RETURN(auto inner, ParseSequence(false));
      RETURN_IF_ERROR(Expect(Type::kCloseParen, "')'"));
      return inner;
    }
    case Type::kOpenSquare:
      return ParseCollection(Type::kCloseSquare, Kind::kList, false, token.offset);
    case Type::kOpenCurly:
      return ParseCollection(Type::kCloseCurly, Kind::kDict, true, token.offset);
    default:
      --current_;
      return Error("unexpected '" + token.value + "'");
  }
}

}  // namespace

core::Result<std::vector<TemplateNodePtr>> ParseTemplate(std::string_view source,
                                                         const std::vector<TemplateToken>& tokens, int max_height) {
  Parser parser(source, tokens, max_height);
  return parser.Run();
}

}  // namespace berth::llm
