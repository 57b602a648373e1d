#include "core/memory_budget.h"

#include <algorithm>
#include <fstream>
#include <iterator>
#include <limits>
#include <sstream>
#include <vector>

namespace berth::core {
namespace {

// Raises `peak` to `value` if it is higher, against concurrent raisers.
void RaiseTo(std::atomic<uint64_t>& peak, uint64_t value) {
  uint64_t seen = peak.load(std::memory_order_relaxed);
  while (value > seen && !peak.compare_exchange_weak(seen, value, std::memory_order_relaxed)) {
  }
}

}  // namespace

bool MemoryBudget::TryCharge(uint64_t bytes) {
  uint64_t used = in_use_.load(std::memory_order_relaxed);
  do {
    if (limit_ != 0 && (bytes > limit_ || used > limit_ - bytes)) return false;
  } while (!in_use_.compare_exchange_weak(used, used + bytes, std::memory_order_relaxed));
  NotePeak(used + bytes);
  return true;
}

void MemoryBudget::Charge(uint64_t bytes) { NotePeak(in_use_.fetch_add(bytes, std::memory_order_relaxed) + bytes); }

void MemoryBudget::Release(uint64_t bytes) { in_use_.fetch_sub(bytes, std::memory_order_relaxed); }

void MemoryBudget::CountRefusal(bool request_limit) {
  (request_limit ? request_refusals_ : process_refusals_).fetch_add(1, std::memory_order_relaxed);
}

void MemoryBudget::NotePeak(uint64_t value) { RaiseTo(peak_, value); }

MemoryAccount::~MemoryAccount() {
  if (budget_) budget_->Release(in_use_.load(std::memory_order_relaxed));
}

Status MemoryAccount::Charge(uint64_t bytes, std::string_view what) {
  Status refused;
  uint64_t used = in_use_.load(std::memory_order_relaxed);
  do {
    if (limit_ != 0 && (bytes > limit_ || used > limit_ - bytes)) {
      refused = Status(StatusCode::kRequestTooLarge,
                       fmt::format("the request needs more memory than one request may use: {} for {} on top of "
                                   "{} already held, over the limit of {} (--max-request-memory)",
                                   FormatBytes(bytes), what, FormatBytes(used), FormatBytes(limit_)));
      break;
    }
  } while (!in_use_.compare_exchange_weak(used, used + bytes, std::memory_order_relaxed));
  if (refused.ok() && budget_ && !budget_->TryCharge(bytes)) {
    in_use_.fetch_sub(bytes, std::memory_order_relaxed);
    refused = ResourceExhausted(
        "the server's memory for requests is in use: {} for {} does not fit in what is left of {} "
        "(--memory-budget; {} in use); retry later",
        FormatBytes(bytes), what, FormatBytes(budget_->limit()), FormatBytes(budget_->in_use()));
  }
  if (refused.ok()) {
    RaiseTo(peak_, used + bytes);
    return refused;
  }
  if (budget_) budget_->CountRefusal(refused.code() == StatusCode::kRequestTooLarge);
  std::lock_guard lock(mutex_);
  if (refusal_.ok()) refusal_ = refused;
  return refused;
}

void MemoryAccount::Release(uint64_t bytes) {
  in_use_.fetch_sub(bytes, std::memory_order_relaxed);
  if (budget_) budget_->Release(bytes);
}

Status MemoryAccount::refusal() const {
  std::lock_guard lock(mutex_);
  return refusal_;
}

MemoryReservation::MemoryReservation(MemoryAccount* account, uint64_t bytes, std::string_view what)
    : account_(account) {
  if (!account_ || bytes == 0) return;
  status_ = account_->Charge(bytes, what);
  if (status_.ok()) bytes_ = bytes;
}

MemoryReservation::~MemoryReservation() {
  if (bytes_ != 0) account_->Release(bytes_);
}

std::shared_ptr<void> AccountedAllocator::Allocate(size_t bytes) {
  if (!account_->Charge(bytes, "a tensor").ok()) return nullptr;
  std::shared_ptr<void> block = inner_.Allocate(bytes);
  if (!block) {
    account_->Release(bytes);
    return nullptr;
  }
  void* data = block.get();
  return std::shared_ptr<void>(data, [block = std::move(block), account = account_, bytes](void*) mutable {
    block.reset();
    account->Release(bytes);
  });
}

std::shared_ptr<void> AccountedAllocator::Account(size_t bytes) {
  if (!account_->Charge(bytes, "a tensor of strings").ok()) return nullptr;
  static int token = 0;
  return std::shared_ptr<void>(&token, [account = account_, bytes](void*) { account->Release(bytes); });
}

namespace {

// A cgroup limit file's value: bytes, or 0 for "max" / unreadable / absurd.
uint64_t ReadLimitFile(const std::string& path) {
  std::ifstream in(path);
  std::string text;
  if (!(in >> text) || text == "max") return 0;
  try {
    size_t used = 0;
    unsigned long long value = std::stoull(text, &used);
    // cgroup v1 writes "no limit" as a huge page-rounded number.
    if (used != text.size() || value >= (uint64_t{1} << 60)) return 0;
    return value;
  } catch (const std::exception&) {
    return 0;
  }
}

uint64_t Tightest(uint64_t a, uint64_t b) {
  if (a == 0) return b;
  if (b == 0) return a;
  return std::min(a, b);
}

uint64_t CgroupLimit() {
  std::ifstream cgroups("/proc/self/cgroup");
  std::string line;
  uint64_t limit = 0;
  while (std::getline(cgroups, line)) {
    // "0::/path" (v2) or "N:memory:/path" / "N:cpu,memory:/path" (v1).
    size_t first = line.find(':');
    size_t second = first == std::string::npos ? first : line.find(':', first + 1);
    if (second == std::string::npos) continue;
    std::string controllers = line.substr(first + 1, second - first - 1);
    std::string path = line.substr(second + 1);
    std::string root, file;
    if (controllers.empty()) {
      root = "/sys/fs/cgroup";
      file = "memory.max";
    } else {
      std::stringstream list(controllers);
      std::string controller;
      bool memory = false;
      while (std::getline(list, controller, ',')) memory = memory || controller == "memory";
      if (!memory) continue;
      root = "/sys/fs/cgroup/memory";
      file = "memory.limit_in_bytes";
    }
    // The limit that binds is the tightest on the way up to the root. Inside
    // a container the path may not exist (the namespace's root is ours).
    std::string dir = path;
    while (true) {
      limit = Tightest(limit, ReadLimitFile(root + (dir == "/" ? "" : dir) + "/" + file));
      if (dir.empty() || dir == "/") break;
      size_t slash = dir.rfind('/');
      dir = slash == 0 || slash == std::string::npos ? "/" : dir.substr(0, slash);
    }
  }
  return limit;
}

uint64_t MemTotal() {
  std::ifstream meminfo("/proc/meminfo");
  std::string key;
  uint64_t kib = 0;
  while (meminfo >> key) {
    if (key == "MemTotal:") {
      meminfo >> kib;
      return kib * 1024;
    }
    meminfo.ignore(std::numeric_limits<std::streamsize>::max(), '\n');
  }
  return 0;
}

}  // namespace

uint64_t AvailableMemoryLimit() { return Tightest(CgroupLimit(), MemTotal()); }

std::string FormatBytes(uint64_t bytes) {
  static constexpr const char* kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
  if (bytes < 1024) return fmt::format("{} B", bytes);
  double value = static_cast<double>(bytes);
  size_t unit = 0;
  while (value >= 1024 && unit + 1 < std::size(kUnits)) {
    value /= 1024;
    ++unit;
  }
  return fmt::format("{:.3g} {}", value, kUnits[unit]);
}

}  // namespace berth::core
