#include "core/allocator.h"

#include <cstdint>

#include <gtest/gtest.h>

namespace berth::core {
namespace {

TEST(CachingAllocatorTest, ReusesReleasedBlocksAligned) {
  CachingAllocator allocator;
  void* first = nullptr;
  {
    std::shared_ptr<void> block = allocator.Allocate(1000);
    ASSERT_NE(block, nullptr);
    EXPECT_EQ(reinterpret_cast<uintptr_t>(block.get()) % kTensorAlignment, 0u);
    first = block.get();
  }
  EXPECT_EQ(allocator.cached_bytes(), 1024u);  // rounded to the alignment
  std::shared_ptr<void> again = allocator.Allocate(1000);
  EXPECT_EQ(again.get(), first);
  EXPECT_EQ(allocator.cached_bytes(), 0u);
  EXPECT_EQ(allocator.heap_allocations(), 1u);
}

TEST(CachingAllocatorTest, TakesTheBlockReleasedLastAmongEqualOnes) {
  CachingAllocator allocator;
  std::shared_ptr<void> a = allocator.Allocate(4096);
  std::shared_ptr<void> b = allocator.Allocate(4096);
  std::shared_ptr<void> c = allocator.Allocate(4096);
  void* b_address = b.get();
  void* c_address = c.get();
  a.reset();
  c.reset();
  b.reset();  // released last: the warmest
  EXPECT_EQ(allocator.Allocate(4096).get(), b_address);
  std::shared_ptr<void> held = allocator.Allocate(4096);
  EXPECT_EQ(held.get(), b_address);  // the first was released again at once
  EXPECT_EQ(allocator.Allocate(4096).get(), c_address);
  EXPECT_EQ(allocator.heap_allocations(), 3u);
}

TEST(CachingAllocatorTest, BestFitWithinTwice) {
  CachingAllocator allocator;
  std::shared_ptr<void> big = allocator.Allocate(64 * 1024);
  std::shared_ptr<void> mid = allocator.Allocate(16 * 1024);
  void* big_address = big.get();
  void* mid_address = mid.get();
  big.reset();
  mid.reset();
  // 12 KiB: the 16 KiB block fits within 2x, the 64 KiB one is spared.
  std::shared_ptr<void> small = allocator.Allocate(12 * 1024);
  EXPECT_EQ(small.get(), mid_address);
  // 8 KiB: nothing within 2x is free, so a new block.
  std::shared_ptr<void> tiny = allocator.Allocate(8 * 1024);
  EXPECT_NE(tiny.get(), big_address);
  EXPECT_EQ(allocator.heap_allocations(), 3u);
  EXPECT_EQ(allocator.cached_bytes(), 64u * 1024);
}

TEST(CachingAllocatorTest, LargeBlocksComeInSizeClasses) {
  CachingAllocator allocator;
  void* address = nullptr;
  {
    // MobileNetV2's 32x112x112 activation: its block is made 1.75 MiB, so...
    std::shared_ptr<void> block = allocator.Allocate(32 * 112 * 112 * 4);
    address = block.get();
  }
  EXPECT_EQ(allocator.cached_bytes(), 1792u * 1024);
  // ...the next stage's 144x56x56 (1.72 MiB) reuses it.
  EXPECT_EQ(allocator.Allocate(144 * 56 * 56 * 4).get(), address);
  EXPECT_EQ(allocator.heap_allocations(), 1u);
  // Four classes per power of two; below 1 MiB, only the alignment.
  for (auto [bytes, block_size] : {std::pair<size_t, size_t>{1000 * 1000, 1000 * 1000},
                                   {size_t{1} << 20, size_t{1} << 20},
                                   {(size_t{1} << 20) + 1, 1280 * 1024},
                                   {size_t{4} << 20, size_t{4} << 20},
                                   {(size_t{4} << 20) + 64, 5 * 1024 * 1024}}) {
    CachingAllocator fresh;
    { std::shared_ptr<void> block = fresh.Allocate(bytes); }
    EXPECT_EQ(fresh.cached_bytes(), block_size) << bytes;
  }
}

TEST(CachingAllocatorTest, KeepsNoMoreThanItsLimit) {
  CachingAllocator allocator(8 * 1024);
  {
    std::shared_ptr<void> a = allocator.Allocate(6 * 1024);
    std::shared_ptr<void> b = allocator.Allocate(6 * 1024);
  }
  EXPECT_EQ(allocator.cached_bytes(), 6u * 1024);  // the second went back to the heap
}

TEST(CachingAllocatorTest, BlocksMayOutliveTheAllocator) {
  std::shared_ptr<void> block;
  {
    CachingAllocator allocator;
    block = allocator.Allocate(256);
    ASSERT_NE(block, nullptr);
  }
  static_cast<char*>(block.get())[255] = 1;  // still valid; freed to the heap on release (ASan checks)
  block.reset();
}

}  // namespace
}  // namespace berth::core
