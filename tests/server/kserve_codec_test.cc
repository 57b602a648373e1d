#include "server/kserve/kserve_codec.h"

#include <gtest/gtest.h>

#include <cstring>

namespace berth::server {
namespace {

core::Result<KServeInferRequest> Parse(std::string_view json) { return ParseInferRequest(json, std::nullopt, {}); }

TEST(KServeCodec, ParsesFlatAndNestedJson) {
  auto parsed = Parse(R"({"id":"r1","parameters":{"binary_data_output":false,"n":3},
    "inputs":[{"name":"x","shape":[2,2],"datatype":"FP32","data":[[1,2],[3,4.5]]},
              {"name":"s","shape":[2],"datatype":"BYTES","data":["a","bc"]}],
    "outputs":[{"name":"y","parameters":{"binary_data":true}}]})");
  ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
  const InferRequest& request = parsed->request;
  EXPECT_EQ(request.id, "r1");
  ASSERT_EQ(request.inputs.size(), 2u);
  const core::Tensor& x = request.inputs[0].second.tensor();
  EXPECT_EQ(x.shape(), (core::TensorShape{2, 2}));
  EXPECT_FLOAT_EQ(x.data<float>()[3], 4.5f);
  EXPECT_EQ(request.inputs[1].second.tensor().data<std::string>()[1], "bc");
  EXPECT_EQ(request.outputs, (std::vector<std::string>{"y"}));
  ASSERT_EQ(parsed->output_binary.size(), 1u);
  EXPECT_TRUE(parsed->output_binary[0].second);
  EXPECT_EQ(std::get<int64_t>(request.parameters.at("n")), 3);
}

TEST(KServeCodec, RejectsBadSizesBeforeAllocating) {
  struct Case {
    const char* json;
    const char* message;
  } cases[] = {
      {R"({"inputs":[{"name":"x","shape":[2,2],"datatype":"FP32","data":[1,2,3]}]})", "has 4 elements but data has 3"},
      {R"({"inputs":[{"name":"x","shape":[16,1152921504606846978],"datatype":"FP32","data":[1]}]})", "too many"},
      {R"({"inputs":[{"name":"x","shape":[-2],"datatype":"FP32","data":[1]}]})", "negative dimension"},
      {R"({"inputs":[{"name":"x","shape":[1],"datatype":"INT8","data":[128]}]})", "not a valid INT8"},
      {R"({"inputs":[{"name":"x","shape":[1],"datatype":"UINT8","data":[-1]}]})", "not a valid UINT8"},
      {R"({"inputs":[{"name":"x","shape":[1],"datatype":"FP99","data":[1]}]})", "unknown datatype"},
      {R"({"inputs":[{"name":"x","shape":[1],"datatype":"FP32"}]})", "neither data nor binary_data_size"},
      {R"({"inputs":[]  ,"id":5})", "id must be a string"},
      {R"([1])", "must be a JSON object"},
      {R"({"inputs":[{"name":"x","shape":[1],"datatype":"FP32","data":[1]},
                     {"name":"x","shape":[1],"datatype":"FP32","data":[1]}]})",
       "given twice"},
      {R"({"inputs":[{"name":"x","shape":[1],"datatype":"FP32","parameters":{"binary_data_size":4}}]})",
       "no Inference-Header-Content-Length"},
  };
  for (const auto& c : cases) {
    auto parsed = Parse(c.json);
    ASSERT_FALSE(parsed.ok()) << c.json;
    EXPECT_EQ(parsed.status().code(), core::StatusCode::kInvalidArgument) << c.json;
    EXPECT_NE(parsed.status().message().find(c.message), std::string::npos) << parsed.status().message();
  }
}

TEST(KServeCodec, DepthAndObjectLimitsAreCheckedFirst) {
  std::string deep = R"({"inputs":)" + std::string(1000, '[') + std::string(1000, ']') + "}";
  auto parsed = Parse(deep);
  ASSERT_FALSE(parsed.ok());
  EXPECT_NE(parsed.status().message().find("nested deeper than 32"), std::string::npos);
  std::string many = R"({"inputs":[],"outputs":[)";
  for (int i = 0; i < 20000; ++i) many += std::string(i ? "," : "") + R"({"name":"y"})";
  many += "]}";
  parsed = Parse(many);
  ASSERT_FALSE(parsed.ok());
  EXPECT_NE(parsed.status().message().find("more than 10000 objects"), std::string::npos);
  // Brackets inside strings do not count.
  parsed = Parse(R"({"id":"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[\"[[[[[","inputs":[]})");
  EXPECT_TRUE(parsed.ok()) << parsed.status().ToString();
}

TEST(KServeCodec, BinaryExtension) {
  std::string header = R"({"inputs":[{"name":"x","shape":[2],"datatype":"FP32","parameters":{"binary_data_size":8}},
                                      {"name":"s","shape":[2],"datatype":"BYTES","parameters":{"binary_data_size":11}}]})";
  float values[2] = {1.5f, -2.0f};
  std::string body = header;
  body.append(reinterpret_cast<const char*>(values), 8);
  body.append("\x02\x00\x00\x00hi\x01\x00\x00\x00!", 11);
  auto parsed = ParseInferRequest(body, header.size(), {});
  ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
  EXPECT_FLOAT_EQ(parsed->request.inputs[0].second.tensor().data<float>()[1], -2.0f);
  EXPECT_EQ(parsed->request.inputs[1].second.tensor().data<std::string>()[0], "hi");
  EXPECT_EQ(parsed->request.inputs[1].second.tensor().data<std::string>()[1], "!");

  auto short_body = ParseInferRequest(body.substr(0, body.size() - 3), header.size(), {});
  ASSERT_FALSE(short_body.ok());
  auto extra = ParseInferRequest(body + "zz", header.size(), {});
  ASSERT_FALSE(extra.ok());
  EXPECT_NE(extra.status().message().find("no input claims them"), std::string::npos);
}

TEST(KServeCodec, InferenceHeaderLength) {
  EXPECT_EQ(*ParseInferenceHeaderLength("12", 100), 12u);
  EXPECT_FALSE(ParseInferenceHeaderLength("101", 100).ok());
  EXPECT_FALSE(ParseInferenceHeaderLength("-1", 100).ok());
  EXPECT_FALSE(ParseInferenceHeaderLength("abc", 100).ok());
  EXPECT_FALSE(ParseInferenceHeaderLength("", 100).ok());
  EXPECT_FALSE(ParseInferenceHeaderLength("99999999999999999999999", 100).ok());
}

TEST(KServeCodec, EncodesJsonAndBinaryOutputs) {
  InferResponse response;
  response.id = "r";
  response.model_name = "m";
  response.model_version = 3;
  response.outputs.push_back({"f", core::Tensor::FromVector<float>({0.1f, 2.0f}, {2})});
  response.outputs.push_back({"b", core::Tensor::FromVector<bool>({true, false}, {1, 2})});
  response.outputs.push_back({"s", core::Tensor::FromVector<std::string>({"x\"y"}, {1})});
  KServeInferRequest request;
  auto encoded = EncodeInferResponse(response, request);
  ASSERT_TRUE(encoded.ok());
  EXPECT_FALSE(encoded->json_length.has_value());
  EXPECT_EQ(encoded->body, R"({"model_name":"m","model_version":"3","id":"r","outputs":[)"
                           R"({"name":"f","datatype":"FP32","shape":[2],"data":[0.1,2]},)"
                           R"({"name":"b","datatype":"BOOL","shape":[1,2],"data":[true,false]},)"
                           R"({"name":"s","datatype":"BYTES","shape":[1],"data":["x\"y"]}]})");

  request.output_binary.emplace_back("s", true);
  encoded = EncodeInferResponse(response, request);
  ASSERT_TRUE(encoded.ok());
  ASSERT_TRUE(encoded->json_length.has_value());
  std::string binary = encoded->body.substr(*encoded->json_length);
  EXPECT_EQ(binary, std::string("\x03\x00\x00\x00x\"y", 7));
  EXPECT_NE(encoded->body.find(R"("parameters":{"binary_data_size":7})"), std::string::npos);
}

// Deterministic mutations of a valid request: never a crash, always a value.
TEST(KServeCodec, SurvivesMutatedInput) {
  const std::string seed = R"({"id":"x","inputs":[{"name":"x","shape":[2,2],"datatype":"FP32","data":[[1,2],[3,4]]},)"
                           R"({"name":"s","shape":[1],"datatype":"BYTES","data":["a"]}],"outputs":[{"name":"y"}]})";
  uint64_t state = 0x9E3779B97F4A7C15ull;
  auto next = [&] {
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    return state;
  };
  const char alphabet[] = "{}[],:\"-0123456789e.ntrufalsFPBYTES\\ ";
  for (int i = 0; i < 20000; ++i) {
    std::string text = seed;
    int edits = 1 + static_cast<int>(next() % 4);
    for (int e = 0; e < edits; ++e) {
      size_t at = next() % text.size();
      switch (next() % 3) {
        case 0:
          text[at] = alphabet[next() % (sizeof(alphabet) - 1)];
          break;
        case 1:
          text.erase(at, 1 + next() % 3);
          break;
        default:
          text.insert(at, 1, alphabet[next() % (sizeof(alphabet) - 1)]);
          break;
      }
      if (text.empty()) text = "{";
    }
    auto parsed = Parse(text);
    if (!parsed.ok()) {
      EXPECT_FALSE(parsed.status().message().empty());
    }
  }
}

TEST(KServeCodec, ChargesTheRequestsMemoryAccount) {
  core::MemoryBudget budget(64 << 20);
  auto account = std::make_shared<core::MemoryAccount>(&budget, 1 << 20);
  std::string values;
  for (int i = 0; i < 1000; ++i) values += i ? ",7" : "7";
  std::string body = R"({"inputs":[{"name":"x","shape":[1000],"datatype":"INT64","data":[)" + values + "]}]}";
  {
    auto parsed = ParseInferRequest(body, std::nullopt, {}, account);
    ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
    // The tree's charge is gone once parsed; the 8000-byte tensor stays
    // charged while the request holds it, and the request holds the account.
    EXPECT_EQ(account->in_use(), 8000u);
    EXPECT_EQ(parsed->request.memory, account);
    EXPECT_GT(account->peak(), 40u * 1000);  // the tree's bound was charged while parsing
  }
  EXPECT_EQ(account->in_use(), 0u);

  // A tree beyond the request's limit: 507 before RapidJSON builds it.
  auto small = std::make_shared<core::MemoryAccount>(&budget, 72 << 10);
  auto refused = ParseInferRequest(body, std::nullopt, {}, small);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), core::StatusCode::kRequestTooLarge);
  EXPECT_NE(refused.status().message().find("the parsed JSON"), std::string::npos) << refused.status().message();

  // Binary data makes no tree: the tensor itself is what does not fit.
  std::string header =
      R"({"inputs":[{"name":"x","shape":[10000],"datatype":"INT64","parameters":{"binary_data_size":80000}}]})";
  std::string binary = header + std::string(80000, '\0');
  auto tensor_refused = ParseInferRequest(binary, header.size(), {}, small);
  ASSERT_FALSE(tensor_refused.ok());
  EXPECT_EQ(tensor_refused.status().code(), core::StatusCode::kRequestTooLarge);
  EXPECT_NE(tensor_refused.status().message().find("input 'x'"), std::string::npos)
      << tensor_refused.status().message();
  EXPECT_EQ(small->in_use(), 0u);
  EXPECT_EQ(budget.in_use(), 0u);
}

TEST(KServeCodec, ChargesTheResponse) {
  core::MemoryBudget budget(1 << 20);
  auto account = std::make_shared<core::MemoryAccount>(&budget, 4096);
  InferResponse response;
  response.model_name = "m";
  response.outputs.push_back({"y", core::Tensor::FromVector<float>(std::vector<float>(10000, 1.5f), {10000})});
  KServeInferRequest request;
  auto encoded = EncodeInferResponse(response, request, account.get());
  ASSERT_FALSE(encoded.ok());
  EXPECT_EQ(encoded.status().code(), core::StatusCode::kRequestTooLarge);
  response.outputs[0].tensor = core::Tensor::FromVector<float>({1.5f}, {1});
  encoded = EncodeInferResponse(response, request, account.get());
  ASSERT_TRUE(encoded.ok()) << encoded.status().ToString();
  EXPECT_GT(account->in_use(), 0u);  // held until the response is written and the account goes
}

TEST(KServeCodec, RawBinaryRequestsTakeTheirShapeFromTheModel) {
  std::vector<TensorSpec> inputs = {{"image", core::DataType::kFloat32, true, {-1, 4}}};
  std::vector<float> values = {1, 2, 3, 4, 5, 6, 7, 8};
  std::string body(reinterpret_cast<const char*>(values.data()), values.size() * sizeof(float));
  auto parsed = ParseRawBinaryRequest(body, inputs);
  ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
  EXPECT_TRUE(parsed->binary_output_default);
  const core::Tensor& tensor = parsed->request.inputs.at(0).second.tensor();
  EXPECT_EQ(tensor.shape(), (core::TensorShape{2, 4}));
  EXPECT_FLOAT_EQ(tensor.data<float>()[7], 8);

  auto ragged = ParseRawBinaryRequest(body.substr(0, 12), inputs);
  ASSERT_FALSE(ragged.ok());
  EXPECT_NE(ragged.status().message().find("does not fill input 'image' (FP32 [-1,4]: 16 bytes"), std::string::npos)
      << ragged.status().message();
  std::vector<TensorSpec> fixed = {{"x", core::DataType::kInt32, true, {2}}};
  EXPECT_TRUE(ParseRawBinaryRequest(std::string(8, '\0'), fixed).ok());
  EXPECT_FALSE(ParseRawBinaryRequest(std::string(16, '\0'), fixed).ok());
  std::vector<TensorSpec> two_variable = {{"x", core::DataType::kFloat32, true, {-1, -1}}};
  EXPECT_NE(ParseRawBinaryRequest(body, two_variable).status().message().find("more than one variable"),
            std::string::npos);
  std::vector<TensorSpec> two_inputs = {inputs[0], fixed[0]};
  EXPECT_NE(ParseRawBinaryRequest(body, two_inputs).status().message().find("one input"), std::string::npos);
  // BYTES: the body is one element.
  std::vector<TensorSpec> text = {{"text", core::DataType::kString, true, {-1}}};
  auto string = ParseRawBinaryRequest("hello", text);
  ASSERT_TRUE(string.ok()) << string.status().ToString();
  EXPECT_EQ(string->request.inputs[0].second.tensor().data<std::string>()[0], "hello");
}

}  // namespace
}  // namespace berth::server
