// If, Loop, Scan, sequence and optional ops through the public Session API,
// on small models built here (bodies use only Add, Identity and ops of this
// family, so the tests do not depend on other kernel families).
#include <gtest/gtest.h>
#include <onnx/onnx_pb.h>

#include <initializer_list>
#include <limits>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/tensor_compare.h"
#include "engine/kernels/builtin_kernels.h"
#include "engine/onnx/model_loader.h"
#include "engine/runtime/execution_plan.h"
#include "engine/session.h"

namespace berth::engine {
namespace {

using core::Tensor;
using core::TensorSequence;
using core::Value;

constexpr int kFloat = onnx::TensorProto::FLOAT;
constexpr int kInt64 = onnx::TensorProto::INT64;
constexpr int kBool = onnx::TensorProto::BOOL;

void SetTensorType(onnx::TypeProto* type, int elem_type, std::initializer_list<int64_t> dims, bool ranked = true) {
  auto* tensor = type->mutable_tensor_type();
  tensor->set_elem_type(elem_type);
  if (!ranked) return;
  auto* shape = tensor->mutable_shape();
  for (int64_t d : dims) shape->add_dim()->set_dim_value(d);
}

void AddTensor(google::protobuf::RepeatedPtrField<onnx::ValueInfoProto>* list, const std::string& name, int elem_type,
               std::initializer_list<int64_t> dims, bool ranked = true) {
  auto* info = list->Add();
  info->set_name(name);
  SetTensorType(info->mutable_type(), elem_type, dims, ranked);
}

void AddSequence(google::protobuf::RepeatedPtrField<onnx::ValueInfoProto>* list, const std::string& name,
                 int elem_type) {
  auto* info = list->Add();
  info->set_name(name);
  SetTensorType(info->mutable_type()->mutable_sequence_type()->mutable_elem_type(), elem_type, {}, false);
}

void AddOptionalTensor(google::protobuf::RepeatedPtrField<onnx::ValueInfoProto>* list, const std::string& name,
                       int elem_type) {
  auto* info = list->Add();
  info->set_name(name);
  SetTensorType(info->mutable_type()->mutable_optional_type()->mutable_elem_type(), elem_type, {}, false);
}

onnx::NodeProto* AddNode(onnx::GraphProto* graph, const std::string& op, std::initializer_list<std::string> inputs,
                         std::initializer_list<std::string> outputs) {
  auto* node = graph->add_node();
  node->set_op_type(op);
  for (const auto& i : inputs) node->add_input(i);
  for (const auto& o : outputs) node->add_output(o);
  return node;
}

void SetInt(onnx::NodeProto* node, const std::string& name, int64_t value) {
  auto* attr = node->add_attribute();
  attr->set_name(name);
  attr->set_type(onnx::AttributeProto::INT);
  attr->set_i(value);
}

void SetInts(onnx::NodeProto* node, const std::string& name, std::initializer_list<int64_t> values) {
  auto* attr = node->add_attribute();
  attr->set_name(name);
  attr->set_type(onnx::AttributeProto::INTS);
  for (int64_t v : values) attr->add_ints(v);
}

void SetGraph(onnx::NodeProto* node, const std::string& name, const onnx::GraphProto& graph) {
  auto* attr = node->add_attribute();
  attr->set_name(name);
  attr->set_type(onnx::AttributeProto::GRAPH);
  *attr->mutable_g() = graph;
}

void SetBoolConstant(onnx::NodeProto* node, bool value) {
  auto* attr = node->add_attribute();
  attr->set_name("value");
  attr->set_type(onnx::AttributeProto::TENSOR);
  attr->mutable_t()->set_data_type(kBool);
  attr->mutable_t()->add_int32_data(value ? 1 : 0);
}

onnx::ModelProto MakeModel(const onnx::GraphProto& graph, int opset) {
  onnx::ModelProto model;
  model.set_ir_version(8);
  model.add_opset_import()->set_version(opset);
  *model.mutable_graph() = graph;
  return model;
}

core::Result<std::unique_ptr<Session>> Build(const onnx::ModelProto& model) {
  ASSIGN_OR_RETURN(auto loaded, LoadModelFromBytes(model.SerializeAsString(), {}));
  return Session::Create(loaded);
}

Tensor Floats(std::vector<float> values, core::TensorShape shape) { return Tensor::FromVector<float>(values, shape); }

void ExpectTensor(const Value& actual, const Tensor& expected) {
  ASSERT_TRUE(actual.is_tensor());
  core::Status status = core::CompareTensors(expected, actual.tensor());
  EXPECT_TRUE(status.ok()) << status.message();
}

// ---------------------------------------------------------------------------
// Loop

// y_out = y_in + x (x read from the outer scope), scan = y_out, cond kept.
onnx::GraphProto AccumulateBody(bool stop_after_first) {
  onnx::GraphProto body;
  body.set_name("body");
  AddTensor(body.mutable_input(), "i", kInt64, {});
  AddTensor(body.mutable_input(), "cond_in", kBool, {});
  AddTensor(body.mutable_input(), "y_in", kFloat, {2});
  if (stop_after_first) {
    SetBoolConstant(AddNode(&body, "Constant", {}, {"cond_out"}), false);
  } else {
    AddNode(&body, "Identity", {"cond_in"}, {"cond_out"});
  }
  AddNode(&body, "Add", {"y_in", "x"}, {"y_out"});
  AddNode(&body, "Identity", {"y_out"}, {"scan"});
  AddTensor(body.mutable_output(), "cond_out", kBool, {});
  AddTensor(body.mutable_output(), "y_out", kFloat, {2});
  AddTensor(body.mutable_output(), "scan", kFloat, {2});
  return body;
}

onnx::ModelProto LoopModel(bool stop_after_first, bool with_cond = true) {
  onnx::GraphProto graph;
  graph.set_name("loop");
  AddTensor(graph.mutable_input(), "M", kInt64, {});
  if (with_cond) AddTensor(graph.mutable_input(), "cond", kBool, {});
  AddTensor(graph.mutable_input(), "y", kFloat, {2});
  AddTensor(graph.mutable_input(), "x", kFloat, {2});
  auto* loop = AddNode(&graph, "Loop", {"M", with_cond ? "cond" : "", "y"}, {"y_final", "scans"});
  SetGraph(loop, "body", AccumulateBody(stop_after_first));
  AddTensor(graph.mutable_output(), "y_final", kFloat, {2});
  AddTensor(graph.mutable_output(), "scans", kFloat, {0, 2}, false);
  return MakeModel(graph, 16);
}

// Runs LoopModel(false) with trip count `trip_count`, y = [1, 2], x = [10, 20].
core::Result<std::vector<Value>> RunAccumulateLoop(int64_t trip_count) {
  ASSIGN_OR_RETURN(std::unique_ptr<Session> session, Build(LoopModel(false)));
  return session->Run({{"M", Tensor::Scalar<int64_t>(trip_count)},
                       {"cond", Tensor::Scalar<bool>(true)},
                       {"y", Floats({1, 2}, {2})},
                       {"x", Floats({10, 20}, {2})}});
}

TEST(Loop, CarriesValuesAndStacksScanOutputs) {
  auto outputs = RunAccumulateLoop(3);
  ASSERT_TRUE(outputs.ok()) << outputs.status().ToString();
  ExpectTensor((*outputs)[0], Floats({31, 62}, {2}));
  ExpectTensor((*outputs)[1], Floats({11, 22, 21, 42, 31, 62}, {3, 2}));
}

TEST(Loop, InfersCarriedAndStackedTypes) {
  auto model = LoadModelFromBytes(LoopModel(false).SerializeAsString(), {});
  ASSERT_TRUE(model.ok()) << model.status().ToString();
  std::unordered_map<std::string, ValueType> types;
  ASSERT_TRUE(InferGraphTypes((*model)->graph, BuiltinOpRegistry(), {}, &types).ok());
  EXPECT_EQ(types["y_final"].ToString(), "float32[2]");
  // The trip count is not static: the stacked axis is unknown.
  EXPECT_EQ(types["scans"].ToString(), "float32[?,2]");
}

TEST(Loop, ZeroIterationsGiveInitialValuesAndAnEmptyScan) {
  auto outputs = RunAccumulateLoop(0);
  ASSERT_TRUE(outputs.ok()) << outputs.status().ToString();
  ExpectTensor((*outputs)[0], Floats({1, 2}, {2}));
  ExpectTensor((*outputs)[1], Floats({}, {0, 2}));
}

TEST(Loop, HugeTripCountIsBoundedByTheCondition) {
  // Preallocating scan outputs for the trip count would need 2^63 rows.
  auto session = Build(LoopModel(true, false));
  ASSERT_TRUE(session.ok()) << session.status().ToString();
  auto outputs = (*session)->Run({{"M", Tensor::Scalar<int64_t>(std::numeric_limits<int64_t>::max())},
                                  {"y", Floats({1, 2}, {2})},
                                  {"x", Floats({10, 20}, {2})}});
  ASSERT_TRUE(outputs.ok()) << outputs.status().ToString();
  ExpectTensor((*outputs)[0], Floats({11, 22}, {2}));
  ExpectTensor((*outputs)[1], Floats({11, 22}, {1, 2}));
}

TEST(Loop, RejectsABodyWithTheWrongNumberOfInputs) {
  onnx::ModelProto model = LoopModel(false);
  // A second loop-carried value the body does not take.
  model.mutable_graph()->mutable_node(0)->add_input("x");
  auto session = Build(model);
  ASSERT_FALSE(session.ok());
  EXPECT_NE(session.status().message().find("body takes 3 inputs; with 2 loop-carried values it must take 4"),
            std::string::npos)
      << session.status().message();
}

TEST(Loop, RejectsANonBoolCondition) {
  // Session::Run checks declared types first, so declare cond as float.
  onnx::ModelProto model = LoopModel(false);
  model.mutable_graph()->mutable_input(1)->mutable_type()->mutable_tensor_type()->set_elem_type(kFloat);
  auto bad = Build(model);
  ASSERT_TRUE(bad.ok()) << bad.status().ToString();
  auto outputs = (*bad)->Run({{"M", Tensor::Scalar<int64_t>(1)},
                              {"cond", Tensor::Scalar<float>(1)},
                              {"y", Floats({1, 2}, {2})},
                              {"x", Floats({10, 20}, {2})}});
  ASSERT_FALSE(outputs.ok());
  EXPECT_NE(outputs.status().message().find("cond) must be a bool tensor"), std::string::npos)
      << outputs.status().message();
}

// A sequence carried through the loop: seq_out = SequenceInsert(seq_in, x).
TEST(Loop, CarriesSequencesIncludingEmptyOnes) {
  onnx::GraphProto body;
  body.set_name("body");
  AddTensor(body.mutable_input(), "i", kInt64, {});
  AddTensor(body.mutable_input(), "cond_in", kBool, {});
  AddSequence(body.mutable_input(), "seq_in", kFloat);
  AddNode(&body, "Identity", {"cond_in"}, {"cond_out"});
  AddNode(&body, "SequenceInsert", {"seq_in", "x"}, {"seq_out"});
  AddTensor(body.mutable_output(), "cond_out", kBool, {});
  AddSequence(body.mutable_output(), "seq_out", kFloat);

  onnx::GraphProto graph;
  graph.set_name("loop_seq");
  AddTensor(graph.mutable_input(), "M", kInt64, {});
  AddTensor(graph.mutable_input(), "x", kFloat, {2});
  AddNode(&graph, "SequenceEmpty", {}, {"empty"});
  SetGraph(AddNode(&graph, "Loop", {"M", "", "empty"}, {"seq"}), "body", body);
  AddNode(&graph, "SequenceLength", {"seq"}, {"length"});
  AddSequence(graph.mutable_output(), "seq", kFloat);
  AddTensor(graph.mutable_output(), "length", kInt64, {});
  auto session = Build(MakeModel(graph, 16));
  ASSERT_TRUE(session.ok()) << session.status().ToString();

  for (int64_t trips : {0, 3}) {
    auto outputs = (*session)->Run({{"M", Tensor::Scalar<int64_t>(trips)}, {"x", Floats({1, 2}, {2})}});
    ASSERT_TRUE(outputs.ok()) << outputs.status().ToString();
    ASSERT_TRUE((*outputs)[0].is_sequence());
    EXPECT_EQ((*outputs)[0].sequence().element_type, core::DataType::kFloat32);
    EXPECT_EQ((*outputs)[0].sequence().tensors.size(), static_cast<size_t>(trips));
    ExpectTensor((*outputs)[1], Tensor::Scalar<int64_t>(trips));
  }
}

TEST(Loop, RejectsScanOutputsThatChangeShape) {
  // scan = everything inserted so far, concatenated: [2], then [4], ...
  onnx::GraphProto body;
  body.set_name("body");
  AddTensor(body.mutable_input(), "i", kInt64, {});
  AddTensor(body.mutable_input(), "cond_in", kBool, {});
  AddSequence(body.mutable_input(), "seq_in", kFloat);
  AddNode(&body, "Identity", {"cond_in"}, {"cond_out"});
  AddNode(&body, "SequenceInsert", {"seq_in", "x"}, {"seq_out"});
  SetInt(AddNode(&body, "ConcatFromSequence", {"seq_out"}, {"scan"}), "axis", 0);
  AddTensor(body.mutable_output(), "cond_out", kBool, {});
  AddSequence(body.mutable_output(), "seq_out", kFloat);
  AddTensor(body.mutable_output(), "scan", kFloat, {}, false);

  onnx::GraphProto graph;
  graph.set_name("loop_grow");
  AddTensor(graph.mutable_input(), "M", kInt64, {});
  AddTensor(graph.mutable_input(), "x", kFloat, {2});
  AddNode(&graph, "SequenceEmpty", {}, {"empty"});
  SetGraph(AddNode(&graph, "Loop", {"M", "", "empty"}, {"seq", "scans"}), "body", body);
  AddSequence(graph.mutable_output(), "seq", kFloat);
  AddTensor(graph.mutable_output(), "scans", kFloat, {}, false);
  auto session = Build(MakeModel(graph, 16));
  ASSERT_TRUE(session.ok()) << session.status().ToString();
  auto one = (*session)->Run({{"M", Tensor::Scalar<int64_t>(1)}, {"x", Floats({1, 2}, {2})}});
  ASSERT_TRUE(one.ok()) << one.status().ToString();
  ExpectTensor((*one)[1], Floats({1, 2}, {1, 2}));
  auto two = (*session)->Run({{"M", Tensor::Scalar<int64_t>(2)}, {"x", Floats({1, 2}, {2})}});
  ASSERT_FALSE(two.ok());
  EXPECT_NE(two.status().message().find("iteration 1 produced float32[4] but earlier iterations produced float32[2]"),
            std::string::npos)
      << two.status().message();
  // No iteration and a body output of unknown shape: no empty result can be built.
  auto none = (*session)->Run({{"M", Tensor::Scalar<int64_t>(0)}, {"x", Floats({1, 2}, {2})}});
  ASSERT_FALSE(none.ok());
  EXPECT_NE(none.status().message().find("no iteration ran"), std::string::npos) << none.status().message();
}

// ---------------------------------------------------------------------------
// If

onnx::GraphProto BranchReturning(const std::string& op, const std::string& value, bool optional_empty) {
  onnx::GraphProto branch;
  branch.set_name(value + "_branch");
  if (optional_empty) {
    auto* node = AddNode(&branch, "Optional", {}, {value + "_out"});
    auto* attr = node->add_attribute();
    attr->set_name("type");
    attr->set_type(onnx::AttributeProto::TYPE_PROTO);
    SetTensorType(attr->mutable_tp()->mutable_sequence_type()->mutable_elem_type(), kFloat, {}, false);
  } else {
    AddNode(&branch, "SequenceConstruct", {value}, {value + "_seq"});
    AddNode(&branch, op, {value + "_seq"}, {value + "_out"});
  }
  auto* out = branch.add_output();
  out->set_name(value + "_out");
  SetTensorType(
      out->mutable_type()->mutable_optional_type()->mutable_elem_type()->mutable_sequence_type()->mutable_elem_type(),
      kFloat, {}, false);
  return branch;
}

TEST(If, PicksABranchAndPassesOptionalsAndSequences) {
  onnx::GraphProto graph;
  graph.set_name("if_opt");
  AddTensor(graph.mutable_input(), "cond", kBool, {});
  AddTensor(graph.mutable_input(), "a", kFloat, {2});
  auto* node = AddNode(&graph, "If", {"cond"}, {"res"});
  SetGraph(node, "then_branch", BranchReturning("Optional", "a", true));
  SetGraph(node, "else_branch", BranchReturning("Optional", "a", false));
  AddNode(&graph, "OptionalHasElement", {"res"}, {"has"});
  auto* out = graph.add_output();
  out->set_name("res");
  SetTensorType(
      out->mutable_type()->mutable_optional_type()->mutable_elem_type()->mutable_sequence_type()->mutable_elem_type(),
      kFloat, {}, false);
  AddTensor(graph.mutable_output(), "has", kBool, {});
  auto session = Build(MakeModel(graph, 16));
  ASSERT_TRUE(session.ok()) << session.status().ToString();
  EXPECT_EQ((*session)->outputs()[0].type.kind, ValueType::Kind::kOptional);

  auto empty = (*session)->Run({{"cond", Tensor::Scalar<bool>(true)}, {"a", Floats({1, 2}, {2})}});
  ASSERT_TRUE(empty.ok()) << empty.status().ToString();
  EXPECT_TRUE((*empty)[0].is_none());
  ExpectTensor((*empty)[1], Tensor::Scalar<bool>(false));

  auto full = (*session)->Run({{"cond", Tensor::Scalar<bool>(false)}, {"a", Floats({1, 2}, {2})}});
  ASSERT_TRUE(full.ok()) << full.status().ToString();
  ASSERT_TRUE((*full)[0].is_sequence());
  ExpectTensor((*full)[0].sequence().tensors.at(0), Floats({1, 2}, {2}));
  ExpectTensor((*full)[1], Tensor::Scalar<bool>(true));
}

// ---------------------------------------------------------------------------
// Scan

onnx::GraphProto SumBody(std::initializer_list<int64_t> dims) {
  onnx::GraphProto body;
  body.set_name("scan_body");
  AddTensor(body.mutable_input(), "sum_in", kFloat, dims);
  AddTensor(body.mutable_input(), "next", kFloat, dims);
  AddNode(&body, "Add", {"sum_in", "next"}, {"sum_out"});
  AddNode(&body, "Identity", {"sum_out"}, {"scan_out"});
  AddTensor(body.mutable_output(), "sum_out", kFloat, dims);
  AddTensor(body.mutable_output(), "scan_out", kFloat, dims);
  return body;
}

TEST(Scan, ReverseInputAndOutputOnAxisOne) {
  onnx::GraphProto body = SumBody({2});
  onnx::GraphProto graph;
  graph.set_name("scan");
  AddTensor(graph.mutable_input(), "init", kFloat, {2});
  AddTensor(graph.mutable_input(), "x", kFloat, {2, 3});  // scanned on axis 1
  auto* node = AddNode(&graph, "Scan", {"init", "x"}, {"sum", "partial"});
  SetGraph(node, "body", body);
  SetInt(node, "num_scan_inputs", 1);
  SetInts(node, "scan_input_axes", {1});
  SetInts(node, "scan_input_directions", {1});
  SetInts(node, "scan_output_axes", {-1});
  AddTensor(graph.mutable_output(), "sum", kFloat, {2});
  AddTensor(graph.mutable_output(), "partial", kFloat, {2, 3});
  auto session = Build(MakeModel(graph, 16));
  ASSERT_TRUE(session.ok()) << session.status().ToString();
  auto outputs = (*session)->Run({{"init", Floats({0, 0}, {2})}, {"x", Floats({1, 2, 3, 10, 20, 30}, {2, 3})}});
  ASSERT_TRUE(outputs.ok()) << outputs.status().ToString();
  ExpectTensor((*outputs)[0], Floats({6, 60}, {2}));
  // Steps read columns 2, 1, 0; partial sums stacked on the last axis.
  ExpectTensor((*outputs)[1], Floats({3, 5, 6, 30, 50, 60}, {2, 3}));
}

TEST(Scan, Opset8BatchesWithSequenceLengthsAndPadsWithZeros) {
  onnx::GraphProto graph;
  graph.set_name("scan8");
  AddTensor(graph.mutable_input(), "lens", kInt64, {2});
  AddTensor(graph.mutable_input(), "init", kFloat, {2, 1});
  AddTensor(graph.mutable_input(), "x", kFloat, {2, 3, 1});
  auto* node = AddNode(&graph, "Scan", {"lens", "init", "x"}, {"sum", "partial"});
  SetGraph(node, "body", SumBody({1}));
  SetInt(node, "num_scan_inputs", 1);
  SetInts(node, "directions", {1});
  AddTensor(graph.mutable_output(), "sum", kFloat, {2, 1});
  AddTensor(graph.mutable_output(), "partial", kFloat, {2, 3, 1});
  auto session = Build(MakeModel(graph, 8));
  ASSERT_TRUE(session.ok()) << session.status().ToString();
  auto outputs = (*session)->Run({{"lens", Tensor::FromVector<int64_t>({3, 1}, {2})},
                                  {"init", Floats({0, 0}, {2, 1})},
                                  {"x", Floats({1, 2, 3, 10, 20, 30}, {2, 3, 1})}});
  ASSERT_TRUE(outputs.ok()) << outputs.status().ToString();
  // Batch 0 reads 3, 2, 1; batch 1 (length 1) reads only its first step.
  ExpectTensor((*outputs)[0], Floats({6, 10}, {2, 1}));
  ExpectTensor((*outputs)[1], Floats({3, 5, 6, 10, 0, 0}, {2, 3, 1}));

  auto bad = (*session)->Run({{"lens", Tensor::FromVector<int64_t>({4, 1}, {2})},
                              {"init", Floats({0, 0}, {2, 1})},
                              {"x", Floats({1, 2, 3, 10, 20, 30}, {2, 3, 1})}});
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("sequence_lens[0] is 4; it must be in [0, 3]"), std::string::npos)
      << bad.status().message();
}

TEST(Scan, RejectsScanInputsOfDifferentLengths) {
  onnx::GraphProto body = SumBody({2});
  AddTensor(body.mutable_input(), "other", kFloat, {2});
  onnx::GraphProto graph;
  graph.set_name("scan");
  AddTensor(graph.mutable_input(), "init", kFloat, {2});
  AddTensor(graph.mutable_input(), "x", kFloat, {3, 2});
  AddTensor(graph.mutable_input(), "y", kFloat, {4, 2});
  auto* node = AddNode(&graph, "Scan", {"init", "x", "y"}, {"sum", "partial"});
  SetGraph(node, "body", body);
  SetInt(node, "num_scan_inputs", 2);
  AddTensor(graph.mutable_output(), "sum", kFloat, {2});
  AddTensor(graph.mutable_output(), "partial", kFloat, {3, 2});
  auto session = Build(MakeModel(graph, 16));
  ASSERT_TRUE(session.ok()) << session.status().ToString();
  auto outputs = (*session)->Run({{"init", Floats({0, 0}, {2})},
                                  {"x", Floats({1, 2, 3, 4, 5, 6}, {3, 2})},
                                  {"y", Floats({1, 2, 3, 4, 5, 6, 7, 8}, {4, 2})}});
  ASSERT_FALSE(outputs.ok());
  EXPECT_NE(outputs.status().message().find("scan input 1 has 4 steps on axis 0 but scan input 0 has 3"),
            std::string::npos)
      << outputs.status().message();
}

TEST(Scan, StacksStringTensors) {
  onnx::GraphProto body;
  body.set_name("scan_body");
  AddTensor(body.mutable_input(), "s", onnx::TensorProto::STRING, {});
  AddNode(&body, "Identity", {"s"}, {"copy"});
  AddTensor(body.mutable_output(), "copy", onnx::TensorProto::STRING, {});
  onnx::GraphProto graph;
  graph.set_name("scan_strings");
  AddTensor(graph.mutable_input(), "words", onnx::TensorProto::STRING, {3});
  auto* node = AddNode(&graph, "Scan", {"words"}, {"reversed"});
  SetGraph(node, "body", body);
  SetInt(node, "num_scan_inputs", 1);
  SetInts(node, "scan_output_directions", {1});
  AddTensor(graph.mutable_output(), "reversed", onnx::TensorProto::STRING, {3});
  auto session = Build(MakeModel(graph, 16));
  ASSERT_TRUE(session.ok()) << session.status().ToString();
  auto outputs = (*session)->Run({{"words", Tensor::FromVector<std::string>({"a", "bb", "ccc"}, {3})}});
  ASSERT_TRUE(outputs.ok()) << outputs.status().ToString();
  ExpectTensor((*outputs)[0], Tensor::FromVector<std::string>({"ccc", "bb", "a"}, {3}));
}

// ---------------------------------------------------------------------------
// Sequences

// Builds `graph` at opset 17 and runs it once.
core::Result<std::vector<Value>> RunSequenceGraph(const onnx::GraphProto& graph, std::vector<NamedValue> inputs) {
  ASSIGN_OR_RETURN(auto session, Build(MakeModel(graph, 17)));
  return session->Run(inputs);
}

TEST(Sequence, InsertAtEraseWithNegativePositions) {
  onnx::GraphProto graph;
  graph.set_name("seq");
  for (const char* name : {"a", "b", "c"}) AddTensor(graph.mutable_input(), name, kFloat, {1});
  AddTensor(graph.mutable_input(), "insert_at", kInt64, {});
  AddTensor(graph.mutable_input(), "erase_at", kInt64, {});
  AddTensor(graph.mutable_input(), "read_at", kInt64, {});
  AddNode(&graph, "SequenceConstruct", {"a", "b"}, {"s1"});
  AddNode(&graph, "SequenceInsert", {"s1", "c", "insert_at"}, {"s2"});
  AddNode(&graph, "SequenceErase", {"s2", "erase_at"}, {"s3"});
  AddNode(&graph, "SequenceAt", {"s3", "read_at"}, {"item"});
  AddSequence(graph.mutable_output(), "s3", kFloat);
  AddTensor(graph.mutable_output(), "item", kFloat, {1});
  auto run = [&](int64_t insert_at, int64_t erase_at, int64_t read_at) {
    return RunSequenceGraph(graph, {{"a", Floats({1}, {1})},
                                    {"b", Floats({2}, {1})},
                                    {"c", Floats({3}, {1})},
                                    {"insert_at", Tensor::Scalar<int64_t>(insert_at)},
                                    {"erase_at", Tensor::Scalar<int64_t>(erase_at)},
                                    {"read_at", Tensor::Scalar<int64_t>(read_at)}});
  };
  // [a, b] -> insert c at -1 -> [a, c, b] -> erase -3 -> [c, b] -> at -1 -> b
  auto outputs = run(-1, -3, -1);
  ASSERT_TRUE(outputs.ok()) << outputs.status().ToString();
  EXPECT_EQ((*outputs)[0].sequence().tensors.size(), 2u);
  ExpectTensor((*outputs)[1], Floats({2}, {1}));
  // Insert at the end (position == length) is allowed.
  auto at_end = run(2, 0, 1);
  ASSERT_TRUE(at_end.ok()) << at_end.status().ToString();
  ExpectTensor((*at_end)[1], Floats({3}, {1}));

  auto bad_insert = run(4, 0, 0);
  ASSERT_FALSE(bad_insert.ok());
  EXPECT_EQ(bad_insert.status().code(), core::StatusCode::kOutOfRange);
  EXPECT_NE(bad_insert.status().message().find("position 4 is out of range [-2, 2]"), std::string::npos)
      << bad_insert.status().message();
  auto bad_at = run(0, 0, -3);
  ASSERT_FALSE(bad_at.ok());
  EXPECT_EQ(bad_at.status().code(), core::StatusCode::kOutOfRange);
  auto bad_erase = run(0, 3, 0);
  ASSERT_FALSE(bad_erase.ok());
  EXPECT_EQ(bad_erase.status().code(), core::StatusCode::kOutOfRange);
}

TEST(Sequence, InsertRejectsAnotherElementType) {
  onnx::GraphProto graph;
  graph.set_name("seq");
  AddTensor(graph.mutable_input(), "i", kInt64, {1});
  auto* empty = AddNode(&graph, "SequenceEmpty", {}, {"s0"});
  SetInt(empty, "dtype", kFloat);
  AddNode(&graph, "SequenceInsert", {"s0", "i"}, {"s1"});
  AddSequence(graph.mutable_output(), "s1", kInt64);
  auto outputs = RunSequenceGraph(graph, {{"i", Tensor::FromVector<int64_t>({1}, {1})}});
  ASSERT_FALSE(outputs.ok());
  EXPECT_NE(outputs.status().message().find("cannot put a int64 tensor into a sequence of float32"), std::string::npos)
      << outputs.status().message();
}

TEST(Sequence, SplitAndConcatRoundTrip) {
  onnx::GraphProto graph;
  graph.set_name("split_concat");
  AddTensor(graph.mutable_input(), "x", kFloat, {2, 3});
  AddTensor(graph.mutable_input(), "split", kInt64, {});
  SetInt(AddNode(&graph, "SplitToSequence", {"x", "split"}, {"parts"}), "axis", 1);
  SetInt(AddNode(&graph, "ConcatFromSequence", {"parts"}, {"joined"}), "axis", 1);
  auto* split_default = AddNode(&graph, "SplitToSequence", {"x"}, {"columns"});
  SetInt(split_default, "axis", 1);
  SetInt(split_default, "keepdims", 0);
  auto* stack = AddNode(&graph, "ConcatFromSequence", {"columns"}, {"stacked"});
  SetInt(stack, "axis", 0);
  SetInt(stack, "new_axis", 1);
  AddSequence(graph.mutable_output(), "parts", kFloat);
  AddTensor(graph.mutable_output(), "joined", kFloat, {2, 3});
  AddTensor(graph.mutable_output(), "stacked", kFloat, {3, 2});
  Tensor x = Floats({1, 2, 3, 4, 5, 6}, {2, 3});
  auto outputs = RunSequenceGraph(graph, {{"x", x}, {"split", Tensor::Scalar<int64_t>(2)}});
  ASSERT_TRUE(outputs.ok()) << outputs.status().ToString();
  const auto& parts = (*outputs)[0].sequence().tensors;
  ASSERT_EQ(parts.size(), 2u);
  ExpectTensor(parts[0], Floats({1, 2, 4, 5}, {2, 2}));
  ExpectTensor(parts[1], Floats({3, 6}, {2, 1}));
  ExpectTensor((*outputs)[1], x);
  ExpectTensor((*outputs)[2], Floats({1, 4, 2, 5, 3, 6}, {3, 2}));

  auto bad = RunSequenceGraph(graph, {{"x", x}, {"split", Tensor::Scalar<int64_t>(0)}});
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("split size 0 must be positive"), std::string::npos) << bad.status().message();
}

TEST(Sequence, MapAppliesTheBodyPerElement) {
  onnx::GraphProto body;
  body.set_name("map_body");
  AddTensor(body.mutable_input(), "e", kFloat, {2});
  AddTensor(body.mutable_input(), "t", kFloat, {2});
  AddNode(&body, "Add", {"e", "t"}, {"sum"});
  AddTensor(body.mutable_output(), "sum", kFloat, {2});

  onnx::GraphProto graph;
  graph.set_name("map");
  AddSequence(graph.mutable_input(), "s", kFloat);
  AddTensor(graph.mutable_input(), "t", kFloat, {2});
  SetGraph(AddNode(&graph, "SequenceMap", {"s", "t"}, {"out"}), "body", body);
  AddSequence(graph.mutable_output(), "out", kFloat);
  TensorSequence input{core::DataType::kFloat32, {Floats({1, 2}, {2}), Floats({3, 4}, {2})}};
  auto outputs = RunSequenceGraph(graph, {{"s", input}, {"t", Floats({10, 20}, {2})}});
  ASSERT_TRUE(outputs.ok()) << outputs.status().ToString();
  const auto& items = (*outputs)[0].sequence().tensors;
  ASSERT_EQ(items.size(), 2u);
  ExpectTensor(items[0], Floats({11, 22}, {2}));
  ExpectTensor(items[1], Floats({13, 24}, {2}));

  // An empty input gives an empty output that still knows its element type.
  auto empty =
      RunSequenceGraph(graph, {{"s", TensorSequence{core::DataType::kFloat32, {}}}, {"t", Floats({10, 20}, {2})}});
  ASSERT_TRUE(empty.ok()) << empty.status().ToString();
  EXPECT_TRUE((*empty)[0].sequence().tensors.empty());
  EXPECT_EQ((*empty)[0].sequence().element_type, core::DataType::kFloat32);
}

// ---------------------------------------------------------------------------
// Optionals

TEST(Optional, GetElementOfAnEmptyOptionalFails) {
  onnx::GraphProto graph;
  graph.set_name("opt");
  AddOptionalTensor(graph.mutable_input(), "o", kFloat);
  AddNode(&graph, "OptionalHasElement", {"o"}, {"has"});
  AddNode(&graph, "OptionalGetElement", {"o"}, {"value"});
  AddTensor(graph.mutable_output(), "has", kBool, {});
  AddTensor(graph.mutable_output(), "value", kFloat, {}, false);
  auto session = Build(MakeModel(graph, 16));
  ASSERT_TRUE(session.ok()) << session.status().ToString();

  auto full = (*session)->Run({{"o", Floats({5}, {1})}});
  ASSERT_TRUE(full.ok()) << full.status().ToString();
  ExpectTensor((*full)[0], Tensor::Scalar<bool>(true));
  ExpectTensor((*full)[1], Floats({5}, {1}));

  auto empty = (*session)->Run({{"o", Value()}});
  ASSERT_FALSE(empty.ok());
  EXPECT_NE(empty.status().message().find("empty optional"), std::string::npos) << empty.status().message();
}

}  // namespace
}  // namespace berth::engine
