#include "server/model_config.h"

#include <gtest/gtest.h>

namespace berth::server {
namespace {

DeclaredTensor Info(const std::string& name, core::DataType dtype, core::TensorShape shape) {
  DeclaredTensor tensor;
  tensor.name = name;
  tensor.dtype = dtype;
  tensor.rank_known = true;
  tensor.shape = std::move(shape);
  return tensor;
}

// What the ONNX backend reports (tests/server/backend_test.cc covers the choice).
BackendFactory Onnx() {
  BackendFactory factory;
  factory.name = "ONNX";
  factory.backend = "berth";
  factory.platform = "onnxruntime_onnx";
  factory.default_model_filename = "model.onnx";
  return factory;
}

// The model's declaration as a backend gives it.
DeclaredSignature Declared(std::vector<DeclaredTensor> inputs, std::vector<DeclaredTensor> outputs) {
  return {std::move(inputs), std::move(outputs)};
}

TEST(ModelConfig, ParsesTritonFieldsAndSkipsUnknownOnes) {
  std::vector<std::string> warnings;
  auto config = ParseModelConfig(R"(
    name: "digits"
    platform: "onnxruntime_onnx"
    max_batch_size: 8
    input [ { name: "image" data_type: TYPE_FP32 dims: [ 64 ] } ]
    output [ { name: "label" data_type: TYPE_INT64 dims: [ 1 ] } ]
    version_policy: { latest: { num_versions: 2 } }
    instance_group [ { kind: KIND_CPU count: 3 } ]
    dynamic_batching { max_queue_delay_microseconds: 100 default_queue_policy { max_queue_size: 7 } }
    response_cache { enable: true }
    optimization { execution_accelerators { cpu_execution_accelerator: [ { name: "openvino" } ] } }
    model_warmup [ { name: "w" batch_size: 1 inputs { key: "image" value: { data_type: TYPE_FP32 dims: [ 64 ] zero_data: true } } } ]
    model_repository_agents { agents [ { name: "checksum" parameters { key: "MD5:model.onnx" value: "x" } } ] }
    future_message { nested { deeper: [ 1, 2 ] } }
    some_future_field: 3
    parameters: { key: "intra_op_threads" value: { string_value: "2" } }
  )",
                                 "config.pbtxt", &warnings);
  ASSERT_TRUE(config.ok()) << config.status().ToString();
  EXPECT_EQ(config->name(), "digits");
  EXPECT_EQ(config->max_batch_size(), 8);
  EXPECT_EQ(InstanceCount(*config), 3);
  EXPECT_EQ(QueueCapacity(*config, 100), 7u);
  EXPECT_EQ(IntraOpThreadsParameter(*config), 2);
  EXPECT_TRUE(config->response_cache().enable());
  EXPECT_EQ(config->optimization().execution_accelerators().cpu_execution_accelerator(0).name(), "openvino");
  EXPECT_EQ(warnings.size(), 2u) << (warnings.empty() ? "" : warnings[0]);  // future_message, some_future_field
  EXPECT_TRUE(ValidateModelConfig(*config, "digits").ok());
}

TEST(ModelConfig, SyntaxErrorsNameTheLineAndColumn) {
  auto config = ParseModelConfig("name: \"x\"\nmax_batch_size: 8\ninput [ { name: \"a\" data_type: TYPE_FP32 ",
                                 "m/config.pbtxt", nullptr);
  ASSERT_FALSE(config.ok());
  EXPECT_NE(config.status().message().find("m/config.pbtxt:3:"), std::string::npos) << config.status().message();
  auto bad_enum = ParseModelConfig("input [ { data_type: TYPE_NOPE } ]", "c.pbtxt", nullptr);
  ASSERT_FALSE(bad_enum.ok());
  EXPECT_NE(bad_enum.status().message().find("c.pbtxt:1:"), std::string::npos);
}

TEST(ModelConfig, ValidationRejectsWhatBerthCannotServe) {
  config::ModelConfig config;
  config.set_name("other");
  EXPECT_FALSE(ValidateModelConfig(config, "digits").ok());
  config.set_name("");
  config.add_instance_group()->set_kind(config::ModelInstanceGroup::KIND_GPU);
  EXPECT_EQ(ValidateModelConfig(config, "digits").code(), core::StatusCode::kUnimplemented);
  config.clear_instance_group();
  config.mutable_sequence_batching()->set_max_sequence_idle_microseconds(1);
  EXPECT_EQ(ValidateModelConfig(config, "digits").code(), core::StatusCode::kUnimplemented);
}

// Configs that came from outside and would crash, escape or mislead.
TEST(ModelConfig, HostileConfigsAreErrorsNotCrashes) {
  // An unknown field nested 30,000 deep: protobuf would recurse until the
  // stack overflows; the nesting check refuses it first.
  std::string deep = "zz ";
  for (int i = 0; i < 30000; ++i) deep += "{ a ";
  deep += std::string(30000, '}');
  auto parsed = ParseModelConfig(deep, "deep.pbtxt", nullptr);
  ASSERT_FALSE(parsed.ok());
  EXPECT_EQ(parsed.status().code(), core::StatusCode::kInvalidArgument);
  EXPECT_NE(parsed.status().message().find("deep.pbtxt is nested deeper than 32 levels"), std::string::npos)
      << parsed.status().message();
  // Braces in strings and comments do not count.
  const std::string braces(40, '{');
  EXPECT_TRUE(ParseModelConfig("name: \"" + braces + "\" # " + braces + "\n", "ok.pbtxt", nullptr).ok());

  config::ModelConfig escape;
  for (const char* file : {"../../other/1/model.onnx", "/etc/passwd", "..", "sub/model.onnx"}) {
    escape.set_default_model_filename(file);
    core::Status status = ValidateModelConfig(escape, "m");
    EXPECT_EQ(status.code(), core::StatusCode::kInvalidArgument) << file;
    EXPECT_NE(status.message().find("must be a file name inside the version folder"), std::string::npos) << file;
  }
  escape.set_default_model_filename("weights.onnx");
  EXPECT_TRUE(ValidateModelConfig(escape, "m").ok());

  config::ModelConfig none;
  none.mutable_version_policy()->mutable_latest()->set_num_versions(0);
  EXPECT_EQ(ValidateModelConfig(none, "m").code(), core::StatusCode::kInvalidArgument);

  config::ModelConfig huge;
  auto* input = huge.add_input();
  input->set_name("x");
  input->add_dims(9223372036854775807);
  input->add_dims(64);
  core::Status status = ValidateModelConfig(huge, "m");
  EXPECT_EQ(status.code(), core::StatusCode::kInvalidArgument);
  EXPECT_NE(status.message().find("more than 2^40 elements"), std::string::npos) << status.message();
  input->clear_dims();
  input->add_dims(-1);
  input->add_dims(1 << 20);
  input->add_dims(1 << 20);
  EXPECT_TRUE(ValidateModelConfig(huge, "m").ok());  // 2^40 exactly, and -1 is "any"
}

TEST(ModelConfig, VersionPolicies) {
  std::vector<int64_t> available = {1, 2, 5, 9};
  config::ModelVersionPolicy policy;
  EXPECT_EQ(SelectVersions(policy, available), (std::vector<int64_t>{9}));
  policy.mutable_latest()->set_num_versions(2);
  EXPECT_EQ(SelectVersions(policy, available), (std::vector<int64_t>{5, 9}));
  policy.mutable_all();
  EXPECT_EQ(SelectVersions(policy, available), available);
  policy.mutable_specific()->add_versions(2);
  policy.mutable_specific()->add_versions(7);
  EXPECT_EQ(SelectVersions(policy, available), (std::vector<int64_t>{2}));
}

TEST(ModelConfig, DerivesEverythingFromTheModel) {
  config::ModelConfig config;
  auto signature = CompleteModelConfig(
      "m", Declared({Info("x", core::DataType::kFloat32, {-1, 4})}, {Info("y", core::DataType::kInt64, {-1})}), Onnx(),
      &config);
  ASSERT_TRUE(signature.ok()) << signature.status().ToString();
  EXPECT_EQ(config.name(), "m");
  EXPECT_EQ(config.platform(), "onnxruntime_onnx");
  ASSERT_EQ(config.input_size(), 1);
  EXPECT_EQ(config.input(0).data_type(), config::TYPE_FP32);
  EXPECT_EQ(config.input(0).dims_size(), 2);
  EXPECT_EQ(signature->inputs[0].shape, (core::TensorShape{-1, 4}));
  EXPECT_EQ(signature->outputs[0].dtype, core::DataType::kInt64);
  EXPECT_EQ(InstanceCount(config), 1);
}

TEST(ModelConfig, BatchDimensionIsLeftOutOfConfigDims) {
  config::ModelConfig config;
  config.set_max_batch_size(16);
  auto* input = config.add_input();
  input->set_name("x");
  input->add_dims(-1);
  auto signature = CompleteModelConfig(
      "m", Declared({Info("x", core::DataType::kFloat32, {-1, 4})}, {Info("y", core::DataType::kFloat32, {-1, 4})}),
      Onnx(), &config);
  ASSERT_TRUE(signature.ok()) << signature.status().ToString();
  EXPECT_EQ(signature->inputs[0].shape, (core::TensorShape{-1, 4}));  // config -1 refined by the model
  EXPECT_EQ(config.input(0).data_type(), config::TYPE_FP32);
  EXPECT_EQ(config.output(0).dims_size(), 1);
}

TEST(ModelConfig, ConflictsWithTheModelAreErrors) {
  config::ModelConfig wrong_type;
  auto* input = wrong_type.add_input();
  input->set_name("x");
  input->set_data_type(config::TYPE_INT32);
  auto result = CompleteModelConfig("m", Declared({Info("x", core::DataType::kFloat32, {2})}, {}), Onnx(), &wrong_type);
  ASSERT_FALSE(result.ok());
  EXPECT_NE(result.status().message().find("TYPE_INT32"), std::string::npos);

  config::ModelConfig wrong_dims;
  input = wrong_dims.add_input();
  input->set_name("x");
  input->add_dims(3);
  EXPECT_FALSE(
      CompleteModelConfig("m", Declared({Info("x", core::DataType::kFloat32, {2})}, {}), Onnx(), &wrong_dims).ok());

  config::ModelConfig unknown;
  unknown.add_input()->set_name("q");
  result = CompleteModelConfig("m", Declared({Info("x", core::DataType::kFloat32, {2})}, {}), Onnx(), &unknown);
  ASSERT_FALSE(result.ok());
  EXPECT_NE(result.status().message().find("'q'"), std::string::npos);
}

}  // namespace
}  // namespace berth::server
