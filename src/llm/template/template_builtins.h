// The built-in filters, tests, methods (of strings and dicts) and functions
// (range, namespace, raise_exception, strftime_now) of the chat-template
// language. The evaluator calls these with arguments already evaluated.
#pragma once

#include <chrono>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/status.h"
#include "llm/template/template_format.h"
#include "llm/template/template_value.h"

namespace berth::llm {

struct TemplateNode;

// A callable value: a macro (its node), a built-in function (by name), or a
// method bound to its value (`text.upper`).
struct TemplateCallable {
  enum class Kind { kMacro, kFunction, kMethod };
  Kind kind = Kind::kFunction;
  const TemplateNode* macro = nullptr;
  std::string name;
  TemplateValue self;
};

struct TemplateArguments {
  std::vector<TemplateValue> positional;
  std::vector<std::pair<std::string, TemplateValue>> keyword;

  // The argument at `index`, else the keyword argument `name`, else null.
  const TemplateValue* Find(size_t index, std::string_view name) const;
};

core::Result<TemplateValue> ApplyFilter(std::string_view name, const TemplateValue& operand,
                                        const TemplateArguments& arguments, TemplateBudget& budget);
core::Result<bool> ApplyTest(std::string_view name, const TemplateValue& operand, const TemplateArguments& arguments,
                             TemplateBudget& budget);

// Whether `self` has a method `name` (strings: strip, split, ...; dicts:
// get, items, keys, values).
bool HasMethod(const TemplateValue& self, std::string_view name);
core::Result<TemplateValue> CallMethod(const TemplateValue& self, std::string_view name,
                                       const TemplateArguments& arguments, TemplateBudget& budget);

// Whether `name` is a built-in function.
bool IsBuiltinFunction(std::string_view name);
core::Result<TemplateValue> CallBuiltinFunction(std::string_view name, const TemplateArguments& arguments,
                                                TemplateBudget& budget, std::chrono::system_clock::time_point now);

}  // namespace berth::llm
