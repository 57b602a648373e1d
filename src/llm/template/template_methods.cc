// The methods of strings and dicts, and the built-in functions.
#include <algorithm>
#include <ctime>

#include "llm/template/template_builtins.h"
#include "llm/template/template_text.h"

namespace berth::llm {
namespace {

using Kind = TemplateValue::Kind;
using ValueResult = core::Result<TemplateValue>;

core::Result<const std::string*> StringArgument(const TemplateArguments& arguments, size_t index,
                                                std::string_view method) {
  const TemplateValue* value = arguments.Find(index, "");
  if (value == nullptr || value->is_none()) return nullptr;
  if (!value->is_string()) return core::InvalidArgument("{}() takes a string, not {}", method, value->KindName());
  return &value->string();
}

// startswith/endswith: a string or a list of strings.
ValueResult Affix(const std::string& text, std::string_view method, const TemplateArguments& arguments) {
  const TemplateValue* affix = arguments.Find(0, "");
  if (affix == nullptr) return core::InvalidArgument("{}() needs an argument", method);
  std::vector<const TemplateValue*> candidates;
  if (affix->is_list()) {
    for (const TemplateValue& item : affix->list()) candidates.push_back(&item);
  } else {
    candidates.push_back(affix);
  }
  for (const TemplateValue* candidate : candidates) {
    if (!candidate->is_string()) return core::InvalidArgument("{}() takes strings", method);
    bool match = method == "startswith" ? text.starts_with(candidate->string()) : text.ends_with(candidate->string());
    if (match) return TemplateValue::Bool(true);
  }
  return TemplateValue::Bool(false);
}

ValueResult StringMethod(const std::string& text, std::string_view name, const TemplateArguments& arguments,
                         TemplateBudget& budget) {
  if (name == "upper") return TemplateValue::String(template_text::Upper(text));
  if (name == "lower") return TemplateValue::String(template_text::Lower(text));
  if (name == "title") return TemplateValue::String(template_text::Title(text));
  if (name == "capitalize") return TemplateValue::String(template_text::Capitalize(text));
  if (name == "strip" || name == "lstrip" || name == "rstrip") {
    ASSIGN_OR_RETURN(const std::string* chars, StringArgument(arguments, 0, name));
    bool leading = name != "rstrip", trailing = name != "lstrip";
    std::string_view stripped = chars ? template_text::StripCharacters(text, *chars, leading, trailing)
                                      : template_text::Trim(text, leading, trailing);
    return TemplateValue::String(std::string(stripped));
  }
  if (name == "startswith" || name == "endswith") return Affix(text, name, arguments);
  if (name == "split") {
    ASSIGN_OR_RETURN(const std::string* separator, StringArgument(arguments, 0, name));
    if (separator && separator->empty()) return core::InvalidArgument("split() separator is empty");
    const TemplateValue* max_split = arguments.Find(1, "maxsplit");
    int64_t limit = max_split && max_split->kind() == Kind::kInt ? max_split->integer() : -1;
    TemplateValue::List parts;
    for (std::string& part : template_text::Split(text, separator, limit)) {
      parts.push_back(TemplateValue::String(std::move(part)));
    }
    return TemplateValue::MakeList(std::move(parts));
  }
  if (name == "replace") {
    const TemplateValue* old_text = arguments.Find(0, "old");
    const TemplateValue* new_text = arguments.Find(1, "new");
    if (!old_text || !new_text || !old_text->is_string() || !new_text->is_string()) {
      return core::InvalidArgument("replace() takes two strings");
    }
    const TemplateValue* count = arguments.Find(2, "count");
    int64_t limit = count && count->kind() == Kind::kInt ? count->integer() : -1;
    // The result's size, before making it.
    size_t matches = 0;
    if (old_text->string().empty()) {
      matches = template_text::CharacterCount(text) + 1;
    } else {
      for (size_t at = text.find(old_text->string()); at != std::string::npos;
           at = text.find(old_text->string(), at + old_text->string().size())) {
        ++matches;
      }
    }
    if (limit >= 0) matches = std::min<size_t>(matches, static_cast<size_t>(limit));
    double size = static_cast<double>(text.size()) + static_cast<double>(matches) * new_text->string().size();
    if (size > static_cast<double>(budget.max_text_bytes)) RETURN_IF_ERROR(budget.CheckSize(budget.max_text_bytes + 1));
    return TemplateValue::String(template_text::Replace(text, old_text->string(), new_text->string(), limit));
  }
  ASSIGN_OR_RETURN(const std::string* needle, StringArgument(arguments, 0, name));
  if (needle == nullptr) return core::InvalidArgument("{}() needs a string", name);
  if (name == "find") {
    size_t at = text.find(*needle);
    if (at == std::string::npos) return TemplateValue::Int(-1);
    return TemplateValue::Int(
        static_cast<int64_t>(template_text::CharacterCount(std::string_view(text).substr(0, at))));
  }
  // count
  if (needle->empty()) return TemplateValue::Int(static_cast<int64_t>(template_text::CharacterCount(text) + 1));
  int64_t count = 0;
  for (size_t at = text.find(*needle); at != std::string::npos; at = text.find(*needle, at + needle->size())) ++count;
  return TemplateValue::Int(count);
}

ValueResult DictMethod(const TemplateDict& dict, std::string_view name, const TemplateArguments& arguments) {
  if (name == "get") {
    const TemplateValue* key = arguments.Find(0, "key");
    if (key == nullptr || !key->is_string()) return core::InvalidArgument("get() takes a string key");
    if (const TemplateValue* value = dict.Find(key->string())) return *value;
    const TemplateValue* fallback = arguments.Find(1, "default");
    return fallback ? *fallback : TemplateValue::None();
  }
  TemplateValue::List items;
  for (const auto& [key, value] : dict.entries()) {
    if (name == "keys") {
      items.push_back(TemplateValue::String(key));
    } else if (name == "values") {
      items.push_back(value);
    } else {
      items.push_back(TemplateValue::MakeList({TemplateValue::String(key), value}));
    }
  }
  return TemplateValue::MakeList(std::move(items));
}

ValueResult Range(const TemplateArguments& arguments, TemplateBudget& budget) {
  int64_t bounds[3] = {0, 0, 1};
  size_t count = arguments.positional.size();
  if (count < 1 || count > 3) return core::InvalidArgument("range() takes 1 to 3 integers");
  for (size_t i = 0; i < count; ++i) {
    if (arguments.positional[i].kind() != Kind::kInt) return core::InvalidArgument("range() takes integers");
  }
  if (count == 1) {
    bounds[1] = arguments.positional[0].integer();
  } else {
    for (size_t i = 0; i < count; ++i) bounds[i] = arguments.positional[i].integer();
  }
  auto [start, stop, step] = bounds;
  if (step == 0) return core::InvalidArgument("range() step must not be zero");
  double length = std::max(0.0, std::ceil((static_cast<double>(stop) - static_cast<double>(start)) / step));
  if (length > static_cast<double>(budget.steps_left)) {
    RETURN_IF_ERROR(budget.Spend(budget.steps_left + 1));
  }
  RETURN_IF_ERROR(budget.Spend(static_cast<int64_t>(length)));
  TemplateValue::List items;
  items.reserve(static_cast<size_t>(length));
  for (int64_t i = 0; i < static_cast<int64_t>(length); ++i) items.push_back(TemplateValue::Int(start + i * step));
  return TemplateValue::MakeList(std::move(items));
}

ValueResult Namespace(const TemplateArguments& arguments) {
  TemplateDict members;
  if (arguments.positional.size() > 1) return core::InvalidArgument("namespace() takes at most one dict");
  if (!arguments.positional.empty()) {
    const TemplateValue& source = arguments.positional[0];
    if (!source.has_members()) return core::InvalidArgument("namespace() takes a dict, not {}", source.KindName());
    for (const auto& [key, value] : source.dict().entries()) members.Set(key, value);
  }
  for (const auto& [key, value] : arguments.keyword) members.Set(key, value);
  return TemplateValue::MakeNamespace(std::move(members));
}

ValueResult StrftimeNow(const TemplateArguments& arguments, std::chrono::system_clock::time_point now) {
  ASSIGN_OR_RETURN(const std::string* format, StringArgument(arguments, 0, "strftime_now"));
  if (format == nullptr) return core::InvalidArgument("strftime_now() needs a format");
  if (format->size() > 256) return core::InvalidArgument("strftime_now() format is over 256 bytes");
  std::time_t seconds = std::chrono::system_clock::to_time_t(now);
  std::tm local{};
  localtime_r(&seconds, &local);
  char buffer[4096];
  size_t length = format->empty() ? 0 : std::strftime(buffer, sizeof(buffer), format->c_str(), &local);
  return TemplateValue::String(std::string(buffer, length));
}

}  // namespace

core::Result<TemplateValue> CallMethod(const TemplateValue& self, std::string_view name,
                                       const TemplateArguments& arguments, TemplateBudget& budget) {
  if (self.is_string()) return StringMethod(self.string(), name, arguments, budget);
  if (self.is_dict()) return DictMethod(self.dict(), name, arguments);
  return core::InvalidArgument("{} has no method '{}'", self.KindName(), name);
}

bool IsBuiltinFunction(std::string_view name) {
  return name == "range" || name == "namespace" || name == "raise_exception" || name == "strftime_now";
}

core::Result<TemplateValue> CallBuiltinFunction(std::string_view name, const TemplateArguments& arguments,
                                                TemplateBudget& budget, std::chrono::system_clock::time_point now) {
  if (name == "range") return Range(arguments, budget);
  if (name == "namespace") {
    auto made = Namespace(arguments);
    if (made.ok()) budget.namespaces.push_back(*made);
    return made;
  }
  if (name == "strftime_now") return StrftimeNow(arguments, now);
  // raise_exception: the template refuses its input.
  std::string message;
  if (!arguments.positional.empty()) RETURN_IF_ERROR(AppendText(message, arguments.positional[0], budget));
  return core::Status(core::StatusCode::kFailedPrecondition, "template raised an exception: " + message);
}

}  // namespace berth::llm
