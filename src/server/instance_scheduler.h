// InstanceScheduler: one model version's bounded request queue and the
// instance threads that drain it, one job at a time or, with a BatchPolicy
// (config.pbtxt's dynamic_batching), several compatible jobs per run.
//
// Ownership: the scheduler owns its queue and threads; each queued InferJob
// owns its request, its callback and a keep-alive reference to whatever runs
// it (the ModelVersion), so a version removed from routing stays loaded until
// its last job finishes. `instances` threads run jobs concurrently, so
// instance_group count = concurrent executions. Threads never block on
// anything but the queue and the job they run.
//
// Thread safety: TryEnqueue and depth are safe from any thread. Stop must not
// be called from an instance thread (it joins them).
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "core/status.h"
#include "server/infer_request.h"
#include "server/metrics.h"

namespace berth::server {

struct InferJob {
  InferRequest request;
  InferCallback done;
  std::shared_ptr<const void> keep_alive;
  Clock::time_point enqueued;
  // dynamic_batching's default_queue_policy: a job still queued at this
  // point is answered with an error instead of running (timeout_action REJECT).
  Clock::time_point queue_deadline = Clock::time_point::max();
};

// The instance threads every version of the server may have together
// (--max-instance-threads): a version that would go beyond it fails to load
// instead of the process running out of threads. Thread-safe.
class InstanceThreadBudget {
 public:
  explicit InstanceThreadBudget(int limit) : limit_(limit) {}
  // Takes `count` threads if they fit; false (nothing taken) otherwise.
  bool TryTake(int count);
  void Give(int count) { in_use_.fetch_sub(count, std::memory_order_relaxed); }
  int limit() const { return limit_; }
  int in_use() const { return in_use_.load(std::memory_order_relaxed); }

 private:
  const int limit_;
  std::atomic<int> in_use_{0};
};

// Dynamic batching: how an instance thread gathers queued jobs into one run.
// It takes the oldest job, then every later job compatible with it while
// their rows fit in max_rows (a job that does not fit or does not match
// waits for a later run: order is kept among compatible jobs, and the
// oldest job always goes first). The gathered jobs run at once when they
// make max_rows, or when their leading jobs make one of the preferred sizes
// (the largest such prefix runs), or when the oldest has waited max_delay;
// otherwise the thread waits for more. A zero max_delay runs whatever is
// queued at once: batches then form only while every instance is busy.
struct BatchPolicy {
  int64_t max_rows = 0;            // 0: no batching, one job per run
  std::vector<int64_t> preferred;  // ascending, each <= max_rows
  Clock::duration max_delay{};     // the longest the oldest job waits for company
  // The rows a job brings (its batch dimension) and whether two jobs may
  // share a run; both called with the queue's lock held, so they must be cheap.
  std::function<int64_t(const InferJob&)> rows;
  std::function<bool(const InferJob&, const InferJob&)> compatible;
};

class InstanceScheduler {
 public:
  // Runs `jobs` (one, or a batch under a BatchPolicy) on instance `instance`
  // (0-based); must call every job's done.
  using Executor = std::function<void(std::span<InferJob> jobs, int instance)>;

  // `threads`: the budget the instance threads are taken from (null: none).
  InstanceScheduler(std::string name, int instances, size_t capacity, Executor executor, Gauge* queue_depth,
                    InstanceThreadBudget* threads = nullptr, BatchPolicy batching = {});
  ~InstanceScheduler();
  InstanceScheduler(const InstanceScheduler&) = delete;
  InstanceScheduler& operator=(const InstanceScheduler&) = delete;

  // Starts the instance threads. ResourceExhausted (and none left running)
  // when they do not fit in the thread budget or the system refuses one.
  core::Status Start();
  // Moves the job into the queue and returns OK, or leaves `job` untouched
  // and returns Unavailable when the queue is full or the scheduler stopped.
  core::Status TryEnqueue(InferJob& job);
  // Refuses new jobs, lets the queued and running ones finish, joins.
  void Stop();

  size_t depth() const;
  size_t capacity() const { return capacity_; }
  int instances() const { return instances_; }

 private:
  void InstanceLoop(int instance);
  // With the lock held: moves the next batch out of the queue into `batch`,
  // or returns the time to wait until (max() for "until notified") when the
  // jobs queued do not yet make one.
  Clock::time_point TakeBatch(std::vector<InferJob>& batch);

  const std::string name_;
  const int instances_;
  const size_t capacity_;
  Executor executor_;
  const BatchPolicy batching_;
  Gauge* queue_depth_;
  InstanceThreadBudget* thread_budget_;
  bool budget_taken_ = false;
  mutable std::mutex mutex_;
  std::condition_variable work_available_;
  std::deque<InferJob> queue_;
  bool stopping_ = false;
  size_t started_before_failure_ = 0;
  std::vector<std::thread> threads_;
};

}  // namespace berth::server
