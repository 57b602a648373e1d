// BackgroundWorker: one thread running posted tasks in order. The model
// repository uses one to load model versions and one to reap unloaded ones, so
// a slow load never delays freeing memory.
//
// Thread safety: Post may be called from any thread, including from a task.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

namespace berth::server {

class BackgroundWorker {
 public:
  explicit BackgroundWorker(std::string name);
  ~BackgroundWorker();  // Stop(true)
  BackgroundWorker(const BackgroundWorker&) = delete;
  BackgroundWorker& operator=(const BackgroundWorker&) = delete;

  // Returns false (and drops the task) once Stop has been called.
  bool Post(std::function<void()> task);
  // Waits for the running task; runs the queued ones too when `drain`.
  // Must not be called from the worker's own thread.
  void Stop(bool drain);
  size_t pending() const;

 private:
  void Loop();

  std::string name_;
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<std::function<void()>> tasks_;
  bool stopping_ = false;
  bool drain_ = true;
  std::thread thread_;
};

}  // namespace berth::server
