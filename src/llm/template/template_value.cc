#include "llm/template/template_value.h"

namespace berth::llm {

void TemplateDict::Set(std::string key, TemplateValue value) {
  auto found = index_.find(key);
  if (found != index_.end()) {
    entries_[found->second].second = std::move(value);
    return;
  }
  index_.emplace(key, entries_.size());
  entries_.emplace_back(std::move(key), std::move(value));
}

const TemplateValue* TemplateDict::Find(std::string_view key) const {
  auto found = index_.find(std::string(key));
  return found == index_.end() ? nullptr : &entries_[found->second].second;
}

TemplateValue TemplateValue::None() { return TemplateValue(Kind::kNone); }

TemplateValue TemplateValue::Bool(bool b) {
  TemplateValue value(Kind::kBool);
  value.scalar_.boolean = b;
  return value;
}

TemplateValue TemplateValue::Int(int64_t i) {
  TemplateValue value(Kind::kInt);
  value.scalar_.integer = i;
  return value;
}

TemplateValue TemplateValue::Float(double d) {
  TemplateValue value(Kind::kFloat);
  value.scalar_.floating = d;
  return value;
}

TemplateValue TemplateValue::String(std::string s) {
  TemplateValue value(Kind::kString);
  value.string_ = std::make_shared<const std::string>(std::move(s));
  return value;
}

TemplateValue TemplateValue::MakeList(List items) {
  TemplateValue value(Kind::kList);
  value.list_ = std::make_shared<const List>(std::move(items));
  return value;
}

TemplateValue TemplateValue::MakeDict(TemplateDict dict) {
  TemplateValue value(Kind::kDict);
  value.dict_ = std::make_shared<TemplateDict>(std::move(dict));
  return value;
}

TemplateValue TemplateValue::MakeNamespace(TemplateDict dict) {
  TemplateValue value = MakeDict(std::move(dict));
  value.kind_ = Kind::kNamespace;
  return value;
}

TemplateValue TemplateValue::Callable(std::shared_ptr<const TemplateCallable> callable) {
  TemplateValue value(Kind::kCallable);
  value.callable_ = std::move(callable);
  return value;
}

double TemplateValue::number() const {
  switch (kind_) {
    case Kind::kInt:
      return static_cast<double>(scalar_.integer);
    case Kind::kFloat:
      return scalar_.floating;
    case Kind::kBool:
      return scalar_.boolean ? 1 : 0;
    default:
      return 0;
  }
}

const std::string& TemplateValue::string() const {
  static const std::string kEmpty;
  return string_ ? *string_ : kEmpty;
}

const TemplateValue::List& TemplateValue::list() const {
  static const List kEmpty;
  return list_ ? *list_ : kEmpty;
}

const TemplateDict& TemplateValue::dict() const {
  static const TemplateDict kEmpty;
  return dict_ ? *dict_ : kEmpty;
}

TemplateDict& TemplateValue::namespace_members() const { return *dict_; }

bool TemplateValue::Truthy() const {
  switch (kind_) {
    case Kind::kUndefined:
    case Kind::kNone:
      return false;
    case Kind::kBool:
      return scalar_.boolean;
    case Kind::kInt:
      return scalar_.integer != 0;
    case Kind::kFloat:
      return scalar_.floating != 0;
    case Kind::kString:
      return !string_->empty();
    case Kind::kList:
      return !list_->empty();
    case Kind::kDict:
      return dict_->size() > 0;
    case Kind::kNamespace:
    case Kind::kCallable:
      return true;
  }
  return false;
}

const char* TemplateValue::KindName() const {
  switch (kind_) {
    case Kind::kUndefined:
      return "undefined";
    case Kind::kNone:
      return "none";
    case Kind::kBool:
      return "bool";
    case Kind::kInt:
      return "int";
    case Kind::kFloat:
      return "float";
    case Kind::kString:
      return "string";
    case Kind::kList:
      return "list";
    case Kind::kDict:
      return "dict";
    case Kind::kNamespace:
      return "namespace";
    case Kind::kCallable:
      return "callable";
  }
  return "value";
}

}  // namespace berth::llm
