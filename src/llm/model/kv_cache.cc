#include "llm/model/kv_cache.h"

namespace berth::llm {

KvCache::KvCache(const ModelConfig& config, int64_t context_size, KvCacheType type)
    : context_size_(context_size), n_head_kv_(config.n_head_kv), head_dim_(config.head_dim), type_(type) {
  values_ = static_cast<uint64_t>(config.n_layer) * static_cast<uint64_t>(config.kv_dim()) *
            static_cast<uint64_t>(context_size);
  // No zeroing, so that the pages of a large cache are touched as the
  // sequence grows.
  if (type == KvCacheType::kF16) {
    k16_ = std::make_unique_for_overwrite<uint16_t[]>(values_);
    v16_ = std::make_unique_for_overwrite<uint16_t[]>(values_);
  } else {
    k32_ = std::make_unique_for_overwrite<float[]>(values_);
    v32_ = std::make_unique_for_overwrite<float[]>(values_);
  }
}

uint64_t KvCache::bytes() const {
  return 2 * values_ * (type_ == KvCacheType::kF16 ? sizeof(uint16_t) : sizeof(float));
}

}  // namespace berth::llm
