#include "server/background_worker.h"

#include <pthread.h>

namespace berth::server {

BackgroundWorker::BackgroundWorker(std::string name) : name_(std::move(name)) {
  thread_ = std::thread([this] { Loop(); });
}

BackgroundWorker::~BackgroundWorker() { Stop(true); }

bool BackgroundWorker::Post(std::function<void()> task) {
  {
    std::lock_guard lock(mutex_);
    if (stopping_) return false;
    tasks_.push_back(std::move(task));
  }
  wake_.notify_one();
  return true;
}

void BackgroundWorker::Stop(bool drain) {
  {
    std::lock_guard lock(mutex_);
    if (!stopping_) drain_ = drain;
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

size_t BackgroundWorker::pending() const {
  std::lock_guard lock(mutex_);
  return tasks_.size();
}

void BackgroundWorker::Loop() {
  std::string thread_name = name_.substr(0, 15);
  pthread_setname_np(pthread_self(), thread_name.c_str());
  for (;;) {
    std::function<void()> task;
    {
      std::unique_lock lock(mutex_);
      wake_.wait(lock, [this] { return stopping_ || !tasks_.empty(); });
      if (tasks_.empty() || (stopping_ && !drain_)) return;
      task = std::move(tasks_.front());
      tasks_.pop_front();
    }
    task();
  }
}

}  // namespace berth::server
