#include "server/instance_scheduler.h"

#include <pthread.h>

#include <system_error>

namespace berth::server {

bool InstanceThreadBudget::TryTake(int count) {
  int used = in_use_.load(std::memory_order_relaxed);
  do {
    if (limit_ > 0 && used > limit_ - count) return false;
  } while (!in_use_.compare_exchange_weak(used, used + count, std::memory_order_relaxed));
  return true;
}

InstanceScheduler::InstanceScheduler(std::string name, int instances, size_t capacity, Executor executor,
                                     Gauge* queue_depth, InstanceThreadBudget* threads)
    : name_(std::move(name)),
      instances_(std::max(instances, 1)),
      capacity_(std::max<size_t>(capacity, 1)),
      executor_(std::move(executor)),
      queue_depth_(queue_depth),
      thread_budget_(threads) {}

InstanceScheduler::~InstanceScheduler() {
  Stop();
  if (budget_taken_) thread_budget_->Give(instances_);
}

core::Status InstanceScheduler::Start() {
  {
    std::lock_guard lock(mutex_);
    if (!threads_.empty() || stopping_) return core::Status::Ok();
    if (thread_budget_ && !budget_taken_) {
      if (!thread_budget_->TryTake(instances_)) {
        return core::ResourceExhausted(
            "{}: {} model instance threads do not fit: {} of the server's {} are in use "
            "(--max-instance-threads; instance_group count sets a version's)",
            name_, instances_, thread_budget_->in_use(), thread_budget_->limit());
      }
      budget_taken_ = true;
    }
    try {
      for (int i = 0; i < instances_; ++i) threads_.emplace_back([this, i] { InstanceLoop(i); });
      return core::Status::Ok();
    } catch (const std::system_error& e) {
      // Out of threads (a pids limit, RLIMIT_NPROC): this version cannot
      // run, the server can. Stop the ones that started.
      started_before_failure_ = threads_.size();
    }
  }
  Stop();
  return core::ResourceExhausted(
      "{}: cannot start model instance thread {} of {}: the process may not create more "
      "threads (a pids or process limit)",
      name_, started_before_failure_ + 1, instances_);
}

core::Status InstanceScheduler::TryEnqueue(InferJob& job) {
  {
    std::lock_guard lock(mutex_);
    if (stopping_) return core::Unavailable("{}: the model version is unloading", name_);
    if (queue_.size() >= capacity_) {
      return core::Unavailable("{}: the queue is full ({} requests waiting); retry later", name_, capacity_);
    }
    job.enqueued = Clock::now();
    queue_.push_back(std::move(job));
    if (queue_depth_) queue_depth_->Set(static_cast<double>(queue_.size()));
  }
  work_available_.notify_one();
  return core::Status::Ok();
}

void InstanceScheduler::Stop() {
  std::vector<std::thread> threads;
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
    threads.swap(threads_);
  }
  work_available_.notify_all();
  for (auto& thread : threads) thread.join();
}

size_t InstanceScheduler::depth() const {
  std::lock_guard lock(mutex_);
  return queue_.size();
}

void InstanceScheduler::InstanceLoop(int instance) {
  std::string thread_name = "berth-" + name_;
  thread_name.resize(std::min<size_t>(thread_name.size(), 15));
  pthread_setname_np(pthread_self(), thread_name.c_str());
  for (;;) {
    InferJob job;
    {
      std::unique_lock lock(mutex_);
      work_available_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      // Stopping still drains what was queued: those requests were accepted.
      if (queue_.empty()) return;
      job = std::move(queue_.front());
      queue_.pop_front();
      if (queue_depth_) queue_depth_->Set(static_cast<double>(queue_.size()));
    }
    executor_(job, instance);
  }
}

}  // namespace berth::server
