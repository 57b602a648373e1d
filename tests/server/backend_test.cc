// BackendRegistry: which backend serves a model, from config.pbtxt's names or
// the files in the version folder.
#include "server/backend.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>

namespace berth::server {
namespace {

namespace fs = std::filesystem;

BackendFactory Factory(std::string name, std::string backend, std::string platform, std::string file) {
  BackendFactory factory;
  factory.name = std::move(name);
  factory.backend = backend;
  factory.platform = platform;
  factory.names = {backend, platform};
  factory.default_model_filename = std::move(file);
  factory.load = [](const fs::path&, const config::ModelConfig&,
                    const BackendLoadOptions&) -> core::Result<std::unique_ptr<Backend>> {
    return core::Unimplemented("not loaded in this test");
  };
  return factory;
}

class BackendRegistryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("berth-backend-test-" + std::to_string(::getpid()));
    fs::create_directories(dir_);
    registry_.Register(Factory("ONNX", "berth", "onnxruntime_onnx", "model.onnx"));
    registry_.Register(Factory("GGUF", "llama", "gguf", "model.gguf"));
  }
  void TearDown() override { fs::remove_all(dir_); }
  void Touch(const std::string& name) { std::ofstream(dir_ / name) << "x"; }

  fs::path dir_;
  BackendRegistry registry_;
};

TEST_F(BackendRegistryTest, ConfigNamesWin) {
  config::ModelConfig config;
  Touch("model.onnx");
  config.set_backend("llama");
  EXPECT_EQ((*registry_.Select(config, dir_))->name, "GGUF");
  config.clear_backend();
  config.set_platform("gguf");
  EXPECT_EQ((*registry_.Select(config, dir_))->name, "GGUF");
}

TEST_F(BackendRegistryTest, OtherwiseTheFileInTheFolder) {
  config::ModelConfig config;
  EXPECT_EQ((*registry_.Select(config, dir_))->name, "ONNX");  // none: the first, whose missing file is reported
  Touch("model.gguf");
  EXPECT_EQ((*registry_.Select(config, dir_))->name, "GGUF");
  config.set_default_model_filename("weights.onnx");
  EXPECT_EQ((*registry_.Select(config, dir_))->name, "ONNX");
}

TEST_F(BackendRegistryTest, UnknownOrContradictoryNamesAreErrors) {
  config::ModelConfig config;
  config.set_platform("tensorflow_savedmodel");
  core::Status status = registry_.CheckNames(config, "digits");
  EXPECT_EQ(status.code(), core::StatusCode::kUnimplemented);
  EXPECT_NE(status.message().find("platform 'tensorflow_savedmodel' is not supported"), std::string::npos);
  EXPECT_NE(status.message().find("\"onnxruntime_onnx\" (ONNX)"), std::string::npos) << status.message();
  config.set_platform("onnxruntime_onnx");
  config.set_backend("llama");
  EXPECT_EQ(registry_.CheckNames(config, "digits").code(), core::StatusCode::kInvalidArgument);
  config.set_backend("python");
  EXPECT_EQ(registry_.Select(config, dir_).status().code(), core::StatusCode::kUnimplemented);
}

TEST_F(BackendRegistryTest, SingleFilesByExtension) {
  EXPECT_EQ((*registry_.ForModelFile("/models/resnet.onnx"))->name, "ONNX");
  EXPECT_EQ((*registry_.ForModelFile("tiny.gguf"))->name, "GGUF");
  auto unknown = registry_.ForModelFile("model.pt");
  ASSERT_FALSE(unknown.ok());
  EXPECT_NE(unknown.status().message().find("berth serves .onnx, .gguf files"), std::string::npos)
      << unknown.status().message();
}

}  // namespace
}  // namespace berth::server
