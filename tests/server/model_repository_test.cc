#include "server/model_repository.h"

#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <future>
#include <thread>

#include "op_test_model.h"
#include "server/backends/onnx_backend.h"

namespace berth::server {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

class ModelRepositoryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() / ("berth-repo-test-" + std::to_string(::getpid()) + "-" +
                                         ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(root_);
    fs::create_directories(root_);
  }
  void TearDown() override { fs::remove_all(root_); }

  // A model of one node `op` on float inputs x and y of shape [2,3].
  void WriteVersion(const std::string& model, int version, const std::string& op = "Add") {
    const core::Tensor operand = core::Tensor::FromVector<float>(std::vector<float>(6), {2, 3});
    engine::testing::OpTestModel onnx_model(op, 17);
    onnx_model.Input("x", operand).Input("y", operand).Output("z");
    fs::create_directories(root_ / model / std::to_string(version));
    std::ofstream(root_ / model / std::to_string(version) / "model.onnx", std::ios::binary) << onnx_model.Serialize();
  }
  void WriteFile(const fs::path& path, const std::string& text) {
    fs::create_directories(path.parent_path());
    std::ofstream(path, std::ios::binary) << text;
  }
  std::unique_ptr<ModelRepository> Make(ModelControlMode mode) {
    ModelRepositoryOptions options;
    options.root = root_;
    options.mode = mode;
    options.poll_interval = 1h;  // tests call Poll() themselves
    options.version_options.intra_op_threads = 1;
    options.backends = &backends_;
    auto repository = ModelRepository::Create(options, &metrics_);
    EXPECT_TRUE(repository.ok()) << repository.status().ToString();
    return std::move(repository).value();
  }
  // Waits until `predicate` holds (loads run on the loader thread).
  template <typename Predicate>
  // Polls for up to 60 s: loads run on the repository's own threads, which a
  // busy machine may hold back for a while.
  bool Eventually(Predicate predicate) {
    const auto deadline = std::chrono::steady_clock::now() + 60s;
    while (std::chrono::steady_clock::now() < deadline) {
      if (predicate()) return true;
      std::this_thread::sleep_for(10ms);
    }
    return predicate();
  }
  // Gives a file a modification time no earlier write had (whole seconds
  // apart), so that a poll sees it changed on any filesystem, however coarse
  // its timestamps.
  void Touch(const fs::path& path) { fs::last_write_time(path, touch_base_ + ++touches_ * 1s); }
  const fs::file_time_type touch_base_ = fs::file_time_type::clock::now() + 1h;
  int touches_ = 0;
  static bool ServesVersion(ModelRepository& repository, const std::string& model, int64_t version) {
    auto acquired = repository.Acquire(model, 0);
    return acquired.ok() && (*acquired)->version() == version;
  }

  fs::path root_;
  ServerMetrics metrics_{"test", "test"};
  BackendRegistry backends_ = [] {
    BackendRegistry registry;
    registry.Register(OnnxBackendFactory());
    return registry;
  }();
};

TEST_F(ModelRepositoryTest, LoadsEveryModelAndRoutesToTheHighestVersion) {
  WriteVersion("a", 1);
  WriteVersion("b", 1);
  WriteVersion("b", 2);
  WriteFile(root_ / "b" / "config.pbtxt", "version_policy: { all: {} }");
  WriteFile(root_ / ".git" / "HEAD", "ignored");  // not a valid model name
  auto repository = Make(ModelControlMode::kNone);
  ASSERT_TRUE(repository->Start().ok());
  ASSERT_TRUE(Eventually([&] { return repository->AllReady(nullptr); }));
  EXPECT_TRUE(ServesVersion(*repository, "b", 2));
  {
    auto v1 = repository->Acquire("b", 1);  // released before Stop, which waits for every holder
    ASSERT_TRUE(v1.ok());
    EXPECT_EQ((*v1)->version(), 1);
  }
  EXPECT_EQ(repository->Acquire("nope", 0).status().code(), core::StatusCode::kNotFound);
  EXPECT_EQ(repository->Acquire("b", 7).status().code(), core::StatusCode::kNotFound);
  EXPECT_EQ(repository->ListModels().size(), 2u);
  EXPECT_EQ(repository->Unload("a").code(), core::StatusCode::kFailedPrecondition);
  repository->Stop();
}

TEST_F(ModelRepositoryTest, PollSwapsVersionsOnlyWhenTheNewOneIsReady) {
  WriteVersion("m", 1);
  auto repository = Make(ModelControlMode::kPoll);
  ASSERT_TRUE(repository->Start().ok());
  ASSERT_TRUE(Eventually([&] { return ServesVersion(*repository, "m", 1); }));

  // A request holding version 1 keeps it alive across the swap.
  auto held = repository->Acquire("m", 0);
  ASSERT_TRUE(held.ok());
  WriteVersion("m", 2, "Mul");
  repository->Poll();
  ASSERT_TRUE(Eventually([&] { return ServesVersion(*repository, "m", 2); }));
  EXPECT_EQ((*held)->version(), 1);
  EXPECT_EQ(repository->Acquire("m", 1).status().code(), core::StatusCode::kUnavailable);
  held = core::Result<std::shared_ptr<ModelVersion>>(core::Unavailable("released"));

  // A broken version 3 leaves version 2 serving and is reported.
  WriteFile(root_ / "m" / "3" / "model.onnx", "not onnx");
  repository->Poll();
  ASSERT_TRUE(Eventually([&] {
    auto status = repository->GetModelStatus("m");
    return status.ok() && status->versions.back().state == ModelVersionState::kFailed;
  }));
  EXPECT_TRUE(ServesVersion(*repository, "m", 2));
  EXPECT_TRUE(repository->AllReady(nullptr));
  auto failed = repository->Acquire("m", 3);
  EXPECT_EQ(failed.status().code(), core::StatusCode::kUnavailable);
  EXPECT_NE(failed.status().message().find("FAILED"), std::string::npos);

  // Removing the model unloads it at once; once unloaded it is forgotten.
  fs::remove_all(root_ / "m");
  repository->Poll();
  EXPECT_FALSE(repository->Acquire("m", 0).ok());
  EXPECT_TRUE(Eventually([&] { return repository->Acquire("m", 0).status().code() == core::StatusCode::kNotFound; }));
  repository->Stop();
}

TEST_F(ModelRepositoryTest, PollReloadsWhenTheConfigChangesAndKeepsServingOnABrokenOne) {
  WriteVersion("m", 1);
  auto repository = Make(ModelControlMode::kPoll);
  ASSERT_TRUE(repository->Start().ok());
  ASSERT_TRUE(Eventually([&] { return ServesVersion(*repository, "m", 1); }));
  EXPECT_EQ(InstanceCount((*repository->Acquire("m", 0))->config()), 1);

  WriteFile(root_ / "m" / "config.pbtxt", "instance_group [ { count: 2 } ]");
  Touch(root_ / "m" / "config.pbtxt");
  repository->Poll();
  ASSERT_TRUE(Eventually([&] {
    auto acquired = repository->Acquire("m", 0);
    return acquired.ok() && InstanceCount((*acquired)->config()) == 2;
  }));

  WriteFile(root_ / "m" / "config.pbtxt", "instance_group [ { count: ");
  Touch(root_ / "m" / "config.pbtxt");
  repository->Poll();
  auto status = repository->GetModelStatus("m");
  ASSERT_TRUE(status.ok());
  EXPECT_NE(status->reason.find("config.pbtxt:1:"), std::string::npos) << status->reason;
  auto still = repository->Acquire("m", 0);
  ASSERT_TRUE(still.ok());
  EXPECT_EQ(InstanceCount((*still)->config()), 2);
  still = core::Result<std::shared_ptr<ModelVersion>>(core::Unavailable("released"));
  repository->Stop();
}

TEST_F(ModelRepositoryTest, ExplicitLoadAndUnload) {
  WriteVersion("m", 1);
  WriteFile(root_ / "broken" / "config.pbtxt", "max_batch_size: [");
  WriteVersion("broken", 1);
  auto repository = Make(ModelControlMode::kExplicit);
  ASSERT_TRUE(repository->Start().ok());
  EXPECT_TRUE(repository->AllReady(nullptr));
  EXPECT_EQ(repository->Acquire("m", 0).status().code(), core::StatusCode::kUnavailable);

  std::promise<core::Status> loaded;
  repository->Load("m", [&](core::Status status) { loaded.set_value(status); });
  EXPECT_TRUE(loaded.get_future().get().ok());
  EXPECT_TRUE(ServesVersion(*repository, "m", 1));

  std::promise<core::Status> broken;
  repository->Load("broken", [&](core::Status status) { broken.set_value(status); });
  core::Status status = broken.get_future().get();
  EXPECT_FALSE(status.ok());
  EXPECT_NE(status.message().find("config.pbtxt:1:"), std::string::npos) << status.message();
  EXPECT_TRUE(repository->AllReady(nullptr));  // a failed load does not hold readiness down

  std::promise<core::Status> missing;
  repository->Load("missing", [&](core::Status status) { missing.set_value(status); });
  EXPECT_EQ(missing.get_future().get().code(), core::StatusCode::kNotFound);
  std::promise<core::Status> traversal;
  repository->Load("../etc", [&](core::Status status) { traversal.set_value(status); });
  EXPECT_EQ(traversal.get_future().get().code(), core::StatusCode::kInvalidArgument);

  EXPECT_TRUE(repository->Unload("m").ok());
  EXPECT_EQ(repository->Acquire("m", 0).status().code(), core::StatusCode::kUnavailable);
  repository->Stop();
}

TEST(ModelNames, OnlySafeNamesAreValid) {
  for (const char* name : {"digits", "my_model", "m.v2", "a-b", "_x", "9"}) EXPECT_TRUE(IsValidModelName(name)) << name;
  for (const char* name : {"", ".", "..", "../x", "a/b", ".hidden", "-x", "a..b", "a b", "a\\b"}) {
    EXPECT_FALSE(IsValidModelName(name)) << name;
  }
}

}  // namespace
}  // namespace berth::server
