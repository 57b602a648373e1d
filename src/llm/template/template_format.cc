#include "llm/template/template_format.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <string_view>
#include <vector>

#include "llm/template/template_text.h"

namespace berth::llm {

core::Status TemplateBudget::Spend(int64_t steps) {
  steps_left -= steps;
  if (steps_left < 0) {
    return core::ResourceExhausted("chat template: the render took more than its limit of loop iterations and calls");
  }
  return core::Status::Ok();
}

core::Status TemplateBudget::CheckSize(size_t bytes) const {
  if (bytes > max_text_bytes) {
    return core::ResourceExhausted("chat template: the render made a text or list over its limit of {} bytes",
                                   max_text_bytes);
  }
  return core::Status::Ok();
}

namespace {

core::Status TooDeep(const TemplateBudget& budget) {
  return core::ResourceExhausted("chat template: a value is nested deeper than {} levels", budget.max_value_depth);
}

// Shortest round-trip digits, written as JavaScript's Number#toString does.
std::string FormatDouble(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "Infinity" : "-Infinity";
  if (value == 0) return std::signbit(value) ? "-0.0" : "0.0";
  char buffer[64];
  auto end = std::to_chars(buffer, buffer + sizeof(buffer), value, std::chars_format::scientific).ptr;
  std::string_view text(buffer, end - buffer);
  bool negative = text[0] == '-';
  if (negative) text.remove_prefix(1);
  size_t e = text.find('e');
  std::string digits;
  for (char c : text.substr(0, e)) {
    if (c != '.') digits.push_back(c);
  }
  int exponent = 0;
  std::string_view exponent_text = text.substr(e + 1);
  if (exponent_text[0] == '+') exponent_text.remove_prefix(1);
  std::from_chars(exponent_text.data(), exponent_text.data() + exponent_text.size(), exponent);
  int k = static_cast<int>(digits.size()), n = exponent + 1;
  std::string out = negative ? "-" : "";
  if (k <= n && n <= 21) {
    out += digits + std::string(n - k, '0') + ".0";  // a whole number keeps ".0"
  } else if (0 < n && n <= 21) {
    out += digits.substr(0, n) + "." + digits.substr(n);
  } else if (-6 < n && n <= 0) {
    out += "0." + std::string(-n, '0') + digits;
  } else {
    out += digits.substr(0, 1);
    if (k > 1) out += "." + digits.substr(1);
    out += (n - 1 >= 0 ? "e+" : "e-") + std::to_string(std::abs(n - 1));
  }
  return out;
}

void AppendJsonString(std::string& out, std::string_view text, bool ensure_ascii) {
  out.push_back('"');
  for (size_t pos = 0; pos < text.size(); ++pos) {
    unsigned char c = text[pos];
    switch (c) {
      case '"':
        out += "\\\"";
        continue;
      case '\\':
        out += "\\\\";
        continue;
      case '\b':
        out += "\\b";
        continue;
      case '\f':
        out += "\\f";
        continue;
      case '\n':
        out += "\\n";
        continue;
      case '\r':
        out += "\\r";
        continue;
      case '\t':
        out += "\\t";
        continue;
      default:
        break;
    }
    char escape[16];
    if (c < 0x20) {
      std::snprintf(escape, sizeof(escape), "\\u%04x", c);
      out += escape;
    } else if (c >= 0x80 && ensure_ascii) {
      std::string_view character = template_text::Characters(text.substr(pos, 4))[0];
      std::u32string code;
      uint32_t point = 0xFFFD;
      if (character.size() > 1) {
        point = character[0] & (0x7F >> character.size());
        for (size_t i = 1; i < character.size(); ++i) point = (point << 6) | (character[i] & 0x3F);
      }
      if (point >= 0x10000) {
        point -= 0x10000;
        std::snprintf(escape, sizeof(escape), "\\u%04x\\u%04x", 0xD800 + (point >> 10), 0xDC00 + (point & 0x3FF));
      } else {
        std::snprintf(escape, sizeof(escape), "\\u%04x", point);
      }
      out += escape;
      pos += character.size() - 1;
    } else {
      out.push_back(static_cast<char>(c));
    }
  }
  out.push_back('"');
}

// true/false and numbers, the same in JSON and in text.
void AppendScalar(std::string& out, const TemplateValue& value) {
  if (value.kind() == TemplateValue::Kind::kBool) {
    out += value.boolean() ? "true" : "false";
  } else {
    out += FormatNumber(value);
  }
}

core::Status AppendJsonAt(std::string& out, const TemplateValue& value, const TemplateJsonOptions& options,
                          TemplateBudget& budget, int depth) {
  if (depth > budget.max_value_depth) return TooDeep(budget);
  RETURN_IF_ERROR(budget.Spend(1));
  RETURN_IF_ERROR(budget.CheckSize(out.size()));
  using Kind = TemplateValue::Kind;
  switch (value.kind()) {
    case Kind::kUndefined:
    case Kind::kNone:
      out += "null";
      return core::Status::Ok();
    case Kind::kBool:
    case Kind::kInt:
    case Kind::kFloat:
      AppendScalar(out, value);
      return core::Status::Ok();
    case Kind::kString:
      AppendJsonString(out, value.string(), options.ensure_ascii);
      return core::Status::Ok();
    case Kind::kCallable:
      return core::InvalidArgument("chat template: a function cannot be written as JSON");
    default:
      break;
  }
  bool indented = options.indent >= 0;
  std::string item_separator = !options.item_separator.empty() ? options.item_separator : indented ? "," : ", ";
  std::string padding = "\n" + std::string(static_cast<size_t>(std::max(options.indent, 0)) * (depth + 1), ' ');
  std::string closing = "\n" + std::string(static_cast<size_t>(std::max(options.indent, 0)) * depth, ' ');
  bool list = value.kind() == Kind::kList;
  size_t count = list ? value.list().size() : value.dict().size();
  out.push_back(list ? '[' : '{');
  std::vector<const std::pair<std::string, TemplateValue>*> entries;
  if (!list) {
    for (const auto& entry : value.dict().entries()) entries.push_back(&entry);
    if (options.sort_keys) {
      std::stable_sort(entries.begin(), entries.end(), [](auto* a, auto* b) { return a->first < b->first; });
    }
  }
  for (size_t i = 0; i < count; ++i) {
    if (i > 0) out += item_separator;
    if (indented) out += padding;
    if (list) {
      RETURN_IF_ERROR(AppendJsonAt(out, value.list()[i], options, budget, depth + 1));
    } else {
      AppendJsonString(out, entries[i]->first, options.ensure_ascii);
      out += options.key_separator;
      RETURN_IF_ERROR(AppendJsonAt(out, entries[i]->second, options, budget, depth + 1));
    }
  }
  if (indented && count > 0) out += closing;
  out.push_back(list ? ']' : '}');
  return budget.CheckSize(out.size());
}

}  // namespace

std::string FormatNumber(const TemplateValue& value) {
  if (value.kind() == TemplateValue::Kind::kInt) return std::to_string(value.integer());
  return FormatDouble(value.number());
}

core::Status AppendJson(std::string& out, const TemplateValue& value, const TemplateJsonOptions& options,
                        TemplateBudget& budget) {
  return AppendJsonAt(out, value, options, budget, 0);
}

core::Status AppendText(std::string& out, const TemplateValue& value, TemplateBudget& budget) {
  using Kind = TemplateValue::Kind;
  Kind kind = value.kind();
  if (kind == Kind::kUndefined || kind == Kind::kNone) return core::Status::Ok();
  if (kind == Kind::kBool || value.is_number()) {
    AppendScalar(out, value);
  } else if (kind == Kind::kString) {
    RETURN_IF_ERROR(budget.CheckSize(out.size() + value.string().size()));
    out += value.string();
  } else if (kind == Kind::kCallable) {
    out += "<function>";
  } else {
    return AppendJson(out, value, TemplateJsonOptions{}, budget);
  }
  return core::Status::Ok();
}

core::Result<bool> ValuesEqual(const TemplateValue& a, const TemplateValue& b, TemplateBudget& budget, int depth) {
  using Kind = TemplateValue::Kind;
  if (depth > budget.max_value_depth) return TooDeep(budget);
  RETURN_IF_ERROR(budget.Spend(1));
  auto numeric = [](const TemplateValue& v) {
    return v.kind() == Kind::kInt || v.kind() == Kind::kFloat || v.kind() == Kind::kBool;
  };
  if (numeric(a) && numeric(b)) {
    if (a.kind() != Kind::kFloat && b.kind() != Kind::kFloat) {
      auto whole = [](const TemplateValue& v) { return v.kind() == Kind::kInt ? v.integer() : int64_t{v.boolean()}; };
      return whole(a) == whole(b);
    }
    return a.number() == b.number();
  }
  if (a.kind() != b.kind()) return false;
  switch (a.kind()) {
    case Kind::kUndefined:
    case Kind::kNone:
      return true;
    case Kind::kString:
      return a.string() == b.string();
    case Kind::kList: {
      if (a.list().size() != b.list().size()) return false;
      for (size_t i = 0; i < a.list().size(); ++i) {
        ASSIGN_OR_RETURN(bool equal, ValuesEqual(a.list()[i], b.list()[i], budget, depth + 1));
        if (!equal) return false;
      }
      return true;
    }
    case Kind::kDict:
    case Kind::kNamespace: {
      if (a.dict().size() != b.dict().size()) return false;
      for (const auto& [key, value] : a.dict().entries()) {
        const TemplateValue* other = b.dict().Find(key);
        if (other == nullptr) return false;
        ASSIGN_OR_RETURN(bool equal, ValuesEqual(value, *other, budget, depth + 1));
        if (!equal) return false;
      }
      return true;
    }
    default:
      return &a.callable() == &b.callable();
  }
}

core::Result<int> CompareValues(const TemplateValue& a, const TemplateValue& b) {
  using Kind = TemplateValue::Kind;
  auto numeric = [](const TemplateValue& v) {
    return v.kind() == Kind::kInt || v.kind() == Kind::kFloat || v.kind() == Kind::kBool;
  };
  if (numeric(a) && numeric(b)) {
    if (a.kind() == Kind::kInt && b.kind() == Kind::kInt)
      return (a.integer() > b.integer()) - (a.integer() < b.integer());
    return (a.number() > b.number()) - (a.number() < b.number());
  }
  if (a.is_string() && b.is_string()) return a.string().compare(b.string()) < 0 ? -1 : a.string() == b.string() ? 0 : 1;
  return core::InvalidArgument("chat template: cannot compare {} with {}", a.KindName(), b.KindName());
}

}  // namespace berth::llm
