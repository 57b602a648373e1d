// Bad model files: each must give a clear one-line error and a non-zero exit
// from `berth run` (never a crash), and a non-OK Status from the loader API.
#include <gtest/gtest.h>
#include <onnx/onnx_pb.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <string>

#include "engine/onnx/model_loader.h"
#include "engine/session.h"

namespace berth {
namespace {

namespace fs = std::filesystem;

struct CommandResult {
  int exit_code = -1;
  int signal = 0;
  std::string stderr_text;
};

// Runs `berth run MODEL` and captures stderr.
CommandResult RunBerth(const fs::path& model) {
  fs::path err_file = model.string() + ".stderr";
  std::string command =
      std::string(BERTH_BINARY) + " run '" + model.string() + "' >/dev/null 2>'" + err_file.string() + "'";
  int status = std::system(command.c_str());
  CommandResult result;
  if (WIFEXITED(status)) result.exit_code = WEXITSTATUS(status);
  // system() runs a shell: a crash shows as 128+signal from the shell.
  if (WIFSIGNALED(status)) result.signal = WTERMSIG(status);
  if (result.exit_code > 128) result.signal = result.exit_code - 128;
  std::ifstream in(err_file);
  result.stderr_text.assign(std::istreambuf_iterator<char>(in), {});
  return result;
}

class BadModelTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("berth_bad_models_" + std::to_string(getpid()) + "_" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_ / "model");
  }
  void TearDown() override { fs::remove_all(dir_); }

  // A valid model: z = Relu(x + w), x: float[2,3], w: initializer [2,3].
  static onnx::ModelProto GoodModel() {
    onnx::ModelProto model;
    model.set_ir_version(8);
    model.add_opset_import()->set_version(17);
    auto* graph = model.mutable_graph();
    graph->set_name("g");
    auto add_info = [](onnx::ValueInfoProto* info, const char* name) {
      info->set_name(name);
      auto* t = info->mutable_type()->mutable_tensor_type();
      t->set_elem_type(onnx::TensorProto::FLOAT);
      t->mutable_shape()->add_dim()->set_dim_value(2);
      t->mutable_shape()->add_dim()->set_dim_value(3);
    };
    add_info(graph->add_input(), "x");
    add_info(graph->add_output(), "z");
    auto* w = graph->add_initializer();
    w->set_name("w");
    w->set_data_type(onnx::TensorProto::FLOAT);
    w->add_dims(2);
    w->add_dims(3);
    std::string raw(6 * sizeof(float), '\0');
    w->set_raw_data(raw);
    auto* add = graph->add_node();
    add->set_op_type("Add");
    add->add_input("x");
    add->add_input("w");
    add->add_output("s");
    auto* relu = graph->add_node();
    relu->set_op_type("Relu");
    relu->add_input("s");
    relu->add_output("z");
    return model;
  }

  fs::path Write(const std::string& bytes, const std::string& name = "model.onnx") {
    fs::path path = dir_ / "model" / name;
    std::ofstream out(path, std::ios::binary);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    return path;
  }
  fs::path Write(const onnx::ModelProto& model) {
    std::string bytes;
    model.SerializeToString(&bytes);
    return Write(bytes);
  }

  // The CLI must fail cleanly with one line naming the problem; the loader
  // API (load + session) must return an error too.
  void ExpectRejected(const fs::path& path, const std::string& expected_substring) {
    CommandResult result = RunBerth(path);
    EXPECT_EQ(result.signal, 0) << "berth crashed with signal " << result.signal << ": " << result.stderr_text;
    EXPECT_NE(result.exit_code, 0) << result.stderr_text;
    ASSERT_FALSE(result.stderr_text.empty());
    EXPECT_EQ(std::count(result.stderr_text.begin(), result.stderr_text.end(), '\n'), 1)
        << "expected one line, got: " << result.stderr_text;
    EXPECT_NE(result.stderr_text.find(expected_substring), std::string::npos)
        << "message lacks '" << expected_substring << "': " << result.stderr_text;
    auto session = engine::Session::Load(path);
    EXPECT_FALSE(session.ok());
  }

  fs::path dir_;
};

TEST_F(BadModelTest, GoodModelRuns) {
  fs::path path = Write(GoodModel());
  CommandResult result = RunBerth(path);
  EXPECT_EQ(result.exit_code, 0) << result.stderr_text;
}

TEST_F(BadModelTest, TruncatedFile) {
  std::string bytes;
  GoodModel().SerializeToString(&bytes);
  // Every truncation point must be rejected, not only a lucky one.
  for (size_t cut : {bytes.size() / 4, bytes.size() / 2, bytes.size() - 7, bytes.size() - 1}) {
    fs::path path = Write(bytes.substr(0, cut));
    ExpectRejected(path, "model");
  }
}

TEST_F(BadModelTest, NotAProtobuf) {
  ExpectRejected(Write(std::string("this is a text file, not an ONNX model\n")), "not");
  std::mt19937 rng(7);
  std::string noise(4096, '\0');
  for (char& c : noise) c = static_cast<char>(rng());
  ExpectRejected(Write(noise), "not");
}

TEST_F(BadModelTest, EmptyFile) { ExpectRejected(Write(std::string()), "empty"); }

TEST_F(BadModelTest, MissingFile) {
  CommandResult result = RunBerth(dir_ / "no_such_model.onnx");
  EXPECT_EQ(result.signal, 0);
  EXPECT_NE(result.exit_code, 0);
  EXPECT_NE(result.stderr_text.find("does not exist"), std::string::npos) << result.stderr_text;
}

TEST_F(BadModelTest, RawDataLengthMismatch) {
  onnx::ModelProto model = GoodModel();
  model.mutable_graph()->mutable_initializer(0)->set_raw_data(std::string(5 * sizeof(float), '\0'));
  ExpectRejected(Write(model), "raw_data is 20 bytes");
}

TEST_F(BadModelTest, NegativeDims) {
  onnx::ModelProto model = GoodModel();
  model.mutable_graph()->mutable_initializer(0)->set_dims(0, -2);
  ExpectRejected(Write(model), "negative dimension");
}

TEST_F(BadModelTest, OverflowingDimsAreRejectedBeforeAllocation) {
  onnx::ModelProto model = GoodModel();
  auto* w = model.mutable_graph()->mutable_initializer(0);
  w->set_dims(0, int64_t{1} << 62);
  w->set_dims(1, 4);
  ExpectRejected(Write(model), "too many elements");
}

TEST_F(BadModelTest, TypedFieldCountMismatch) {
  onnx::ModelProto model = GoodModel();
  auto* w = model.mutable_graph()->mutable_initializer(0);
  w->clear_raw_data();
  for (int i = 0; i < 4; ++i) w->add_float_data(1.0f);
  ExpectRejected(Write(model), "float_data has 4 values");
}

onnx::ModelProto WithExternalData(onnx::ModelProto model, const std::string& location, int64_t offset = -1,
                                  int64_t length = -1) {
  auto* w = model.mutable_graph()->mutable_initializer(0);
  w->clear_raw_data();
  w->set_data_location(onnx::TensorProto::EXTERNAL);
  auto* entry = w->add_external_data();
  entry->set_key("location");
  entry->set_value(location);
  if (offset >= 0) {
    entry = w->add_external_data();
    entry->set_key("offset");
    entry->set_value(std::to_string(offset));
  }
  if (length >= 0) {
    entry = w->add_external_data();
    entry->set_key("length");
    entry->set_value(std::to_string(length));
  }
  return model;
}

TEST_F(BadModelTest, ExternalDataLoadsWhenValid) {
  Write(std::string(24, '\0'), "weights.bin");
  fs::path path = Write(WithExternalData(GoodModel(), "weights.bin", 0, 24));
  CommandResult result = RunBerth(path);
  EXPECT_EQ(result.exit_code, 0) << result.stderr_text;
}

TEST_F(BadModelTest, ExternalDataAbsolutePath) {
  Write(std::string(24, '\0'), "weights.bin");
  ExpectRejected(Write(WithExternalData(GoodModel(), (dir_ / "model" / "weights.bin").string())), "is absolute");
}

TEST_F(BadModelTest, ExternalDataParentReference) {
  std::ofstream(dir_ / "outside.bin") << std::string(24, '\0');
  ExpectRejected(Write(WithExternalData(GoodModel(), "../outside.bin")), "contains '..'");
}

TEST_F(BadModelTest, ExternalDataSymlinkOutsideModelFolder) {
  std::ofstream(dir_ / "secret.bin") << std::string(24, '\0');
  fs::create_symlink(dir_ / "secret.bin", dir_ / "model" / "weights.bin");
  ExpectRejected(Write(WithExternalData(GoodModel(), "weights.bin")), "outside the model's folder");
}

TEST_F(BadModelTest, ExternalDataOffsetBeyondFile) {
  Write(std::string(24, '\0'), "weights.bin");
  ExpectRejected(Write(WithExternalData(GoodModel(), "weights.bin", 16)), "beyond the end");
  ExpectRejected(Write(WithExternalData(GoodModel(), "weights.bin", 1000)), "beyond the end");
}

TEST_F(BadModelTest, ExternalDataLengthMismatch) {
  Write(std::string(64, '\0'), "weights.bin");
  ExpectRejected(Write(WithExternalData(GoodModel(), "weights.bin", 0, 40)), "does not match");
}

TEST_F(BadModelTest, ExternalDataMissingFile) {
  ExpectRejected(Write(WithExternalData(GoodModel(), "nowhere.bin")), "not found");
}

// A FIFO would block the loader thread forever in open(): it is refused at
// once, as external data and as the model file itself.
TEST_F(BadModelTest, ExternalDataThatIsAFifo) {
  ASSERT_EQ(mkfifo((dir_ / "model" / "weights.bin").c_str(), 0600), 0);
  ExpectRejected(Write(WithExternalData(GoodModel(), "weights.bin", 0, 24)), "is a FIFO");
}

TEST_F(BadModelTest, ModelFileThatIsAFifo) {
  const fs::path path = dir_ / "model" / "model.onnx";
  ASSERT_EQ(mkfifo(path.c_str(), 0600), 0);
  ExpectRejected(path, "is a FIFO");
}

// A second hard link is a name for a file that may lie anywhere: external
// data must be a file of its own.
TEST_F(BadModelTest, ExternalDataThatIsAHardLink) {
  std::ofstream(dir_ / "secret.bin") << std::string(24, '\0');
  fs::create_hard_link(dir_ / "secret.bin", dir_ / "model" / "weights.bin");
  ExpectRejected(Write(WithExternalData(GoodModel(), "weights.bin", 0, 24)), "has 2 hard links");
}

TEST_F(BadModelTest, UnknownOpNamesOpDomainAndOpset) {
  onnx::ModelProto model = GoodModel();
  model.mutable_graph()->mutable_node(1)->set_op_type("FrobnicateV2");
  ExpectRejected(Write(model), "unknown op 'FrobnicateV2' (domain 'ai.onnx', opset 17)");
  model.mutable_graph()->mutable_node(1)->set_op_type("Relu");
  model.mutable_graph()->mutable_node(1)->set_domain("com.example");
  auto* opset = model.add_opset_import();
  opset->set_domain("com.example");
  opset->set_version(3);
  ExpectRejected(Write(model), "unknown op 'Relu' (domain 'com.example', opset 3)");
}

TEST_F(BadModelTest, GraphCycle) {
  onnx::ModelProto model = GoodModel();
  // s = Add(x, z); z = Relu(s): a cycle through both nodes.
  model.mutable_graph()->mutable_node(0)->set_input(1, "z");
  ExpectRejected(Write(model), "cycle");
}

TEST_F(BadModelTest, NodeInputThatNothingProduces) {
  onnx::ModelProto model = GoodModel();
  model.mutable_graph()->mutable_node(1)->set_input(0, "ghost");
  ExpectRejected(Write(model), "input 'ghost'");
}

TEST_F(BadModelTest, OutputThatNothingProduces) {
  onnx::ModelProto model = GoodModel();
  model.mutable_graph()->mutable_output(0)->set_name("nowhere");
  ExpectRejected(Write(model), "output 'nowhere'");
}

TEST_F(BadModelTest, ValueProducedTwice) {
  onnx::ModelProto model = GoodModel();
  model.mutable_graph()->mutable_node(0)->set_output(0, "z");
  model.mutable_graph()->mutable_node(1)->set_input(0, "x");
  ExpectRejected(Write(model), "produced twice");
}

TEST_F(BadModelTest, NoGraph) {
  onnx::ModelProto model;
  model.set_ir_version(8);
  ExpectRejected(Write(model), "no graph");
}

TEST_F(BadModelTest, BadAttributeIsReportedAtLoad) {
  onnx::ModelProto model = GoodModel();
  auto* node = model.mutable_graph()->mutable_node(1);
  node->set_op_type("Transpose");
  auto* perm = node->add_attribute();
  perm->set_name("perm");
  perm->set_type(onnx::AttributeProto::INTS);
  perm->add_ints(0);
  perm->add_ints(7);
  CommandResult result = RunBerth(Write(model));
  EXPECT_EQ(result.signal, 0) << result.stderr_text;
  EXPECT_NE(result.exit_code, 0);
}

}  // namespace
}  // namespace berth
