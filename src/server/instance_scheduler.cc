#include "server/instance_scheduler.h"

#include <pthread.h>

#include <algorithm>
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
                                     Gauge* queue_depth, InstanceThreadBudget* threads, BatchPolicy batching)
    : name_(std::move(name)),
      instances_(std::max(instances, 1)),
      capacity_(std::max<size_t>(capacity, 1)),
      executor_(std::move(executor)),
      batching_(std::move(batching)),
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

Clock::time_point InstanceScheduler::TakeBatch(std::vector<InferJob>& batch) {
  if (batching_.max_rows <= 0) {
    batch.push_back(std::move(queue_.front()));
    queue_.pop_front();
    return {};
  }
  const InferJob& first = queue_.front();
  // The jobs that may join the oldest one, and the rows each prefix makes.
  std::vector<size_t> picked{0};
  std::vector<int64_t> prefix_rows{batching_.rows(first)};
  int64_t rows = prefix_rows.back();
  for (size_t i = 1; i < queue_.size() && rows < batching_.max_rows; ++i) {
    const int64_t more = batching_.rows(queue_[i]);
    if (rows + more > batching_.max_rows || !batching_.compatible(first, queue_[i])) continue;
    rows += more;
    picked.push_back(i);
    prefix_rows.push_back(rows);
  }
  const Clock::time_point due = first.enqueued + batching_.max_delay;
  size_t take = 0;
  if (rows >= batching_.max_rows || stopping_ || Clock::now() >= due) {
    take = picked.size();
  } else {
    for (size_t k = picked.size(); k-- > 0 && take == 0;) {
      if (std::binary_search(batching_.preferred.begin(), batching_.preferred.end(), prefix_rows[k])) take = k + 1;
    }
  }
  if (take == 0) return due;
  for (size_t k = 0; k < take; ++k) batch.push_back(std::move(queue_[picked[k]]));
  for (size_t k = take; k-- > 0;) queue_.erase(queue_.begin() + static_cast<std::ptrdiff_t>(picked[k]));
  return {};
}

void InstanceScheduler::InstanceLoop(int instance) {
  std::string thread_name = "berth-" + name_;
  thread_name.resize(std::min<size_t>(thread_name.size(), 15));
  pthread_setname_np(pthread_self(), thread_name.c_str());
  std::vector<InferJob> batch;
  for (;;) {
    batch.clear();
    bool more_queued = false;
    {
      std::unique_lock lock(mutex_);
      for (;;) {
        // Stopping still drains what was queued: those requests were accepted.
        if (queue_.empty()) {
          if (stopping_) return;
          work_available_.wait(lock);
          continue;
        }
        const Clock::time_point wait_until = TakeBatch(batch);
        if (!batch.empty()) break;
        work_available_.wait_until(lock, wait_until);
      }
      more_queued = !queue_.empty();
      if (queue_depth_) queue_depth_->Set(static_cast<double>(queue_.size()));
    }
    // One enqueue wakes one thread; a batch may have taken several jobs'
    // worth of wake-ups, so an idle instance is told about what is left.
    if (more_queued) work_available_.notify_one();
    executor_(batch, instance);
  }
}

}  // namespace berth::server
