// Block dequantization against llama.cpp's own Python reference
// (gguf-py's quants.py): golden blocks and values made by
// scripts/make_dequant_golden.py, committed in tests/data/llm/dequant.
#include "llm/gguf/dequantize.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "core/npy_file.h"

namespace berth::llm {
namespace {

struct Case {
  const char* name;
  GgmlType type;
};

class DequantizeGolden : public ::testing::TestWithParam<Case> {};

TEST_P(DequantizeGolden, MatchesLlamaCppBitForBit) {
  const Case& c = GetParam();
  const std::string dir = std::string(BERTH_TEST_DATA_DIR) + "/llm/dequant/";
  auto blocks = core::ReadNpyFile(dir + c.name + ".blocks.npy");
  auto values = core::ReadNpyFile(dir + c.name + ".values.npy");
  ASSERT_TRUE(blocks.ok()) << blocks.status().ToString();
  ASSERT_TRUE(values.ok()) << values.status().ToString();
  const int64_t count = values->element_count();
  std::vector<float> out(static_cast<size_t>(count), -1.0f);
  ASSERT_TRUE(Dequantize(c.type, blocks->raw_data(), count, out.data()).ok());
  const float* expected = values->data<float>();
  int mismatches = 0;
  for (int64_t i = 0; i < count; ++i) {
    if (out[i] != expected[i] && mismatches++ < 5) {
      ADD_FAILURE() << c.name << " value " << i << ": " << out[i] << " vs llama.cpp's " << expected[i];
    }
  }
  EXPECT_EQ(mismatches, 0) << c.name;
}

INSTANTIATE_TEST_SUITE_P(Types, DequantizeGolden,
                         ::testing::Values(Case{"F16", GgmlType::kF16}, Case{"BF16", GgmlType::kBF16},
                                           Case{"Q8_0", GgmlType::kQ8_0}, Case{"Q4_0", GgmlType::kQ4_0},
                                           Case{"Q4_K", GgmlType::kQ4_K}, Case{"Q5_K", GgmlType::kQ5_K},
                                           Case{"Q6_K", GgmlType::kQ6_K}, Case{"Q4_1", GgmlType::kQ4_1},
                                           Case{"Q5_0", GgmlType::kQ5_0}, Case{"Q5_1", GgmlType::kQ5_1}),
                         [](const auto& info) { return std::string(info.param.name); });

TEST(Dequantize, RefusesPartialBlocksAndUnsupportedTypes) {
  std::vector<uint8_t> block(34, 0);
  std::vector<float> out(64);
  EXPECT_EQ(Dequantize(GgmlType::kQ8_0, block.data(), 31, out.data()).code(), core::StatusCode::kInvalidArgument);
  EXPECT_EQ(Dequantize(GgmlType::kQ2_K, block.data(), 256, out.data()).code(), core::StatusCode::kUnimplemented);
}

}  // namespace
}  // namespace berth::llm
