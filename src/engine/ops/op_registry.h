// The table of operators berth can run, keyed by (domain, op_type, opset).
//
// The built-in kernels fill one (engine/kernels/builtin_kernels.h: one
// registration function per file, all called from one list). A lookup
// picks the definition with the largest since_version <= the model's opset;
// models newer than any registered version use the newest definition.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "engine/ops/kernel.h"

namespace berth::engine {

class OpRegistry {
 public:
  void Register(OpDefinition definition);
  // Registers the same infer/create for several since-versions.
  void Register(std::string_view domain, std::string_view op_type, std::initializer_list<int> since_versions,
                InferFunction infer, KernelFactory create);

  // nullptr when the op is unknown or `opset` predates every definition.
  const OpDefinition* Find(std::string_view domain, std::string_view op_type, int opset) const;
  bool Knows(std::string_view domain, std::string_view op_type) const;
  std::vector<const OpDefinition*> All() const;

 private:
  // (domain, op_type) -> since_version -> definition
  std::map<std::pair<std::string, std::string>, std::map<int, OpDefinition>, std::less<>> ops_;
};

}  // namespace berth::engine
