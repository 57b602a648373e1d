#include "server/instance_scheduler.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

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
      [&](std::span<InferJob> jobs, int) {
        ASSERT_EQ(jobs.size(), 1u);
        InferJob& job = jobs[0];
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
      [&](std::span<InferJob> jobs, int) {
        while (!release) std::this_thread::sleep_for(1ms);
        for (InferJob& job : jobs) job.done(InferResponse{});
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

// Dynamic batching. Each job carries its rows and a kind (jobs of one kind
// are compatible) in its parameters; the executor records what ran together.
class BatchingTest : public ::testing::Test {
 protected:
  static BatchPolicy Policy(int64_t max_rows, std::vector<int64_t> preferred, Clock::duration delay) {
    BatchPolicy policy;
    policy.max_rows = max_rows;
    policy.preferred = std::move(preferred);
    policy.max_delay = delay;
    policy.rows = [](const InferJob& job) { return std::get<int64_t>(job.request.parameters.at("rows")); };
    policy.compatible = [](const InferJob& a, const InferJob& b) {
      return a.request.parameters.at("kind") == b.request.parameters.at("kind");
    };
    return policy;
  }

  void Make(BatchPolicy policy, size_t capacity = 100) {
    scheduler_ = std::make_unique<InstanceScheduler>(
        "b", 1, capacity,
        [this](std::span<InferJob> jobs, int) {
          std::vector<std::string> ids;
          for (InferJob& job : jobs) ids.push_back(job.request.id);
          {
            std::lock_guard lock(mutex_);
            runs_.push_back(ids);
          }
          for (InferJob& job : jobs) job.done(InferResponse{});
        },
        nullptr, nullptr, std::move(policy));
  }

  void Enqueue(const std::string& id, std::string kind = "a", int64_t rows = 1) {
    InferJob job;
    job.request.id = id;
    job.request.parameters["rows"] = rows;
    job.request.parameters["kind"] = std::move(kind);
    job.done = [this](core::Result<InferResponse>) { ++answered_; };
    ASSERT_TRUE(scheduler_->TryEnqueue(job).ok());
  }

  // Waits (bounded) until `count` runs have happened.
  void WaitForRuns(size_t count) {
    const auto deadline = Clock::now() + std::chrono::seconds(30);
    while (Clock::now() < deadline) {
      {
        std::lock_guard lock(mutex_);
        if (runs_.size() >= count) return;
      }
      std::this_thread::sleep_for(1ms);
    }
  }

  std::vector<std::vector<std::string>> Runs() {
    std::lock_guard lock(mutex_);
    return runs_;
  }

  std::unique_ptr<InstanceScheduler> scheduler_;
  std::mutex mutex_;
  std::vector<std::vector<std::string>> runs_;
  std::atomic<int> answered_{0};
};

using Ids = std::vector<std::string>;

TEST_F(BatchingTest, QueuedJobsRunTogetherUpToTheMaximum) {
  Make(Policy(8, {}, {}));
  for (int i = 0; i < 10; ++i) Enqueue("j" + std::to_string(i));
  ASSERT_TRUE(scheduler_->Start().ok());
  scheduler_->Stop();
  EXPECT_EQ(Runs(), (std::vector<Ids>{{"j0", "j1", "j2", "j3", "j4", "j5", "j6", "j7"}, {"j8", "j9"}}));
  EXPECT_EQ(answered_.load(), 10);
}

TEST_F(BatchingTest, IncompatibleJobsWaitForTheirOwnRunInOrder) {
  Make(Policy(8, {}, {}));
  Enqueue("a1", "a");
  Enqueue("b1", "b");
  Enqueue("a2", "a");
  Enqueue("b2", "b");
  Enqueue("a3", "a");
  ASSERT_TRUE(scheduler_->Start().ok());
  scheduler_->Stop();
  EXPECT_EQ(Runs(), (std::vector<Ids>{{"a1", "a2", "a3"}, {"b1", "b2"}}));
}

TEST_F(BatchingTest, RowsNotJobsCountTowardTheMaximum) {
  Make(Policy(8, {}, {}));
  Enqueue("x", "a", 3);
  Enqueue("y", "a", 6);  // does not fit with x: waits
  Enqueue("z", "a", 5);
  Enqueue("w", "a", 2);
  ASSERT_TRUE(scheduler_->Start().ok());
  scheduler_->Stop();
  EXPECT_EQ(Runs(), (std::vector<Ids>{{"x", "z"}, {"y", "w"}}));
}

TEST_F(BatchingTest, APreferredSizeRunsWithoutWaitingForTheDelay) {
  // The delay is an hour: only the preferred size can start the first run.
  Make(Policy(8, {2, 4}, std::chrono::hours(1)));
  for (int i = 0; i < 5; ++i) Enqueue("j" + std::to_string(i));
  ASSERT_TRUE(scheduler_->Start().ok());
  WaitForRuns(1);
  ASSERT_EQ(Runs().size(), 1u);
  EXPECT_EQ(Runs()[0], (Ids{"j0", "j1", "j2", "j3"}));  // the largest preferred prefix
  EXPECT_EQ(answered_.load(), 4);
  scheduler_->Stop();  // stopping runs what waits, preferred size or not
  EXPECT_EQ(Runs().size(), 2u);
  EXPECT_EQ(answered_.load(), 5);
}

TEST_F(BatchingTest, AFullBatchRunsWithoutWaitingForTheDelay) {
  Make(Policy(4, {}, std::chrono::hours(1)));
  ASSERT_TRUE(scheduler_->Start().ok());
  for (int i = 0; i < 4; ++i) Enqueue("j" + std::to_string(i));
  WaitForRuns(1);
  EXPECT_EQ(Runs(), (std::vector<Ids>{{"j0", "j1", "j2", "j3"}}));
  scheduler_->Stop();
}

TEST_F(BatchingTest, ALoneJobRunsOnceTheDelayPasses) {
  Make(Policy(8, {4}, std::chrono::milliseconds(20)));
  ASSERT_TRUE(scheduler_->Start().ok());
  Enqueue("alone");
  WaitForRuns(1);  // without the delay's expiry it would wait for company forever
  EXPECT_EQ(Runs(), (std::vector<Ids>{{"alone"}}));
  scheduler_->Stop();
}

}  // namespace
}  // namespace berth::server
