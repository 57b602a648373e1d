#include "core/memory_budget.h"

#include <gtest/gtest.h>

#include <string>
#include <thread>
#include <vector>

#include "core/tensor.h"

namespace berth::core {
namespace {

TEST(MemoryBudgetTest, ChargesUpToTheLimitAndReleases) {
  MemoryBudget budget(1000);
  EXPECT_TRUE(budget.TryCharge(600));
  EXPECT_FALSE(budget.TryCharge(401));
  EXPECT_TRUE(budget.TryCharge(400));
  EXPECT_EQ(budget.in_use(), 1000u);
  budget.Release(1000);
  EXPECT_EQ(budget.in_use(), 0u);
  EXPECT_EQ(budget.peak(), 1000u);
  EXPECT_FALSE(budget.TryCharge(UINT64_MAX));  // no wrap-around
  budget.Charge(5000);                         // a model's weights: never refused
  EXPECT_EQ(budget.in_use(), 5000u);
}

TEST(MemoryBudgetTest, ZeroLimitCountsWithoutRefusing) {
  MemoryBudget budget;
  EXPECT_TRUE(budget.TryCharge(uint64_t{1} << 50));
  EXPECT_EQ(budget.in_use(), uint64_t{1} << 50);
}

TEST(MemoryAccountTest, RequestLimitIsRequestTooLarge) {
  MemoryBudget budget(1 << 20);
  {
    MemoryAccount account(&budget, 1000);
    ASSERT_TRUE(account.Charge(900, "the body").ok());
    Status refused = account.Charge(200, "float32 [50]");
    EXPECT_EQ(refused.code(), StatusCode::kRequestTooLarge);
    EXPECT_NE(refused.message().find("--max-request-memory"), std::string::npos) << refused.message();
    EXPECT_NE(refused.message().find("float32 [50]"), std::string::npos) << refused.message();
    EXPECT_EQ(account.refusal().code(), StatusCode::kRequestTooLarge);
    EXPECT_EQ(account.in_use(), 900u);
    EXPECT_EQ(budget.in_use(), 900u);
    EXPECT_EQ(budget.request_refusals(), 1u);
  }
  EXPECT_EQ(budget.in_use(), 0u);  // what the account held goes back with it
}

TEST(MemoryAccountTest, FullProcessBudgetIsResourceExhausted) {
  MemoryBudget budget(1000);
  MemoryAccount first(&budget, 0);
  MemoryAccount second(&budget, 0);
  ASSERT_TRUE(first.Charge(700, "a").ok());
  Status refused = second.Charge(400, "b");
  EXPECT_EQ(refused.code(), StatusCode::kResourceExhausted);
  EXPECT_NE(refused.message().find("--memory-budget"), std::string::npos) << refused.message();
  EXPECT_EQ(second.in_use(), 0u);
  EXPECT_EQ(budget.in_use(), 700u);
  EXPECT_EQ(budget.process_refusals(), 1u);
  first.Release(700);
  EXPECT_TRUE(second.Charge(400, "b").ok());
}

TEST(MemoryAccountTest, ReservationReleasesAtScopeEnd) {
  MemoryBudget budget(1000);
  MemoryAccount account(&budget, 0);
  {
    MemoryReservation tree(&account, 800, "the parsed JSON");
    ASSERT_TRUE(tree.status().ok());
    MemoryReservation more(&account, 800, "more");
    EXPECT_EQ(more.status().code(), StatusCode::kResourceExhausted);
    EXPECT_EQ(account.in_use(), 800u);
  }
  EXPECT_EQ(account.in_use(), 0u);
  EXPECT_EQ(budget.in_use(), 0u);
  MemoryReservation none(nullptr, 1 << 30, "unaccounted");
  EXPECT_TRUE(none.status().ok());
}

TEST(AccountedAllocatorTest, TensorsStayChargedWhileTheyLive) {
  MemoryBudget budget(1 << 20);
  auto account = std::make_shared<MemoryAccount>(&budget, 64 << 10);
  AccountedAllocator allocator(HeapAllocator(), account);
  auto tensor = Tensor::Create(DataType::kFloat32, {1000}, allocator);
  ASSERT_TRUE(tensor.ok());
  EXPECT_EQ(account->in_use(), 4000u);
  {
    Tensor copy = *tensor;  // shares the storage: charged once
    EXPECT_EQ(account->in_use(), 4000u);
  }
  // Too large for the account: refused before any memory is touched.
  auto huge = Tensor::Create(DataType::kFloat32, {4000, 1000000}, allocator);
  ASSERT_FALSE(huge.ok());
  EXPECT_EQ(account->refusal().code(), StatusCode::kRequestTooLarge);
  EXPECT_EQ(account->in_use(), 4000u);
  // Strings are charged by the size of their objects.
  auto strings = Tensor::Create(DataType::kString, {10}, allocator);
  ASSERT_TRUE(strings.ok());
  EXPECT_EQ(account->in_use(), 4000u + 10 * sizeof(std::string));
  strings = Result<Tensor>(Tensor());
  *tensor = Tensor();
  EXPECT_EQ(account->in_use(), 0u);
  EXPECT_EQ(budget.in_use(), 0u);
}

TEST(AccountedAllocatorTest, OutlivesItsAccountHolder) {
  MemoryBudget budget(1 << 20);
  Tensor kept;
  {
    auto account = std::make_shared<MemoryAccount>(&budget, 0);
    AccountedAllocator allocator(HeapAllocator(), account);
    auto tensor = Tensor::Create(DataType::kInt64, {100}, allocator);
    ASSERT_TRUE(tensor.ok());
    kept = *tensor;
  }
  EXPECT_EQ(budget.in_use(), 800u);  // an output still being written out
  kept = Tensor();
  EXPECT_EQ(budget.in_use(), 0u);
}

TEST(AccountedAllocatorTest, ConcurrentChargesNeverExceedTheBudget) {
  MemoryBudget budget(64 << 10);
  std::vector<std::thread> threads;
  std::atomic<int> refused{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      auto account = std::make_shared<MemoryAccount>(&budget, 0);
      AccountedAllocator allocator(HeapAllocator(), account);
      for (int i = 0; i < 2000; ++i) {
        auto tensor = Tensor::Create(DataType::kUInt8, {20 << 10}, allocator);
        if (!tensor.ok()) refused.fetch_add(1);
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_LE(budget.peak(), 64u << 10);
  EXPECT_EQ(budget.in_use(), 0u);
  EXPECT_EQ(budget.process_refusals(), static_cast<uint64_t>(refused.load()));
}

TEST(MemoryLimitTest, ReadsALimitAndFormatsSizes) {
  EXPECT_GT(AvailableMemoryLimit(), uint64_t{64} << 20);  // a cgroup limit or MemTotal
  EXPECT_EQ(FormatBytes(300), "300 B");
  EXPECT_EQ(FormatBytes(512 << 20), "512 MiB");
  EXPECT_EQ(FormatBytes(uint64_t{3} << 29), "1.5 GiB");
}

}  // namespace
}  // namespace berth::core
