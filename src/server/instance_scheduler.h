// InstanceScheduler: one model version's bounded request queue and the
// instance threads that drain it.
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

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
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
};

class InstanceScheduler {
 public:
  // Runs one job on instance `instance` (0-based); must call job.done.
  using Executor = std::function<void(InferJob& job, int instance)>;

  InstanceScheduler(std::string name, int instances, size_t capacity, Executor executor, Gauge* queue_depth);
  ~InstanceScheduler();
  InstanceScheduler(const InstanceScheduler&) = delete;
  InstanceScheduler& operator=(const InstanceScheduler&) = delete;

  // Starts the instance threads. ResourceExhausted (and none left running)
  // when the system refuses a thread.
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

  const std::string name_;
  const int instances_;
  const size_t capacity_;
  Executor executor_;
  Gauge* queue_depth_;
  mutable std::mutex mutex_;
  std::condition_variable work_available_;
  std::deque<InferJob> queue_;
  bool stopping_ = false;
  size_t started_before_failure_ = 0;
  std::vector<std::thread> threads_;
};

}  // namespace berth::server
