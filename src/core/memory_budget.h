// Memory budgets for work done on behalf of requests.
//
// MemoryBudget is the process's: request bodies being received, parsed
// requests, activations and outputs of running models, all together, and
// the models' own weights (charged at load, never refused). MemoryAccount is
// one request's: everything held for it is charged to the account, which
// checks its own limit first and then the process budget. A charge that
// does not fit is refused before the memory is touched, so a request that
// would need 16 GB is answered without the 16 GB ever being allocated.
//
// Two refusals, two meanings:
//   kRequestTooLarge    the request alone needs more than the per-request
//                       limit: it will never run as it is (HTTP 507);
//   kResourceExhausted  the request would fit, but the process budget is
//                       taken by other work right now: retry (HTTP 503).
//
// AccountedAllocator charges every block it hands out to an account and
// releases the charge when the block is freed, however long the tensor lives
// (outputs outlive the run until the response is written). All classes here
// are thread-safe.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "core/allocator.h"
#include "core/status.h"

namespace berth::core {

class MemoryBudget {
 public:
  // `limit` 0: no limit (charges are still counted).
  explicit MemoryBudget(uint64_t limit = 0) : limit_(limit) {}

  uint64_t limit() const { return limit_; }
  uint64_t in_use() const { return in_use_.load(std::memory_order_relaxed); }
  uint64_t peak() const { return peak_.load(std::memory_order_relaxed); }

  // Takes `bytes` if they fit under the limit; false (nothing taken) if not.
  bool TryCharge(uint64_t bytes);
  // Takes `bytes` even past the limit (a loaded model's weights exist
  // whether or not they fit).
  void Charge(uint64_t bytes);
  void Release(uint64_t bytes);

  // Refusals so far, by the limit that refused.
  uint64_t request_refusals() const { return request_refusals_.load(std::memory_order_relaxed); }
  uint64_t process_refusals() const { return process_refusals_.load(std::memory_order_relaxed); }
  void CountRefusal(bool request_limit);

 private:
  void NotePeak(uint64_t value);

  const uint64_t limit_;
  std::atomic<uint64_t> in_use_{0};
  std::atomic<uint64_t> peak_{0};
  std::atomic<uint64_t> request_refusals_{0};
  std::atomic<uint64_t> process_refusals_{0};
};

class MemoryAccount {
 public:
  // `budget` may be null (no process budget); `limit` 0: no per-request limit.
  MemoryAccount(MemoryBudget* budget, uint64_t limit) : budget_(budget), limit_(limit) {}
  ~MemoryAccount();
  MemoryAccount(const MemoryAccount&) = delete;
  MemoryAccount& operator=(const MemoryAccount&) = delete;

  // Charges `bytes` for `what` ("the request body", "float32 [4000,1000000]").
  // On refusal nothing is charged, the refusal is counted in the budget and
  // remembered (refusal()), and the returned status says which limit and by
  // how much: kRequestTooLarge or kResourceExhausted.
  Status Charge(uint64_t bytes, std::string_view what);
  void Release(uint64_t bytes);

  uint64_t limit() const { return limit_; }
  uint64_t in_use() const { return in_use_.load(std::memory_order_relaxed); }
  uint64_t peak() const { return peak_.load(std::memory_order_relaxed); }
  // The first refusal, or OK when nothing was refused. Code that sees an
  // allocation fail reports this instead of a plain "out of memory".
  Status refusal() const;

 private:
  MemoryBudget* const budget_;
  const uint64_t limit_;
  std::atomic<uint64_t> in_use_{0};
  std::atomic<uint64_t> peak_{0};
  mutable std::mutex mutex_;
  Status refusal_;
};

// Charges `bytes` on construction (check status()) and releases them when
// destroyed, for memory that lives as long as a scope (a parser's tree).
class MemoryReservation {
 public:
  MemoryReservation(MemoryAccount* account, uint64_t bytes, std::string_view what);
  ~MemoryReservation();
  MemoryReservation(const MemoryReservation&) = delete;
  MemoryReservation& operator=(const MemoryReservation&) = delete;
  const Status& status() const { return status_; }

 private:
  MemoryAccount* account_;
  uint64_t bytes_ = 0;
  Status status_;
};

// Hands out `inner`'s blocks, each charged to `account` while it lives.
// Allocate returns nullptr when the account refuses (see its refusal()).
class AccountedAllocator : public Allocator {
 public:
  AccountedAllocator(Allocator& inner, std::shared_ptr<MemoryAccount> account)
      : inner_(inner), account_(std::move(account)) {}
  std::shared_ptr<void> Allocate(size_t bytes) override;
  std::shared_ptr<void> Account(size_t bytes) override;
  MemoryAccount& account() const { return *account_; }

 private:
  Allocator& inner_;
  std::shared_ptr<MemoryAccount> account_;
};

// The memory this process may use: the tightest cgroup memory limit over
// its cgroup and the cgroups above it (v2 memory.max, v1
// memory.limit_in_bytes), else the machine's MemTotal. 0 when unknown.
uint64_t AvailableMemoryLimit();

// "1.5 GiB", "512 MiB", "300 B": sizes in messages.
std::string FormatBytes(uint64_t bytes);

}  // namespace berth::core
