// The GGUF reader: a well-formed file read back, and malformed files (the
// ways GGUF files have crashed parsers before), each refused with a one-line
// error naming what is wrong. Built in memory by a small writer below.
#include "llm/gguf/gguf_file.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "gguf_writer.h"

namespace berth::llm {
namespace {

using testing::Gguf;
using testing::Tensor;
using testing::Writer;

void GoodMetadata(Writer& w) {
  w.String("general.architecture").Put<uint32_t>(8).String("llama");
  w.String("llama.context_length").Put<uint32_t>(4).Put<uint32_t>(128);
  w.String("tokenizer.ggml.tokens").Put<uint32_t>(9).Put<uint32_t>(8).Put<uint64_t>(3);
  w.String("<s>").String("</s>").String("a");
  w.String("tokenizer.ggml.scores").Put<uint32_t>(9).Put<uint32_t>(6).Put<uint64_t>(3);
  w.Put<float>(0).Put<float>(-1).Put<float>(-2.5f);
}

std::string GoodFile() {
  // F32 [4, 2] (32 bytes) at 0, Q8_0 [32, 1] (34 bytes) at 32.
  return Gguf(4, GoodMetadata, {{"a.weight", {4, 2}, 0, 0}, {"b.weight", {32, 1}, 8, 32}}, std::string(66, '\x01'));
}

core::Result<std::shared_ptr<GgufFile>> ParseBytes(const std::string& bytes) {
  auto owner = std::make_shared<std::string>(bytes);
  return GgufFile::Parse(*owner, "test.gguf", owner);
}

TEST(GgufFile, ReadsAWellFormedFile) {
  auto file = ParseBytes(GoodFile());
  ASSERT_TRUE(file.ok()) << file.status().ToString();
  EXPECT_EQ((*file)->version(), 3u);
  EXPECT_EQ((*file)->GetString("general.architecture").value(), "llama");
  EXPECT_EQ((*file)->GetInt("llama.context_length").value(), 128);
  const GgufValue* tokens = (*file)->Find("tokenizer.ggml.tokens");
  ASSERT_NE(tokens, nullptr);
  EXPECT_EQ(tokens->strings, (std::vector<std::string_view>{"<s>", "</s>", "a"}));
  const GgufValue* scores = (*file)->Find("tokenizer.ggml.scores");
  ASSERT_NE(scores, nullptr);
  EXPECT_FLOAT_EQ(scores->FloatAt(2), -2.5f);
  ASSERT_EQ((*file)->tensors().size(), 2u);
  const GgufTensor* b = (*file)->FindTensor("b.weight");
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(b->type, GgmlType::kQ8_0);
  EXPECT_EQ(b->bytes, 34u);
  EXPECT_EQ(b->data - (*file)->FindTensor("a.weight")->data, 32);
  EXPECT_EQ((*file)->data_offset() % 32, 0u);
  EXPECT_EQ((*file)->GetString("llama.context_length").status().code(), core::StatusCode::kInvalidArgument);
  EXPECT_EQ((*file)->GetInt("nope").status().code(), core::StatusCode::kNotFound);
}

struct BadCase {
  std::string name;
  std::string bytes;
  std::string message;  // a fragment of the one-line error
};

std::vector<BadCase> BadCases() {
  const std::string good = GoodFile();
  auto kv = [](std::function<void(Writer&)> f) { return f; };
  const uint64_t huge = uint64_t{1} << 63;
  std::vector<BadCase> cases = {
      {"empty file", "", "not a GGUF file"},
      {"bad magic", "GGUX" + good.substr(4), "not a GGUF file"},
      {"version 1", Gguf(0, kv([](Writer&) {}), {}, "", 1), "version 1 is not supported"},
      {"version 4", Gguf(0, kv([](Writer&) {}), {}, "", 4), "version 4 is not supported"},
      {"cut in the header", good.substr(0, 10), "cut off"},
  };
  {
    Writer w;
    w.Raw("GGUF").Put<uint32_t>(3).Put<uint64_t>(huge).Put<uint64_t>(0);
    cases.push_back({"tensor count 2^63", w.bytes(), "tensor count"});
    Writer v;
    v.Raw("GGUF").Put<uint32_t>(3).Put<uint64_t>(UINT64_MAX).Put<uint64_t>(0);
    cases.push_back({"tensor count 2^64-1", v.bytes(), "tensor count"});
    Writer m;
    m.Raw("GGUF").Put<uint32_t>(3).Put<uint64_t>(0).Put<uint64_t>(uint64_t{1} << 40);
    cases.push_back({"metadata count huge", m.bytes(), "metadata count"});
  }
  cases.push_back({"key length beyond the file",
                   Gguf(1, kv([](Writer& w) { w.Put<uint64_t>(UINT64_MAX); }), {}, std::string(64, '\0')),
                   "claims 18446744073709551615 bytes"});
  cases.push_back({"empty key", Gguf(1, kv([](Writer& w) { w.String("").Put<uint32_t>(4).Put<uint32_t>(1); }), {}, ""),
                   "is empty"});
  cases.push_back({"duplicate key",
                   Gguf(2, kv([](Writer& w) {
                          w.String("k").Put<uint32_t>(4).Put<uint32_t>(1);
                          w.String("k").Put<uint32_t>(4).Put<uint32_t>(2);
                        }),
                        {}, ""),
                   "appears twice"});
  cases.push_back({"invalid value type", Gguf(1, kv([](Writer& w) { w.String("k").Put<uint32_t>(13); }), {}, ""),
                   "unknown value type 13"});
  cases.push_back({"array of arrays",
                   Gguf(1, kv([](Writer& w) {
                          w.String("k").Put<uint32_t>(9);
                          for (int i = 0; i < 1000; ++i) w.Put<uint32_t>(9).Put<uint64_t>(1);
                        }),
                        {}, ""),
                   "array of arrays"});
  cases.push_back({"string length beyond the file",
                   Gguf(1, kv([](Writer& w) { w.String("k").Put<uint32_t>(8).Put<uint64_t>(1000); }), {}, ""),
                   "claims 1000 bytes"});
  cases.push_back(
      {"array count 2^62",
       Gguf(1, kv([](Writer& w) { w.String("k").Put<uint32_t>(9).Put<uint32_t>(6).Put<uint64_t>(uint64_t{1} << 62); }),
            {}, ""),
       "claims 4611686018427387904 elements"});
  cases.push_back(
      {"string array count 2^62",
       Gguf(1, kv([](Writer& w) { w.String("k").Put<uint32_t>(9).Put<uint32_t>(8).Put<uint64_t>(uint64_t{1} << 62); }),
            {}, ""),
       "strings, more than the file can hold"});
  cases.push_back({"bool of value 2",
                   Gguf(1, kv([](Writer& w) { w.String("k").Put<uint32_t>(7).Put<uint8_t>(2); }), {}, ""),
                   "bool of value 2"});
  auto alignment = [&](std::function<void(Writer&)> value) {
    return Gguf(1, kv([value](Writer& w) {
                  w.String("general.alignment");
                  value(w);
                }),
                {{"a", {4}, 0, 0}}, std::string(16, '\0'));
  };
  cases.push_back(
      {"alignment 0", alignment([](Writer& w) { w.Put<uint32_t>(4).Put<uint32_t>(0); }), "not a power of two"});
  cases.push_back(
      {"alignment 48", alignment([](Writer& w) { w.Put<uint32_t>(4).Put<uint32_t>(48); }), "not a power of two"});
  cases.push_back(
      {"alignment as a uint64", alignment([](Writer& w) { w.Put<uint32_t>(10).Put<uint64_t>(32); }), "not a uint32"});
  auto one_tensor = [&](Tensor t, std::string data = std::string(64, '\0')) {
    return Gguf(0, kv([](Writer&) {}), {t}, data);
  };
  cases.push_back({"five dims", one_tensor({"t", {1, 1, 1, 1, 1}, 0, 0}), "5 dimensions"});
  cases.push_back({"zero dims", one_tensor({"t", {}, 0, 0}), "0 dimensions"});
  cases.push_back({"a dim of 0", one_tensor({"t", {4, 0}, 0, 0}), "dimension 1 of 0"});
  cases.push_back({"a negative dim", one_tensor({"t", {uint64_t(-4)}, 0, 0}), "dimension 0 of -4"});
  cases.push_back(
      {"dims whose product overflows", one_tensor({"t", {uint64_t{1} << 32, uint64_t{1} << 32}, 0, 0}), "overflow"});
  cases.push_back({"invalid tensor type", one_tensor({"t", {4}, 99, 0}), "tensor type 99"});
  cases.push_back({"removed tensor type Q4_2", one_tensor({"t", {32}, 4, 0}), "tensor type 4"});
  cases.push_back({"row not a multiple of the block", one_tensor({"t", {33}, 8, 0}), "not a multiple of its block"});
  cases.push_back({"offset UINT64_MAX", one_tensor({"t", {4}, 0, UINT64_MAX}), "not a multiple of the alignment"});
  cases.push_back({"offset past the file", one_tensor({"t", {4}, 0, 1 << 20}), "goes past the end"});
  cases.push_back({"misaligned offset", one_tensor({"t", {4}, 0, 4}), "not a multiple of the alignment"});
  cases.push_back({"overlapping tensors",
                   Gguf(0, kv([](Writer&) {}), {{"a", {16}, 0, 0}, {"b", {16}, 0, 32}}, std::string(96, '\0')),
                   "overlap"});
  cases.push_back({"duplicate tensor names",
                   Gguf(0, kv([](Writer&) {}), {{"a", {4}, 0, 0}, {"a", {4}, 0, 32}}, std::string(64, '\0')),
                   "appears twice"});
  cases.push_back({"name longer than allowed", one_tensor({std::string(65, 'n'), {4}, 0, 0}), "more than the 64"});
  cases.push_back(
      {"data section one byte short", one_tensor({"t", {16}, 0, 0}, std::string(63, '\0')), "goes past the end"});
  return cases;
}

TEST(GgufFile, MalformedFilesAreClearErrors) {
  const auto cases = BadCases();
  EXPECT_GE(cases.size(), 25u);
  for (const auto& c : cases) {
    auto file = ParseBytes(c.bytes);
    ASSERT_FALSE(file.ok()) << c.name;
    EXPECT_EQ(file.status().code(), core::StatusCode::kInvalidArgument) << c.name;
    const std::string& message = file.status().message();
    EXPECT_NE(message.find(c.message), std::string::npos) << c.name << ": " << message;
    EXPECT_EQ(message.find('\n'), std::string::npos) << c.name;
    EXPECT_EQ(message.rfind("test.gguf: ", 0), 0u) << c.name << ": " << message;
    if (getenv("BERTH_PRINT_ERRORS")) printf("%-36s %s\n", c.name.c_str(), message.c_str());
  }
}

TEST(GgufFile, EveryTruncationOfAGoodFileIsAnError) {
  const std::string good = GoodFile();
  for (size_t size = 0; size + 1 < good.size(); ++size) {
    auto file = ParseBytes(good.substr(0, size));
    EXPECT_FALSE(file.ok()) << "truncated to " << size;
  }
}

}  // namespace
}  // namespace berth::llm
