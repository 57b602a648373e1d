#include "llm/template/template_evaluator.h"

#include <algorithm>
#include <climits>
#include <cmath>
#include <memory>
#include <unordered_map>
#include <utility>

#include "llm/template/template_builtins.h"
#include "llm/template/template_format.h"
#include "llm/template/template_lexer.h"
#include "llm/template/template_text.h"

namespace berth::llm {
namespace {

using Kind = TemplateNodeKind;
using ValueKind = TemplateValue::Kind;
using ValueResult = core::Result<TemplateValue>;

// Evaluation recursion, macros calling macros included: bounded well below
// what a thread's stack holds.
constexpr int kMaxEvaluationDepth = 1000;

struct Scope {
  Scope* parent = nullptr;
  std::unordered_map<std::string, TemplateValue> variables;

  void Set(const std::string& name, TemplateValue value) { variables[name] = std::move(value); }
};

enum class Flow { kNormal, kBreak, kContinue };

class Evaluator {
 public:
  Evaluator(std::string_view source, const TemplateValue& context, const ChatTemplateLimits& limits,
            std::chrono::system_clock::time_point now)
      : source_(source), context_(context), limits_(limits), now_(now) {
    budget_.steps_left = limits.max_loop_iterations;
    budget_.max_text_bytes = limits.max_output_bytes;
    budget_.max_value_depth = limits.max_nesting_depth;
  }
  ~Evaluator() {
    for (const TemplateValue& ns : budget_.namespaces) ns.namespace_members() = TemplateDict();
  }
  Evaluator(const Evaluator&) = delete;
  Evaluator& operator=(const Evaluator&) = delete;

  core::Status ExecBody(const std::vector<TemplateNodePtr>& body, Scope& scope, std::string& out);

 private:
  // Counts evaluation recursion for the duration of one call.
  class Descent {
   public:
    explicit Descent(Evaluator& evaluator) : evaluator_(evaluator) { ++evaluator_.depth_; }
    ~Descent() { --evaluator_.depth_; }

   private:
    Evaluator& evaluator_;
  };

  core::Status Error(const TemplateNode& node, const core::Status& status) const {
    if (status.code() == core::StatusCode::kResourceExhausted || status.message().rfind("chat template", 0) == 0) {
      return status;
    }
    return core::Status(status.code(),
                        "chat template: " + TemplateLocation(source_, node.offset) + ": " + status.message());
  }
  template <typename... Args>
  core::Status Fail(const TemplateNode& node, fmt::format_string<Args...> format, Args&&... args) const {
    return core::InvalidArgument("chat template: {}: {}", TemplateLocation(source_, node.offset),
                                 fmt::format(format, std::forward<Args>(args)...));
  }
  core::Status CheckDepth() const {
    if (depth_ > kMaxEvaluationDepth) {
      return core::ResourceExhausted("chat template: rendering nested deeper than {} levels", kMaxEvaluationDepth);
    }
    return core::Status::Ok();
  }

  core::Status Exec(const TemplateNode& node, Scope& scope, std::string& out);
  core::Status ExecFor(const TemplateNode& node, Scope& scope, std::string& out);
  core::Status ExecSet(const TemplateNode& node, Scope& scope);
  core::Status Assign(const TemplateNode& target, const TemplateValue& value, Scope& scope);

  ValueResult Eval(const TemplateNode& node, Scope& scope);
  ValueResult EvalCollection(const TemplateNode& node, Scope& scope);
  ValueResult Lookup(const std::string& name, Scope& scope) const;
  ValueResult EvalMember(const TemplateNode& node, Scope& scope);
  ValueResult Member(const TemplateNode& node, const TemplateValue& object, const TemplateValue& key) const;
  ValueResult EvalSlice(const TemplateNode& node, Scope& scope);
  ValueResult EvalCall(const TemplateNode& node, Scope& scope);
  core::Status EvalArguments(const TemplateNode& node, size_t first, Scope& scope, TemplateArguments& arguments);
  ValueResult Call(const TemplateNode& node, const TemplateValue& callee, const TemplateArguments& arguments,
                   Scope& scope);
  ValueResult CallMacro(const TemplateNode& macro, const TemplateArguments& arguments, Scope& scope);
  ValueResult EvalFilter(const TemplateNode& node, const TemplateValue& operand, Scope& scope);
  ValueResult EvalTest(const TemplateNode& node, Scope& scope);
  ValueResult EvalUnary(const TemplateNode& node, Scope& scope);
  ValueResult EvalBinary(const TemplateNode& node, Scope& scope);
  ValueResult Arithmetic(const TemplateNode& node, const std::string& op, const TemplateValue& a,
                         const TemplateValue& b);
  ValueResult Concatenate(const TemplateValue& a, const TemplateValue& b);

  std::string_view source_;
  const TemplateValue& context_;
  const ChatTemplateLimits& limits_;
  std::chrono::system_clock::time_point now_;
  TemplateBudget budget_;
  int depth_ = 0;
  int call_depth_ = 0;
  Flow flow_ = Flow::kNormal;
};

core::Status Evaluator::ExecBody(const std::vector<TemplateNodePtr>& body, Scope& scope, std::string& out) {
  for (const auto& node : body) {
    RETURN_IF_ERROR(Exec(*node, scope, out));
    if (flow_ != Flow::kNormal) break;
  }
  return core::Status::Ok();
}

core::Status Evaluator::Exec(const TemplateNode& node, Scope& scope, std::string& out) {
  Descent descent(*this);
  RETURN_IF_ERROR(CheckDepth());
  switch (node.kind) {
    case Kind::kText:
      RETURN_IF_ERROR(budget_.CheckSize(out.size() + node.name.size()));
      out += node.name;
      return core::Status::Ok();
    case Kind::kComment:
      return core::Status::Ok();
    case Kind::kIf: {
      ASSIGN_OR_RETURN(TemplateValue test, Eval(*node.children[0], scope));
      return ExecBody(test.Truthy() ? node.body : node.otherwise, scope, out);
    }
    case Kind::kFor:
      return ExecFor(node, scope, out);
    case Kind::kSet:
      return ExecSet(node, scope);
    case Kind::kMacro: {
      auto callable = std::make_shared<TemplateCallable>();
      callable->kind = TemplateCallable::Kind::kMacro;
      callable->macro = &node;
      callable->name = node.name;
      scope.Set(node.name, TemplateValue::Callable(std::move(callable)));
      return core::Status::Ok();
    }
    case Kind::kFilterBlock: {
      std::string text;
      RETURN_IF_ERROR(ExecBody(node.body, scope, text));
      ASSIGN_OR_RETURN(TemplateValue filtered, EvalFilter(*node.children[0], TemplateValue::String(text), scope));
      RETURN_IF_ERROR(AppendText(out, filtered, budget_));
      return budget_.CheckSize(out.size());
    }
    case Kind::kBreak:
      flow_ = Flow::kBreak;
      return core::Status::Ok();
    case Kind::kContinue:
      flow_ = Flow::kContinue;
      return core::Status::Ok();
    default: {
      ASSIGN_OR_RETURN(TemplateValue value, Eval(node, scope));
      RETURN_IF_ERROR(AppendText(out, value, budget_));
      return budget_.CheckSize(out.size());
    }
  }
}

// The items a loop runs over: a list's items, a dict's keys, a string's
// characters.
core::Result<TemplateValue::List> LoopItems(const TemplateValue& iterable) {
  switch (iterable.kind()) {
    case ValueKind::kList:
      return iterable.list();
    case ValueKind::kDict: {
      TemplateValue::List keys;
      for (const auto& entry : iterable.dict().entries()) keys.push_back(TemplateValue::String(entry.first));
      return keys;
    }
    case ValueKind::kString: {
      TemplateValue::List characters;
      for (std::string_view c : template_text::Characters(iterable.string())) {
        characters.push_back(TemplateValue::String(std::string(c)));
      }
      return characters;
    }
    case ValueKind::kUndefined:
      return TemplateValue::List{};  // as Jinja: an undefined value iterates as empty
    default:
      return core::InvalidArgument("cannot loop over {}", iterable.KindName());
  }
}

TemplateValue LoopInfo(const TemplateValue::List& items, size_t i) {
  TemplateDict loop;
  int64_t n = static_cast<int64_t>(items.size()), index = static_cast<int64_t>(i);
  loop.Set("index", TemplateValue::Int(index + 1));
  loop.Set("index0", TemplateValue::Int(index));
  loop.Set("revindex", TemplateValue::Int(n - index));
  loop.Set("revindex0", TemplateValue::Int(n - index - 1));
  loop.Set("first", TemplateValue::Bool(i == 0));
  loop.Set("last", TemplateValue::Bool(index == n - 1));
  loop.Set("length", TemplateValue::Int(n));
  loop.Set("previtem", i > 0 ? items[i - 1] : TemplateValue());
  loop.Set("nextitem", index + 1 < n ? items[i + 1] : TemplateValue());
  return TemplateValue::MakeDict(std::move(loop));
}

core::Status Evaluator::ExecFor(const TemplateNode& node, Scope& scope, std::string& out) {
  Scope loop_scope{&scope, {}};
  ASSIGN_OR_RETURN(TemplateValue iterable, Eval(*node.children[1], loop_scope));
  auto all_items = LoopItems(iterable);
  if (!all_items.ok()) return Error(node, all_items.status());
  const TemplateNode& target = *node.children[0];
  TemplateValue::List items;
  if (node.children[2] == nullptr) {
    items = std::move(*all_items);
  } else {
    for (const TemplateValue& item : *all_items) {
      RETURN_IF_ERROR(budget_.Spend(1));
      Scope test_scope{&loop_scope, {}};
      RETURN_IF_ERROR(Assign(target, item, test_scope));
      ASSIGN_OR_RETURN(TemplateValue keep, Eval(*node.children[2], test_scope));
      if (keep.Truthy()) items.push_back(item);
    }
  }
  bool ran = false;
  for (size_t i = 0; i < items.size(); ++i) {
    RETURN_IF_ERROR(budget_.Spend(1));
    loop_scope.Set("loop", LoopInfo(items, i));
    RETURN_IF_ERROR(Assign(target, items[i], loop_scope));
    RETURN_IF_ERROR(ExecBody(node.body, loop_scope, out));
    Flow flow = flow_;
    flow_ = Flow::kNormal;
    if (flow == Flow::kBreak) break;
    if (flow == Flow::kNormal) ran = true;
  }
  if (!ran) RETURN_IF_ERROR(ExecBody(node.otherwise, loop_scope, out));
  return core::Status::Ok();
}

core::Status Evaluator::Assign(const TemplateNode& target, const TemplateValue& value, Scope& scope) {
  if (target.kind == Kind::kIdentifier) {
    scope.Set(target.name, value);
    return core::Status::Ok();
  }
  if (target.kind == Kind::kTuple) {
    if (!value.is_list()) return Fail(target, "cannot unpack {}", value.KindName());
    if (value.list().size() != target.children.size()) {
      return Fail(target, "cannot unpack {} items into {} names", value.list().size(), target.children.size());
    }
    for (size_t i = 0; i < target.children.size(); ++i) {
      if (target.children[i]->kind != Kind::kIdentifier) return Fail(target, "can only unpack into names");
      scope.Set(target.children[i]->name, value.list()[i]);
    }
    return core::Status::Ok();
  }
  if (target.kind == Kind::kMember && target.children[1]->kind == Kind::kLiteral &&
      target.children[1]->value.is_string()) {
    ASSIGN_OR_RETURN(TemplateValue object, Eval(*target.children[0], scope));
    if (object.kind() != ValueKind::kNamespace) return Fail(target, "can only set members of a namespace");
    object.namespace_members().Set(target.children[1]->value.string(), value);
    return core::Status::Ok();
  }
  return Fail(target, "cannot assign to this");
}

core::Status Evaluator::ExecSet(const TemplateNode& node, Scope& scope) {
  TemplateValue value;
  if (node.children[1] != nullptr) {
    ASSIGN_OR_RETURN(value, Eval(*node.children[1], scope));
  } else {
    std::string text;
    RETURN_IF_ERROR(ExecBody(node.body, scope, text));
    value = TemplateValue::String(std::move(text));
  }
  return Assign(*node.children[0], value, scope);
}

ValueResult Evaluator::Eval(const TemplateNode& node, Scope& scope) {
  Descent descent(*this);
  RETURN_IF_ERROR(CheckDepth());
  switch (node.kind) {
    case Kind::kLiteral:
      return node.value;
    case Kind::kIdentifier:
      return Lookup(node.name, scope);
    case Kind::kList:
    case Kind::kTuple:
    case Kind::kDict:
      return EvalCollection(node, scope);
    case Kind::kMember:
      return EvalMember(node, scope);
    case Kind::kSlice:
      return EvalSlice(node, scope);
    case Kind::kCall:
      return EvalCall(node, scope);
    case Kind::kUnary:
      return EvalUnary(node, scope);
    case Kind::kBinary:
      return EvalBinary(node, scope);
    case Kind::kFilter: {
      ASSIGN_OR_RETURN(TemplateValue operand, Eval(*node.children[0], scope));
      return EvalFilter(node, operand, scope);
    }
    case Kind::kTest:
      return EvalTest(node, scope);
    case Kind::kSelect: {
      ASSIGN_OR_RETURN(TemplateValue condition, Eval(*node.children[1], scope));
      if (!condition.Truthy()) return TemplateValue();
      return Eval(*node.children[0], scope);
    }
    case Kind::kTernary: {
      ASSIGN_OR_RETURN(TemplateValue condition, Eval(*node.children[0], scope));
      return Eval(*node.children[condition.Truthy() ? 1 : 2], scope);
    }
    default:
      return Fail(node, "a statement where a value was expected");
  }
}

ValueResult Evaluator::EvalCollection(const TemplateNode& node, Scope& scope) {
  if (node.kind != Kind::kDict) {
    TemplateValue::List items;
    for (const auto& child : node.children) {
      ASSIGN_OR_RETURN(TemplateValue item, Eval(*child, scope));
      items.push_back(std::move(item));
    }
    return TemplateValue::MakeList(std::move(items));
  }
  TemplateDict dict;
  for (size_t i = 0; i + 1 < node.children.size(); i += 2) {
    ASSIGN_OR_RETURN(TemplateValue key, Eval(*node.children[i], scope));
    if (!key.is_string()) return Fail(*node.children[i], "dict keys must be strings, not {}", key.KindName());
    ASSIGN_OR_RETURN(TemplateValue value, Eval(*node.children[i + 1], scope));
    dict.Set(key.string(), std::move(value));
  }
  return TemplateValue::MakeDict(std::move(dict));
}

ValueResult Evaluator::Lookup(const std::string& name, Scope& scope) const {
  for (const Scope* s = &scope; s != nullptr; s = s->parent) {
    auto found = s->variables.find(name);
    if (found != s->variables.end()) return found->second;
  }
  if (const TemplateValue* value = context_.dict().Find(name)) return *value;
  if (IsBuiltinFunction(name)) {
    auto callable = std::make_shared<TemplateCallable>();
    callable->name = name;
    return TemplateValue::Callable(std::move(callable));
  }
  return TemplateValue();
}

ValueResult Evaluator::EvalMember(const TemplateNode& node, Scope& scope) {
  ASSIGN_OR_RETURN(TemplateValue object, Eval(*node.children[0], scope));
  ASSIGN_OR_RETURN(TemplateValue key, Eval(*node.children[1], scope));
  return Member(node, object, key);
}

ValueResult Evaluator::Member(const TemplateNode& node, const TemplateValue& object, const TemplateValue& key) const {
  auto method = [&]() -> TemplateValue {
    if (!key.is_string() || !HasMethod(object, key.string())) return TemplateValue();
    auto callable = std::make_shared<TemplateCallable>();
    callable->kind = TemplateCallable::Kind::kMethod;
    callable->name = key.string();
    callable->self = object;
    return TemplateValue::Callable(std::move(callable));
  };
  if (object.has_members()) {
    if (!key.is_string()) return Fail(node, "a {} key must be a string, not {}", object.KindName(), key.KindName());
    if (const TemplateValue* value = object.dict().Find(key.string())) return *value;
    return method();
  }
  if (object.is_list() || object.is_string()) {
    if (key.kind() == ValueKind::kInt) {
      std::vector<std::string_view> characters;
      if (object.is_string()) characters = template_text::Characters(object.string());
      int64_t size = object.is_list() ? static_cast<int64_t>(object.list().size()) : characters.size();
      int64_t index = key.integer() < 0 ? key.integer() + size : key.integer();
      if (index < 0 || index >= size) return TemplateValue();
      if (object.is_list()) return object.list()[index];
      return TemplateValue::String(std::string(characters[index]));
    }
    if (key.is_string() && key.string() == "length") {
      size_t size = object.is_list() ? object.list().size() : template_text::CharacterCount(object.string());
      return TemplateValue::Int(static_cast<int64_t>(size));
    }
    if (key.is_string()) return method();
    return Fail(node, "a {} index must be an integer, not {}", object.KindName(), key.KindName());
  }
  return TemplateValue();  // members of undefined, none, numbers: undefined
}

// Python's slice of a list or a string (by character).
ValueResult Evaluator::EvalSlice(const TemplateNode& node, Scope& scope) {
  ASSIGN_OR_RETURN(TemplateValue object, Eval(*node.children[0], scope));
  int64_t parts[3] = {0, 0, 1};
  bool given[3] = {false, false, false};
  for (int i = 0; i < 3; ++i) {
    if (node.children[i + 1] == nullptr) continue;
    ASSIGN_OR_RETURN(TemplateValue part, Eval(*node.children[i + 1], scope));
    if (part.is_undefined() || part.is_none()) continue;
    if (part.kind() != ValueKind::kInt) return Fail(node, "slice bounds must be integers, not {}", part.KindName());
    parts[i] = part.integer();
    given[i] = true;
  }
  if (!object.is_list() && !object.is_string()) return Fail(node, "cannot slice {}", object.KindName());
  std::vector<std::string_view> characters;
  if (object.is_string()) characters = template_text::Characters(object.string());
  int64_t n = object.is_list() ? static_cast<int64_t>(object.list().size()) : characters.size();
  int64_t step = parts[2];
  if (step == 0) return Fail(node, "slice step cannot be zero");
  auto clamp = [&](int64_t v, bool is_given, int64_t missing) {
    if (!is_given) return missing;
    if (v < 0) v += n;
    if (step > 0) return std::clamp<int64_t>(v, 0, n);
    return std::clamp<int64_t>(v, -1, n - 1);
  };
  int64_t start = clamp(parts[0], given[0], step > 0 ? 0 : n - 1);
  int64_t stop = clamp(parts[1], given[1], step > 0 ? n : -1);
  TemplateValue::List items;
  std::string text;
  for (int64_t i = start; step > 0 ? i < stop : i > stop; i += step) {
    if (object.is_list()) {
      items.push_back(object.list()[i]);
    } else {
      text += characters[i];
    }
  }
  if (object.is_list()) return TemplateValue::MakeList(std::move(items));
  return TemplateValue::String(std::move(text));
}

core::Status Evaluator::EvalArguments(const TemplateNode& node, size_t first, Scope& scope,
                                      TemplateArguments& arguments) {
  for (size_t i = first; i < node.children.size(); ++i) {
    const TemplateNode& argument = *node.children[i];
    if (argument.kind == Kind::kKeywordArgument) continue;
    ASSIGN_OR_RETURN(TemplateValue value, Eval(argument, scope));
    arguments.positional.push_back(std::move(value));
  }
  for (size_t i = first; i < node.children.size(); ++i) {
    const TemplateNode& argument = *node.children[i];
    if (argument.kind != Kind::kKeywordArgument) continue;
    ASSIGN_OR_RETURN(TemplateValue value, Eval(*argument.children[0], scope));
    for (const auto& [name, unused] : arguments.keyword) {
      if (name == argument.name) return Fail(argument, "keyword argument '{}' given twice", name);
    }
    arguments.keyword.emplace_back(argument.name, std::move(value));
  }
  return core::Status::Ok();
}

ValueResult Evaluator::EvalCall(const TemplateNode& node, Scope& scope) {
  TemplateArguments arguments;
  RETURN_IF_ERROR(EvalArguments(node, 1, scope, arguments));
  ASSIGN_OR_RETURN(TemplateValue callee, Eval(*node.children[0], scope));
  return Call(node, callee, arguments, scope);
}

ValueResult Evaluator::Call(const TemplateNode& node, const TemplateValue& callee, const TemplateArguments& arguments,
                            Scope& scope) {
  if (callee.kind() != ValueKind::kCallable) return Fail(node, "cannot call {}", callee.KindName());
  const TemplateCallable& callable = callee.callable();
  core::Result<TemplateValue> result = core::Status(core::StatusCode::kInternal, "");
  switch (callable.kind) {
    case TemplateCallable::Kind::kMacro:
      return CallMacro(*callable.macro, arguments, scope);
    case TemplateCallable::Kind::kMethod:
      result = CallMethod(callable.self, callable.name, arguments, budget_);
      break;
    case TemplateCallable::Kind::kFunction:
      result = CallBuiltinFunction(callable.name, arguments, budget_, now_);
      break;
  }
  if (!result.ok()) return Error(node, result.status());
  return result;
}

ValueResult Evaluator::CallMacro(const TemplateNode& macro, const TemplateArguments& arguments, Scope& scope) {
  if (call_depth_ >= limits_.max_call_depth) {
    return core::ResourceExhausted("chat template: macro '{}' called deeper than {} levels", macro.name,
                                   limits_.max_call_depth);
  }
  RETURN_IF_ERROR(budget_.Spend(1));
  // As in @huggingface/jinja, a macro sees the variables of where it is called.
  Scope local{&scope, {}};
  std::vector<bool> bound(macro.children.size(), false);
  TemplateValue::List extra_positional;
  for (size_t i = 0; i < arguments.positional.size(); ++i) {
    if (i < macro.children.size()) {
      local.Set(macro.children[i]->name, arguments.positional[i]);
      bound[i] = true;
    } else {
      extra_positional.push_back(arguments.positional[i]);
    }
  }
  TemplateDict extra_keyword;
  for (const auto& [name, value] : arguments.keyword) {
    size_t i = 0;
    while (i < macro.children.size() && macro.children[i]->name != name) ++i;
    if (i == macro.children.size()) {
      extra_keyword.Set(name, value);
    } else {
      local.Set(name, value);
      bound[i] = true;
    }
  }
  for (size_t i = 0; i < macro.children.size(); ++i) {
    if (!bound[i]) local.Set(macro.children[i]->name, TemplateValue());
  }
  for (size_t i = 0; i < macro.children.size(); ++i) {
    const TemplateNode& parameter = *macro.children[i];
    if (bound[i] || parameter.kind != Kind::kKeywordArgument) continue;
    ASSIGN_OR_RETURN(TemplateValue value, Eval(*parameter.children[0], local));
    local.Set(parameter.name, std::move(value));
  }
  local.Set("varargs", TemplateValue::MakeList(std::move(extra_positional)));
  local.Set("kwargs", TemplateValue::MakeDict(std::move(extra_keyword)));
  std::string text;
  ++call_depth_;
  core::Status status = ExecBody(macro.body, local, text);
  --call_depth_;
  flow_ = Flow::kNormal;
  RETURN_IF_ERROR(status);
  return TemplateValue::String(std::move(text));
}

ValueResult Evaluator::EvalFilter(const TemplateNode& node, const TemplateValue& operand, Scope& scope) {
  TemplateArguments arguments;
  RETURN_IF_ERROR(EvalArguments(node, 1, scope, arguments));
  auto result = ApplyFilter(node.name, operand, arguments, budget_);
  if (!result.ok()) return Error(node, result.status());
  return result;
}

ValueResult Evaluator::EvalTest(const TemplateNode& node, Scope& scope) {
  ASSIGN_OR_RETURN(TemplateValue operand, Eval(*node.children[0], scope));
  auto result = ApplyTest(node.name, operand, TemplateArguments{}, budget_);
  if (!result.ok()) return Error(node, result.status());
  return TemplateValue::Bool(*result != node.negated);
}

ValueResult Evaluator::EvalUnary(const TemplateNode& node, Scope& scope) {
  ASSIGN_OR_RETURN(TemplateValue operand, Eval(*node.children[0], scope));
  if (node.name == "not") return TemplateValue::Bool(!operand.Truthy());
  bool negate = node.name == "-";
  switch (operand.kind()) {
    case ValueKind::kFloat:
      return TemplateValue::Float(negate ? -operand.floating() : operand.floating());
    case ValueKind::kInt:
    case ValueKind::kBool: {
      int64_t value = operand.kind() == ValueKind::kInt ? operand.integer() : operand.boolean();
      if (negate && value == INT64_MIN) return Fail(node, "integer overflow");
      return TemplateValue::Int(negate ? -value : value);
    }
    default:
      return Fail(node, "cannot apply '{}' to {}", node.name, operand.KindName());
  }
}

ValueResult Evaluator::Concatenate(const TemplateValue& a, const TemplateValue& b) {
  std::string text;
  RETURN_IF_ERROR(AppendText(text, a, budget_));
  RETURN_IF_ERROR(AppendText(text, b, budget_));
  RETURN_IF_ERROR(budget_.CheckSize(text.size()));
  return TemplateValue::String(std::move(text));
}

ValueResult Evaluator::EvalBinary(const TemplateNode& node, Scope& scope) {
  const std::string& op = node.name;
  ASSIGN_OR_RETURN(TemplateValue left, Eval(*node.children[0], scope));
  if (op == "and") return left.Truthy() ? Eval(*node.children[1], scope) : left;
  if (op == "or") return left.Truthy() ? left : Eval(*node.children[1], scope);
  ASSIGN_OR_RETURN(TemplateValue right, Eval(*node.children[1], scope));
  if (op == "==" || op == "!=") {
    ASSIGN_OR_RETURN(bool equal, ValuesEqual(left, right, budget_));
    return TemplateValue::Bool(equal == (op == "=="));
  }
  if (op == "~") return Concatenate(left, right);
  if (op == "in" || op == "not in") {
    bool negated = op == "not in";
    if (right.is_undefined()) return TemplateValue::Bool(negated);
    if (right.is_list()) {
      for (const TemplateValue& item : right.list()) {
        ASSIGN_OR_RETURN(bool equal, ValuesEqual(left, item, budget_));
        if (equal) return TemplateValue::Bool(!negated);
      }
      return TemplateValue::Bool(negated);
    }
    if (right.is_string() && left.is_string()) {
      return TemplateValue::Bool((right.string().find(left.string()) != std::string::npos) != negated);
    }
    if (right.has_members() && left.is_string()) {
      return TemplateValue::Bool((right.dict().Find(left.string()) != nullptr) != negated);
    }
    return Fail(node, "cannot test whether {} is in {}", left.KindName(), right.KindName());
  }
  if (left.is_undefined() || right.is_undefined()) return Fail(node, "cannot use '{}' on an undefined value", op);
  if (left.is_none() || right.is_none()) return Fail(node, "cannot use '{}' on none", op);
  return Arithmetic(node, op, left, right);
}

ValueResult Evaluator::Arithmetic(const TemplateNode& node, const std::string& op, const TemplateValue& a,
                                  const TemplateValue& b) {
  bool comparison = op == "<" || op == ">" || op == "<=" || op == ">=";
  if (comparison) {
    auto order = CompareValues(a, b);
    if (!order.ok()) return Error(node, order.status());
    int c = *order;
    return TemplateValue::Bool(op == "<" ? c < 0 : op == ">" ? c > 0 : op == "<=" ? c <= 0 : c >= 0);
  }
  auto numeric = [](const TemplateValue& v) { return v.is_number() || v.kind() == ValueKind::kBool; };
  if (numeric(a) && numeric(b) && (op != "+" || (a.is_number() && b.is_number()))) {
    bool floating = a.kind() == ValueKind::kFloat || b.kind() == ValueKind::kFloat;
    int64_t x = a.kind() == ValueKind::kInt ? a.integer() : a.kind() == ValueKind::kBool ? a.boolean() : 0;
    int64_t y = b.kind() == ValueKind::kInt ? b.integer() : b.kind() == ValueKind::kBool ? b.boolean() : 0;
    if (op == "**" && !floating && y < 0) floating = true;
    if ((op == "/" || op == "//" || op == "%") && b.number() == 0) return Fail(node, "division by zero");
    if (op == "/" || floating) {
      double p = a.number(), q = b.number(), r;
      if (op == "+")
        r = p + q;
      else if (op == "-")
        r = p - q;
      else if (op == "*")
        r = p * q;
      else if (op == "/")
        r = p / q;
      else if (op == "//")
        r = std::floor(p / q);
      else if (op == "%")
        r = p - q * std::floor(p / q);
      else
        r = std::pow(p, q);
      if (!std::isfinite(r)) return Fail(node, "'{}' made a number that is not finite", op);
      return TemplateValue::Float(r);
    }
    int64_t r = 0;
    bool overflow = false;
    if (op == "+")
      overflow = __builtin_add_overflow(x, y, &r);
    else if (op == "-")
      overflow = __builtin_sub_overflow(x, y, &r);
    else if (op == "*")
      overflow = __builtin_mul_overflow(x, y, &r);
    else if (op == "//" || op == "%") {
      if (x == INT64_MIN && y == -1) return Fail(node, "integer overflow");
      int64_t q = x / y, m = x % y;
      if (m != 0 && ((m < 0) != (y < 0))) --q, m += y;
      r = op == "//" ? q : m;
    } else {
      r = 1;  // by squaring: at most 64 steps
      for (int64_t base = x, e = y; e > 0 && !overflow; e >>= 1) {
        if (e & 1) overflow = __builtin_mul_overflow(r, base, &r);
        if (e > 1 && !overflow) overflow = __builtin_mul_overflow(base, base, &base);
      }
    }
    if (overflow) return Fail(node, "integer overflow");
    return TemplateValue::Int(r);
  }
  if (op == "+" && a.is_list() && b.is_list()) {
    RETURN_IF_ERROR(budget_.CheckSize((a.list().size() + b.list().size()) * sizeof(TemplateValue)));
    TemplateValue::List items = a.list();
    items.insert(items.end(), b.list().begin(), b.list().end());
    return TemplateValue::MakeList(std::move(items));
  }
  if (op == "+" && (a.is_string() || b.is_string())) return Concatenate(a, b);
  if (op == "*" && a.is_string() && b.kind() == ValueKind::kInt) {
    int64_t count = std::max<int64_t>(b.integer(), 0);
    if (!a.string().empty())
      RETURN_IF_ERROR(budget_.CheckSize(a.string().size() * std::min<int64_t>(count, INT32_MAX)));
    std::string text;
    for (int64_t i = 0; i < count && !a.string().empty(); ++i) text += a.string();
    return TemplateValue::String(std::move(text));
  }
  return Fail(node, "cannot use '{}' on {} and {}", op, a.KindName(), b.KindName());
}

}  // namespace

core::Result<std::string> EvaluateTemplate(const std::vector<TemplateNodePtr>& program, std::string_view source,
                                           const TemplateValue& context, const ChatTemplateLimits& limits,
                                           std::chrono::system_clock::time_point now) {
  Evaluator evaluator(source, context, limits, now);
  Scope global;
  std::string out;
  RETURN_IF_ERROR(evaluator.ExecBody(program, global, out));
  return out;
}

}  // namespace berth::llm
