#include "server/instance_scheduler.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>

namespace berth::server {
namespace {

using namespace std::chrono_literals;

TEST(InstanceScheduler, RunsAtMostInstancesJobsAtOnce) {
  std::atomic<int> running{0};
  std::atomic<int> peak{0};
  std::atomic<int> done{0};
  Gauge depth;
  InstanceScheduler scheduler(
      "t", 2, 100,
      [&](InferJob& job, int) {
        int now = ++running;
        int seen = peak.load();
        while (now > seen && !peak.compare_exchange_weak(seen, now)) {
        }
        // Hold until two jobs have run at once (a rendezvous, not a guess at
        // timing); a deadline keeps a broken scheduler from hanging the test.
        const auto deadline = std::chrono::steady_clock::now() + 30s;
        while (peak.load() < 2 && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(100us);
        std::this_thread::sleep_for(1ms);  // room for a third, were the limit broken
        --running;
        job.done(InferResponse{});
      },
      &depth);
  ASSERT_TRUE(scheduler.Start().ok());
  for (int i = 0; i < 20; ++i) {
    InferJob job;
    job.done = [&](core::Result<InferResponse>) { ++done; };
    ASSERT_TRUE(scheduler.TryEnqueue(job).ok());
  }
  scheduler.Stop();  // finishes what was queued
  EXPECT_EQ(done.load(), 20);
  EXPECT_EQ(peak.load(), 2);
  EXPECT_EQ(depth.value(), 0);
}

TEST(InstanceScheduler, FullQueueRejectsAndKeepsTheJob) {
  std::atomic<bool> release{false};
  InstanceScheduler scheduler(
      "t", 1, 2,
      [&](InferJob& job, int) {
        while (!release) std::this_thread::sleep_for(1ms);
        job.done(InferResponse{});
      },
      nullptr);
  ASSERT_TRUE(scheduler.Start().ok());
  int accepted = 0;
  core::Status rejected;
  for (int i = 0; i < 10 && rejected.ok(); ++i) {
    InferJob job;
    job.done = [](core::Result<InferResponse>) {};
    job.request.id = "keep";
    core::Status status = scheduler.TryEnqueue(job);
    if (status.ok()) {
      ++accepted;
    } else {
      rejected = status;
      EXPECT_EQ(job.request.id, "keep");  // untouched, so the caller can answer it
      EXPECT_TRUE(job.done != nullptr);
    }
    std::this_thread::sleep_for(2ms);
  }
  EXPECT_EQ(rejected.code(), core::StatusCode::kUnavailable);
  EXPECT_NE(rejected.message().find("queue is full"), std::string::npos);
  EXPECT_LE(accepted, 3);  // one running + two queued
  release = true;
  scheduler.Stop();
  InferJob late;
  EXPECT_EQ(scheduler.TryEnqueue(late).code(), core::StatusCode::kUnavailable);
}

}  // namespace
}  // namespace berth::server
