// Memory for tensors: 64-byte aligned blocks, shared ownership.
//
// Allocator is the seam where the runtime plugs in buffer reuse: the default
// allocator goes to the heap; a CachingAllocator keeps freed blocks for the
// next run so steady-state inference does not call malloc. Blocks are handed
// out as shared_ptr<void> whose deleter returns them, so a tensor may outlive
// the run (or the allocator object) that made it.
#pragma once

#include <cstddef>
#include <memory>

namespace berth::core {

inline constexpr size_t kTensorAlignment = 64;

class Allocator {
 public:
  virtual ~Allocator() = default;
  // Returns nullptr when the memory cannot be had. Thread-safe.
  virtual std::shared_ptr<void> Allocate(size_t bytes) = 0;
  // For memory the caller gets elsewhere (the std::string objects of a
  // string tensor): a token that holds `bytes` against whatever limit this
  // allocator enforces until it is released, or nullptr when they do not
  // fit. The default enforces nothing.
  virtual std::shared_ptr<void> Account(size_t bytes);
};

// Plain aligned heap allocation. Thread-safe; never destroyed.
Allocator& HeapAllocator();

// Keeps released blocks in size classes and hands them out again: the
// smallest class that fits (within 2x), and in it the block released last,
// whose bytes are the likeliest still in cache. Thread-safe.
// Blocks larger than `max_cached_bytes` in total are returned to the heap.
class CachingAllocator : public Allocator {
 public:
  explicit CachingAllocator(size_t max_cached_bytes = size_t{1} << 31);
  ~CachingAllocator() override;
  std::shared_ptr<void> Allocate(size_t bytes) override;
  size_t cached_bytes() const;
  size_t heap_allocations() const;  // blocks taken from the heap so far

 private:
  struct Pool;
  std::shared_ptr<Pool> pool_;
};

}  // namespace berth::core
