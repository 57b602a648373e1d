// KvCache: one sequence's attention keys and values, F16 or F32, laid out
// [layer][kv head][position][head_dim] for a fixed number of positions. It
// holds values only: which positions are in use is its owner's business
// (ModelContext::position()). Written and read by the forward pass
// (forward_step.h); not thread-safe.
#pragma once

#include <cstdint>
#include <memory>

#include "llm/model/model_config.h"

namespace berth::llm {

enum class KvCacheType { kF16, kF32 };

class KvCache {
 public:
  // Room for `context_size` positions of every layer; the memory is not
  // touched (only positions below the owner's position are ever read).
  KvCache(const ModelConfig& config, int64_t context_size, KvCacheType type);

  int64_t context_size() const { return context_size_; }
  KvCacheType type() const { return type_; }
  uint64_t bytes() const;

  // Index of the first value of (layer, kv head, position).
  uint64_t Offset(int64_t layer, int64_t kv_head, int64_t position) const {
    return (static_cast<uint64_t>(layer * n_head_kv_ + kv_head) * static_cast<uint64_t>(context_size_) +
            static_cast<uint64_t>(position)) *
           static_cast<uint64_t>(head_dim_);
  }
  // The keys and values of the cache's type (the others are null).
  uint16_t* keys16() const { return k16_.get(); }
  uint16_t* values16() const { return v16_.get(); }
  float* keys32() const { return k32_.get(); }
  float* values32() const { return v32_.get(); }

 private:
  int64_t context_size_ = 0, n_head_kv_ = 0, head_dim_ = 0;
  KvCacheType type_ = KvCacheType::kF16;
  uint64_t values_ = 0;  // per tensor (K or V)
  std::unique_ptr<uint16_t[]> k16_, v16_;
  std::unique_ptr<float[]> k32_, v32_;
};

}  // namespace berth::llm
