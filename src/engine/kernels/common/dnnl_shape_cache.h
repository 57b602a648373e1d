// A small per-kernel cache of objects built for one input shape (oneDNN
// primitives and the weights prepared for them), so that steady-state runs
// create no primitives and reorder no weights.
//
// Kernels run on several threads at once: lookups take a mutex, hand out
// shared_ptrs (an entry stays valid while a run uses it even if it is
// evicted), and neither building a key nor looking one up allocates.
#pragma once

#include <array>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <mutex>
#include <span>
#include <utility>
#include <vector>

#include "core/parallel.h"
#include "core/status.h"

namespace berth::engine {

// The values that identify a problem (dims, flags). Fixed capacity: a key
// that overflows is marked invalid and the caller does not cache.
//
// oneDNN sizes scratchpads and splits work by the thread count in force when
// a primitive is created, and sessions set that count per calling thread, so
// every key starts with the calling thread's count.
class DnnlShapeKey {
 public:
  static constexpr size_t kCapacity = 48;

  DnnlShapeKey() { Add(core::IntraOpThreads()); }

  void Add(int64_t value) {
    if (size_ == kCapacity) {
      overflow_ = true;
      return;
    }
    values_[size_++] = value;
  }
  void Add(std::span<const int64_t> values) {
    for (int64_t v : values) Add(v);
  }
  void Add(std::initializer_list<int64_t> values) {
    for (int64_t v : values) Add(v);
  }
  bool valid() const { return !overflow_; }
  bool operator==(const DnnlShapeKey& other) const {
    if (size_ != other.size_) return false;
    for (size_t i = 0; i < size_; ++i) {
      if (values_[i] != other.values_[i]) return false;
    }
    return true;
  }

 private:
  std::array<int64_t, kCapacity> values_{};
  size_t size_ = 0;
  bool overflow_ = false;
};

template <typename Entry>
class DnnlShapeCache {
 public:
  // Most models see a handful of shapes per node; beyond this many the oldest
  // entry is dropped so that a stream of distinct shapes cannot grow memory.
  static constexpr size_t kMaxEntries = 32;

  // The entry stored for `key`, or null.
  std::shared_ptr<const Entry> Find(const DnnlShapeKey& key) const {
    if (!key.valid()) return nullptr;
    std::lock_guard<std::mutex> lock(mutex_);
    for (const auto& [k, entry] : entries_) {
      if (k == key) return entry;
    }
    return nullptr;
  }

  // Stores `entry` for `key` unless another thread stored one first; returns
  // the stored one. Keys that overflowed are not stored.
  std::shared_ptr<const Entry> Insert(const DnnlShapeKey& key, std::shared_ptr<const Entry> entry) const {
    if (!key.valid()) return entry;
    std::lock_guard<std::mutex> lock(mutex_);
    for (const auto& [k, stored] : entries_) {
      if (k == key) return stored;
    }
    if (entries_.size() >= kMaxEntries) entries_.erase(entries_.begin());
    entries_.emplace_back(key, entry);
    return entry;
  }

  // The entry for `key`, building it with `build()` (a Result<shared_ptr<Entry>>)
  // on first use. Building happens outside the lock; when two threads build
  // the same key at once, the first one stored wins.
  template <typename Build>
  core::Result<std::shared_ptr<const Entry>> GetOrBuild(const DnnlShapeKey& key, Build&& build) const {
    if (auto found = Find(key)) return found;
    ASSIGN_OR_RETURN(std::shared_ptr<const Entry> built, build());
    return Insert(key, std::move(built));
  }

 private:
  mutable std::mutex mutex_;
  mutable std::vector<std::pair<DnnlShapeKey, std::shared_ptr<const Entry>>> entries_;
};

}  // namespace berth::engine
