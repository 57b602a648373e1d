#include "engine/ops/op_registry.h"

namespace berth::engine {

void OpRegistry::Register(OpDefinition definition) {
  definition.domain = std::string(NormalizeDomain(definition.domain));
  auto key = std::make_pair(definition.domain, definition.op_type);
  int version = definition.since_version;
  ops_[key][version] = std::move(definition);
}

void OpRegistry::Register(std::string_view domain, std::string_view op_type, std::initializer_list<int> since_versions,
                          InferFunction infer, KernelFactory create) {
  for (int version : since_versions) {
    Register(OpDefinition{std::string(domain), std::string(op_type), version, infer, create});
  }
}

const OpDefinition* OpRegistry::Find(std::string_view domain, std::string_view op_type, int opset) const {
  auto it = ops_.find(std::make_pair(std::string(NormalizeDomain(domain)), std::string(op_type)));
  if (it == ops_.end()) return nullptr;
  const auto& versions = it->second;
  if (opset <= 0) return &versions.rbegin()->second;  // domain not imported: newest
  auto v = versions.upper_bound(opset);
  if (v == versions.begin()) return nullptr;
  return &std::prev(v)->second;
}

bool OpRegistry::Knows(std::string_view domain, std::string_view op_type) const {
  return ops_.count(std::make_pair(std::string(NormalizeDomain(domain)), std::string(op_type))) != 0;
}

std::vector<const OpDefinition*> OpRegistry::All() const {
  std::vector<const OpDefinition*> out;
  for (const auto& [key, versions] : ops_) {
    for (const auto& [version, definition] : versions) out.push_back(&definition);
  }
  return out;
}

}  // namespace berth::engine
