#include "llm/template/template_builtins.h"

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <optional>

#include "llm/template/template_text.h"

namespace berth::llm {
namespace {

using Kind = TemplateValue::Kind;
using ValueResult = core::Result<TemplateValue>;

core::Status Unsupported(std::string_view what, std::string_view name, const TemplateValue& operand) {
  return core::InvalidArgument("{} '{}' does not apply to {}", what, name, operand.KindName());
}

// An optional argument of one kind; `fallback` when it is not given.
template <typename Get>
auto Argument(const TemplateArguments& arguments, size_t index, std::string_view name, Kind kind, Get get,
              decltype(get(TemplateValue())) fallback) -> core::Result<decltype(fallback)> {
  const TemplateValue* value = arguments.Find(index, name);
  if (value == nullptr || value->is_none()) return fallback;
  if (value->kind() != kind) {
    return core::InvalidArgument("argument '{}' cannot be {}", name, value->KindName());
  }
  return get(*value);
}
auto GetBool = [](const TemplateValue& v) { return v.boolean(); };
auto GetInt = [](const TemplateValue& v) { return v.integer(); };
auto GetString = [](const TemplateValue& v) { return v.string(); };

core::Result<std::string> ToText(const TemplateValue& value, TemplateBudget& budget) {
  std::string text;
  if (value.is_none()) return std::string("None");
  RETURN_IF_ERROR(AppendText(text, value, budget));
  return text;
}

// `a.b.0`: members and list indexes, as map(attribute=) and sort take them.
TemplateValue AttributePath(const TemplateValue& item, std::string_view path) {
  TemplateValue value = item;
  while (true) {
    size_t dot = path.find('.');
    std::string_view part = path.substr(0, dot);
    if (value.has_members()) {
      const TemplateValue* member = value.dict().Find(part);
      value = member ? *member : TemplateValue();
    } else if (value.is_list()) {
      size_t index = 0;
      auto [end, error] = std::from_chars(part.data(), part.data() + part.size(), index);
      if (error != std::errc() || end != part.data() + part.size() || index >= value.list().size()) {
        return TemplateValue();
      }
      value = value.list()[index];
    } else {
      return TemplateValue();
    }
    if (dot == std::string_view::npos) return value;
    path.remove_prefix(dot + 1);
  }
}

ValueResult ToJsonFilter(const TemplateValue& operand, const TemplateArguments& arguments, TemplateBudget& budget) {
  TemplateJsonOptions options;
  ASSIGN_OR_RETURN(int64_t indent, Argument(arguments, 0, "indent", Kind::kInt, GetInt, int64_t{-1}));
  if (indent > 64) return core::InvalidArgument("tojson indent {} is over 64", indent);
  options.indent = static_cast<int>(indent);
  ASSIGN_OR_RETURN(options.ensure_ascii, Argument(arguments, 99, "ensure_ascii", Kind::kBool, GetBool, false));
  ASSIGN_OR_RETURN(options.sort_keys, Argument(arguments, 99, "sort_keys", Kind::kBool, GetBool, false));
  if (const TemplateValue* separators = arguments.Find(99, "separators"); separators && !separators->is_none()) {
    if (!separators->is_list() || separators->list().size() != 2 || !separators->list()[0].is_string() ||
        !separators->list()[1].is_string()) {
      return core::InvalidArgument("tojson separators must be two strings");
    }
    options.item_separator = separators->list()[0].string();
    options.key_separator = separators->list()[1].string();
  }
  std::string text;
  RETURN_IF_ERROR(AppendJson(text, operand, options, budget));
  return TemplateValue::String(std::move(text));
}

ValueResult JoinFilter(const TemplateValue& operand, const TemplateArguments& arguments, TemplateBudget& budget) {
  ASSIGN_OR_RETURN(std::string separator, Argument(arguments, 0, "d", Kind::kString, GetString, std::string()));
  ASSIGN_OR_RETURN(std::string attribute, Argument(arguments, 1, "attribute", Kind::kString, GetString, std::string()));
  TemplateValue::List items;
  if (operand.is_string()) {
    for (std::string_view c : template_text::Characters(operand.string())) {
      items.push_back(TemplateValue::String(std::string(c)));
    }
  } else if (operand.is_list()) {
    items = operand.list();
  } else {
    return Unsupported("filter", "join", operand);
  }
  std::string text;
  for (size_t i = 0; i < items.size(); ++i) {
    RETURN_IF_ERROR(budget.Spend(1));
    if (i > 0) text += separator;
    RETURN_IF_ERROR(AppendText(text, attribute.empty() ? items[i] : AttributePath(items[i], attribute), budget));
    RETURN_IF_ERROR(budget.CheckSize(text.size()));
  }
  return TemplateValue::String(std::move(text));
}

ValueResult SortFilter(const TemplateValue& operand, const TemplateArguments& arguments, TemplateBudget& budget) {
  if (!operand.is_list()) return Unsupported("filter", "sort", operand);
  ASSIGN_OR_RETURN(bool reverse, Argument(arguments, 0, "reverse", Kind::kBool, GetBool, false));
  ASSIGN_OR_RETURN(bool case_sensitive, Argument(arguments, 1, "case_sensitive", Kind::kBool, GetBool, false));
  ASSIGN_OR_RETURN(std::string attribute, Argument(arguments, 2, "attribute", Kind::kString, GetString, std::string()));
  RETURN_IF_ERROR(budget.Spend(static_cast<int64_t>(operand.list().size()) * 20));
  std::vector<std::pair<TemplateValue, TemplateValue>> keyed;
  for (const TemplateValue& item : operand.list()) {
    TemplateValue key = attribute.empty() ? item : AttributePath(item, attribute);
    if (key.is_string() && !case_sensitive) key = TemplateValue::String(template_text::Lower(key.string()));
    keyed.emplace_back(std::move(key), item);
  }
  core::Status failure;
  std::stable_sort(keyed.begin(), keyed.end(), [&](const auto& a, const auto& b) {
    auto order = CompareValues(a.first, b.first);
    if (!order.ok()) {
      failure = order.status();
      return false;
    }
    return reverse ? *order > 0 : *order < 0;
  });
  RETURN_IF_ERROR(failure);
  TemplateValue::List sorted;
  for (auto& [key, item] : keyed) sorted.push_back(std::move(item));
  return TemplateValue::MakeList(std::move(sorted));
}

// selectattr, rejectattr, select, reject.
ValueResult SelectFilter(std::string_view name, const TemplateValue& operand, const TemplateArguments& arguments,
                         TemplateBudget& budget) {
  if (!operand.is_list()) return Unsupported("filter", name, operand);
  bool by_attribute = name.ends_with("attr");
  bool keep_matches = name.starts_with("select");
  size_t first = by_attribute ? 1 : 0;
  std::string attribute;
  if (by_attribute) {
    if (arguments.positional.empty() || !arguments.positional[0].is_string()) {
      return core::InvalidArgument("filter '{}' needs an attribute name", name);
    }
    attribute = arguments.positional[0].string();
  }
  std::string test;
  if (arguments.positional.size() > first) {
    if (!arguments.positional[first].is_string()) return core::InvalidArgument("filter '{}' needs a test name", name);
    test = arguments.positional[first].string();
  }
  TemplateArguments test_arguments;
  for (size_t i = first + 1; i < arguments.positional.size(); ++i) {
    test_arguments.positional.push_back(arguments.positional[i]);
  }
  TemplateValue::List kept;
  for (const TemplateValue& item : operand.list()) {
    RETURN_IF_ERROR(budget.Spend(1));
    TemplateValue value = by_attribute ? AttributePath(item, attribute) : item;
    bool match = value.Truthy();
    if (!test.empty()) {
      ASSIGN_OR_RETURN(match, ApplyTest(test, value, test_arguments, budget));
    }
    if (match == keep_matches) kept.push_back(item);
  }
  return TemplateValue::MakeList(std::move(kept));
}

ValueResult MapFilter(const TemplateValue& operand, const TemplateArguments& arguments, TemplateBudget& budget) {
  if (!operand.is_list()) return Unsupported("filter", "map", operand);
  const TemplateValue* attribute = arguments.Find(99, "attribute");
  const TemplateValue* fallback = arguments.Find(99, "default");
  TemplateValue::List mapped;
  for (const TemplateValue& item : operand.list()) {
    RETURN_IF_ERROR(budget.Spend(1));
    if (attribute != nullptr) {
      if (!attribute->is_string()) return core::InvalidArgument("map's attribute must be a string");
      TemplateValue value = AttributePath(item, attribute->string());
      mapped.push_back(value.is_undefined() && fallback ? *fallback : value);
    } else if (!arguments.positional.empty() && arguments.positional[0].is_string()) {
      TemplateArguments rest;
      rest.positional.assign(arguments.positional.begin() + 1, arguments.positional.end());
      ASSIGN_OR_RETURN(TemplateValue value, ApplyFilter(arguments.positional[0].string(), item, rest, budget));
      mapped.push_back(std::move(value));
    } else {
      return core::InvalidArgument("map needs a filter name or attribute=");
    }
  }
  return TemplateValue::MakeList(std::move(mapped));
}

ValueResult IndentFilter(const TemplateValue& operand, const TemplateArguments& arguments, TemplateBudget& budget) {
  std::string indent(4, ' ');
  if (const TemplateValue* width = arguments.Find(0, "width")) {
    if (width->is_string()) {
      indent = width->string();
    } else if (width->kind() == Kind::kInt && width->integer() >= 0 && width->integer() <= 256) {
      indent.assign(width->integer(), ' ');
    } else {
      return core::InvalidArgument("indent width must be a string or an integer from 0 to 256");
    }
  }
  ASSIGN_OR_RETURN(bool first, Argument(arguments, 1, "first", Kind::kBool, GetBool, false));
  ASSIGN_OR_RETURN(bool blank, Argument(arguments, 2, "blank", Kind::kBool, GetBool, false));
  const std::string newline = "\n";
  std::vector<std::string> lines = template_text::Split(operand.string(), &newline, -1);
  std::string text;
  for (size_t i = 0; i < lines.size(); ++i) {
    if (i > 0) text += '\n';
    if ((i > 0 || first) && (blank || !lines[i].empty())) text += indent;
    text += lines[i];
    RETURN_IF_ERROR(budget.CheckSize(text.size()));
  }
  return TemplateValue::String(std::move(text));
}

// JavaScript's parseInt/parseFloat: leading whitespace, then the longest
// number; null when there is none.
std::optional<TemplateValue> ParseNumber(std::string_view text, bool integer) {
  text = template_text::Trim(text, true, false);
  std::string prefix(text.substr(0, 64));
  const char* begin = prefix.c_str();
  char* end = nullptr;
  errno = 0;
  if (integer) {
    long long value = std::strtoll(begin, &end, 10);
    if (end == begin || errno == ERANGE) return std::nullopt;
    return TemplateValue::Int(value);
  }
  double value = std::strtod(begin, &end);
  if (end == begin || !std::isfinite(value)) return std::nullopt;
  return TemplateValue::Float(value);
}

ValueResult NumberFilter(std::string_view name, const TemplateValue& operand, const TemplateArguments& arguments) {
  bool integer = name == "int";
  TemplateValue fallback = integer ? TemplateValue::Int(0) : TemplateValue::Float(0);
  if (const TemplateValue* given = arguments.Find(0, "default")) fallback = *given;
  switch (operand.kind()) {
    case Kind::kString: {
      auto parsed = ParseNumber(operand.string(), integer);
      return parsed ? *parsed : fallback;
    }
    case Kind::kInt:
    case Kind::kBool:
      return integer ? TemplateValue::Int(static_cast<int64_t>(operand.number()))
                     : TemplateValue::Float(operand.number());
    case Kind::kFloat: {
      double value = operand.floating();
      if (!integer) return operand;
      if (!(std::abs(value) < 9.2e18)) return fallback;
      return TemplateValue::Int(static_cast<int64_t>(value));
    }
    default:
      return fallback;
  }
}

ValueResult StringFilter(std::string_view name, const TemplateValue& operand, const TemplateArguments& arguments,
                         TemplateBudget& budget) {
  const std::string& text = operand.string();
  if (name == "upper") return TemplateValue::String(template_text::Upper(text));
  if (name == "lower") return TemplateValue::String(template_text::Lower(text));
  if (name == "title") return TemplateValue::String(template_text::Title(text));
  if (name == "capitalize") return TemplateValue::String(template_text::Capitalize(text));
  if (name == "trim") {
    const TemplateValue* chars = arguments.Find(0, "chars");
    if (chars && chars->is_string()) {
      return TemplateValue::String(std::string(template_text::StripCharacters(text, chars->string(), true, true)));
    }
    return TemplateValue::String(std::string(template_text::Trim(text, true, true)));
  }
  if (name == "replace") return CallMethod(operand, "replace", arguments, budget);
  if (name == "indent") return IndentFilter(operand, arguments, budget);
  if (name == "escape" || name == "e") {
    std::string escaped;
    for (char c : text) {
      static constexpr std::string_view kFrom = "&<>\"'";
      static constexpr std::array<std::string_view, 5> kTo = {"&amp;", "&lt;", "&gt;", "&#34;", "&#39;"};
      size_t which = kFrom.find(c);
      if (which == std::string_view::npos) {
        escaped.push_back(c);
      } else {
        escaped += kTo[which];
      }
    }
    RETURN_IF_ERROR(budget.CheckSize(escaped.size()));
    return TemplateValue::String(std::move(escaped));
  }
  return core::InvalidArgument("unknown filter '{}' for a string", name);
}

// Filters that take apart a list (or a string as its characters).
ValueResult SequenceFilter(std::string_view name, const TemplateValue& operand, TemplateBudget& budget) {
  TemplateValue::List items;
  if (operand.is_list()) {
    items = operand.list();
  } else if (operand.is_string()) {
    for (std::string_view c : template_text::Characters(operand.string())) {
      items.push_back(TemplateValue::String(std::string(c)));
    }
  } else if (operand.is_dict() && name == "list") {
    for (const auto& entry : operand.dict().entries()) items.push_back(TemplateValue::String(entry.first));
  } else {
    return Unsupported("filter", name, operand);
  }
  if (name == "first") return items.empty() ? TemplateValue() : items.front();
  if (name == "last") return items.empty() ? TemplateValue() : items.back();
  if (name == "reverse") {
    std::reverse(items.begin(), items.end());
    if (operand.is_string()) {
      std::string text;
      for (const TemplateValue& c : items) text += c.string();
      return TemplateValue::String(std::move(text));
    }
  }
  if (name == "unique") {
    TemplateValue::List unique;
    for (const TemplateValue& item : items) {
      bool seen = false;
      for (size_t i = 0; i < unique.size() && !seen; ++i) {
        ASSIGN_OR_RETURN(seen, ValuesEqual(unique[i], item, budget));
      }
      if (!seen) unique.push_back(item);
    }
    items = std::move(unique);
  }
  return TemplateValue::MakeList(std::move(items));
}

ValueResult DictFilter(std::string_view name, const TemplateValue& operand, const TemplateArguments& arguments) {
  if (!operand.has_members() && !operand.is_undefined()) return Unsupported("filter", name, operand);
  std::vector<std::pair<std::string, TemplateValue>> entries = operand.dict().entries();
  if (name == "dictsort") {
    ASSIGN_OR_RETURN(bool case_sensitive, Argument(arguments, 0, "case_sensitive", Kind::kBool, GetBool, false));
    ASSIGN_OR_RETURN(bool reverse, Argument(arguments, 2, "reverse", Kind::kBool, GetBool, false));
    auto key = [&](const std::string& k) { return case_sensitive ? k : template_text::Lower(k); };
    std::stable_sort(entries.begin(), entries.end(), [&](const auto& a, const auto& b) {
      return reverse ? key(b.first) < key(a.first) : key(a.first) < key(b.first);
    });
  }
  TemplateValue::List pairs;
  for (auto& [key, value] : entries) {
    pairs.push_back(TemplateValue::MakeList({TemplateValue::String(key), std::move(value)}));
  }
  return TemplateValue::MakeList(std::move(pairs));
}

}  // namespace

const TemplateValue* TemplateArguments::Find(size_t index, std::string_view name) const {
  if (index < positional.size()) return &positional[index];
  for (const auto& [key, value] : keyword) {
    if (key == name) return &value;
  }
  return nullptr;
}

ValueResult ApplyFilter(std::string_view name, const TemplateValue& operand, const TemplateArguments& arguments,
                        TemplateBudget& budget) {
  if (name == "safe") return operand;
  if (name == "default" || name == "d") {
    ASSIGN_OR_RETURN(bool boolean, Argument(arguments, 1, "boolean", Kind::kBool, GetBool, false));
    bool use_default = operand.is_undefined() || (boolean && !operand.Truthy());
    if (!use_default) return operand;
    const TemplateValue* fallback = arguments.Find(0, "default_value");
    return fallback ? *fallback : TemplateValue::String("");
  }
  if (name == "tojson") return ToJsonFilter(operand, arguments, budget);
  if (name == "string") {
    if (operand.is_string()) return operand;
    ASSIGN_OR_RETURN(std::string text, ToText(operand, budget));
    return TemplateValue::String(std::move(text));
  }
  if (name == "length" || name == "count") {
    if (operand.is_string())
      return TemplateValue::Int(static_cast<int64_t>(template_text::CharacterCount(operand.string())));
    if (operand.is_list()) return TemplateValue::Int(static_cast<int64_t>(operand.list().size()));
    if (operand.has_members()) return TemplateValue::Int(static_cast<int64_t>(operand.dict().size()));
    if (operand.is_undefined()) return TemplateValue::Int(0);
    return Unsupported("filter", name, operand);
  }
  if (name == "join") return JoinFilter(operand, arguments, budget);
  if (name == "sort") return SortFilter(operand, arguments, budget);
  if (name == "map") return MapFilter(operand, arguments, budget);
  if (name == "selectattr" || name == "rejectattr" || name == "select" || name == "reject") {
    return SelectFilter(name, operand, arguments, budget);
  }
  if (name == "list" || name == "first" || name == "last" || name == "reverse" || name == "unique") {
    return SequenceFilter(name, operand, budget);
  }
  if (name == "items" || name == "dictsort") return DictFilter(name, operand, arguments);
  if (name == "int" || name == "float") return NumberFilter(name, operand, arguments);
  if (name == "abs") {
    if (operand.kind() == Kind::kInt && operand.integer() != INT64_MIN)
      return TemplateValue::Int(std::abs(operand.integer()));
    if (operand.kind() == Kind::kFloat) return TemplateValue::Float(std::abs(operand.floating()));
    return Unsupported("filter", name, operand);
  }
  if (name == "bool") return TemplateValue::Bool(operand.Truthy());
  if (operand.is_string()) return StringFilter(name, operand, arguments, budget);
  return core::InvalidArgument("unknown filter '{}' for {}", name, operand.KindName());
}

core::Result<bool> ApplyTest(std::string_view name, const TemplateValue& operand, const TemplateArguments& arguments,
                             TemplateBudget& budget) {
  Kind kind = operand.kind();
  if (name == "defined") return kind != Kind::kUndefined;
  if (name == "undefined") return kind == Kind::kUndefined;
  if (name == "none") return kind == Kind::kNone;
  if (name == "string") return kind == Kind::kString;
  if (name == "number") return kind == Kind::kInt || kind == Kind::kFloat;
  if (name == "integer") return kind == Kind::kInt;
  if (name == "float") return kind == Kind::kFloat;
  if (name == "boolean") return kind == Kind::kBool;
  if (name == "true") return kind == Kind::kBool && operand.boolean();
  if (name == "false") return kind == Kind::kBool && !operand.boolean();
  if (name == "mapping") return kind == Kind::kDict;
  if (name == "iterable" || name == "sequence")
    return kind == Kind::kList || kind == Kind::kString || kind == Kind::kDict;
  if (name == "callable") return kind == Kind::kCallable;
  if (name == "odd" || name == "even") {
    if (kind != Kind::kInt) return Unsupported("test", name, operand);
    return (operand.integer() % 2 != 0) == (name == "odd");
  }
  if (name == "lower" || name == "upper") {
    if (kind != Kind::kString) return false;
    const std::string& text = operand.string();
    return text == (name == "lower" ? template_text::Lower(text) : template_text::Upper(text));
  }
  if (name == "equalto" || name == "eq" || name == "sameas" || name == "ne") {
    const TemplateValue* other = arguments.Find(0, "other");
    ASSIGN_OR_RETURN(bool equal, ValuesEqual(operand, other ? *other : TemplateValue(), budget));
    return equal != (name == "ne");
  }
  return core::InvalidArgument("unknown test '{}'", name);
}

bool HasMethod(const TemplateValue& self, std::string_view name) {
  static constexpr std::array<std::string_view, 13> kStringMethods = {
      "upper", "lower",      "strip",    "lstrip",  "rstrip", "title", "capitalize",
      "split", "startswith", "endswith", "replace", "find",   "count"};
  static constexpr std::array<std::string_view, 4> kDictMethods = {"get", "items", "keys", "values"};
  if (self.is_string()) return std::find(kStringMethods.begin(), kStringMethods.end(), name) != kStringMethods.end();
  if (self.is_dict()) return std::find(kDictMethods.begin(), kDictMethods.end(), name) != kDictMethods.end();
  return false;
}

}  // namespace berth::llm
