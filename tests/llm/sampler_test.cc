// Sampling: each step's effect on what can be drawn, reproducibility by
// seed, the log-probabilities reported, and stop strings found across the
// pieces text streams in.
#include "llm/sampling/sampler.h"

#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <set>
#include <vector>

#include "llm/sampling/stop_strings.h"

namespace berth::llm {
namespace {

const std::vector<float> kLogits = {1.0f, 3.0f, 2.5f, -1.0f, 0.0f, 2.9f};

SamplingParams Plain(float temperature) {
  SamplingParams params;
  params.temperature = temperature;
  params.top_k = 0;
  params.top_p = 1.0f;
  params.min_p = 0.0f;
  params.seed = 42;
  return params;
}

TEST(Sampler, GreedyTakesTheLargestLogitAndBiasCanBanIt) {
  Sampler greedy(Plain(0));
  EXPECT_EQ(greedy.Sample(kLogits, {}).token, 1);
  SamplingParams banned = Plain(0);
  banned.logit_bias[1] = -INFINITY;
  EXPECT_EQ(Sampler(banned).Sample(kLogits, {}).token, 5);
  SamplingParams boosted = Plain(0);
  boosted.logit_bias[3] = 5.0f;
  EXPECT_EQ(Sampler(boosted).Sample(kLogits, {}).token, 3);
}

TEST(Sampler, AnAllowedMaskLeavesOnlyItsTokensAndTheModelsLogProbabilities) {
  const std::vector<uint64_t> allowed = {(1u << 0) | (1u << 3)};  // tokens 0 and 3
  Sampler greedy(Plain(0));
  SampledToken token = greedy.Sample(kLogits, {}, allowed);
  EXPECT_EQ(token.token, 0);
  EXPECT_LT(token.logprob, Sampler(Plain(0)).Sample(kLogits, {}).logprob);  // the model's, not renormalised
  Sampler hot(Plain(100));
  for (int i = 0; i < 200; ++i) {
    const int32_t drawn = hot.Sample(kLogits, {}, allowed).token;
    EXPECT_TRUE(drawn == 0 || drawn == 3) << drawn;
  }
}

TEST(Sampler, DrawsFollowTheSoftmaxAtTemperatureOne) {
  Sampler sampler(Plain(1.0f));
  std::vector<int> counts(kLogits.size());
  const int draws = 40000;
  for (int i = 0; i < draws; ++i) ++counts[static_cast<size_t>(sampler.Sample(kLogits, {}).token)];
  double total = 0;
  for (float l : kLogits) total += std::exp(l);
  for (size_t i = 0; i < kLogits.size(); ++i) {
    EXPECT_NEAR(counts[i] / static_cast<double>(draws), std::exp(kLogits[i]) / total, 0.01) << "token " << i;
  }
}

TEST(Sampler, TheSameSeedGivesTheSameTokens) {
  auto run = [](uint64_t seed) {
    SamplingParams params = Plain(1.5f);
    params.seed = seed;
    Sampler sampler(params);
    std::vector<int32_t> tokens;
    for (int i = 0; i < 200; ++i) tokens.push_back(sampler.Sample(kLogits, {}).token);
    return tokens;
  };
  EXPECT_EQ(run(7), run(7));
  EXPECT_NE(run(7), run(8));
}

TEST(Sampler, TopKTopPAndMinPLimitWhatCanBeDrawn) {
  auto drawn = [](SamplingParams params) {
    Sampler sampler(params);
    std::set<int32_t> seen;
    for (int i = 0; i < 3000; ++i) seen.insert(sampler.Sample(kLogits, {}).token);
    return seen;
  };
  SamplingParams k = Plain(2.0f);
  k.top_k = 2;
  EXPECT_EQ(drawn(k), (std::set<int32_t>{1, 5}));
  k.top_k = 1;
  EXPECT_EQ(drawn(k), (std::set<int32_t>{1}));
  // Probabilities at temperature 1: 0.38, 0.34, 0.23, 0.05, ... so top-p 0.7
  // keeps the first two and top-p 0.75 three.
  SamplingParams p = Plain(1.0f);
  p.top_p = 0.7f;
  EXPECT_EQ(drawn(p), (std::set<int32_t>{1, 5}));
  p.top_p = 0.75f;
  EXPECT_EQ(drawn(p), (std::set<int32_t>{1, 5, 2}));
  // min-p 0.5: exp(2.5 - 3) = 0.61 stays, exp(1 - 3) = 0.14 goes.
  SamplingParams m = Plain(1.0f);
  m.min_p = 0.5f;
  EXPECT_EQ(drawn(m), (std::set<int32_t>{1, 5, 2}));
}

TEST(Sampler, PenaltiesLowerTokensSeenInTheWindow) {
  SamplingParams params = Plain(0);
  params.repeat_penalty = 2.0f;  // 3.0 -> 1.5, below 2.9 and 2.5
  std::vector<int32_t> history = {1, 4};
  EXPECT_EQ(Sampler(params).Sample(kLogits, history).token, 5);
  params.penalty_last_n = 1;  // only token 4 is in the window
  EXPECT_EQ(Sampler(params).Sample(kLogits, history).token, 1);
  SamplingParams presence = Plain(0);
  presence.presence_penalty = 0.2f;  // 3.0 -> 2.8 < 2.9
  EXPECT_EQ(Sampler(presence).Sample(kLogits, std::vector<int32_t>{1}).token, 5);
  SamplingParams frequency = Plain(0);
  frequency.frequency_penalty = 0.06f;  // twice: 3.0 -> 2.88 < 2.9; once: 2.94
  EXPECT_EQ(Sampler(frequency).Sample(kLogits, std::vector<int32_t>{1, 1}).token, 5);
  EXPECT_EQ(Sampler(frequency).Sample(kLogits, std::vector<int32_t>{1}).token, 1);
}

TEST(Sampler, ReportsTheModelsLogProbabilities) {
  SamplingParams params = Plain(0);
  params.top_logprobs = 3;
  params.logit_bias[3] = 10.0f;  // changes the choice, not the reported probabilities
  SampledToken sampled = Sampler(params).Sample(kLogits, {});
  double total = 0;
  for (float l : kLogits) total += std::exp(l);
  EXPECT_EQ(sampled.token, 3);
  EXPECT_NEAR(sampled.logprob, -1.0 - std::log(total), 1e-5);
  ASSERT_EQ(sampled.top.size(), 3u);
  EXPECT_EQ(sampled.top[0].token, 1);
  EXPECT_EQ(sampled.top[1].token, 5);
  EXPECT_EQ(sampled.top[2].token, 2);
  EXPECT_NEAR(sampled.top[0].logprob, 3.0 - std::log(total), 1e-5);
}

// Without logprobs the token is the same (greedy and seeded draws) and
// nothing is reported.
TEST(Sampler, LogprobsOffChoosesAlikeAndReportsNothing) {
  for (float temperature : {0.0f, 0.9f}) {
    SamplingParams with = Plain(temperature);
    with.seed = 7;
    with.top_logprobs = 3;
    SamplingParams without = with;
    without.logprobs = false;
    Sampler a(with), b(without);
    for (int i = 0; i < 20; ++i) {
      const SampledToken x = a.Sample(kLogits, {}), y = b.Sample(kLogits, {});
      EXPECT_EQ(x.token, y.token) << "temperature " << temperature << " draw " << i;
      EXPECT_EQ(y.logprob, 0.0f);
      EXPECT_TRUE(y.top.empty());
      EXPECT_LT(x.logprob, 0.0f);
      EXPECT_EQ(x.top.size(), 3u);
    }
  }
}

TEST(Sampler, ValidateNamesTheFieldOutOfRange) {
  SamplingParams params;
  EXPECT_TRUE(params.Validate(10).ok());
  params.temperature = -1;
  EXPECT_NE(params.Validate(10).message().find("temperature"), std::string::npos);
  params = {};
  params.top_p = 0;
  EXPECT_NE(params.Validate(10).message().find("top_p"), std::string::npos);
  params = {};
  params.logit_bias[10] = 1;
  EXPECT_NE(params.Validate(10).message().find("token 10"), std::string::npos);
  params = {};
  params.top_logprobs = 21;
  EXPECT_FALSE(params.Validate(10).ok());
  params = {};
  params.min_p = NAN;
  EXPECT_FALSE(params.Validate(10).ok());
}

TEST(StopStrings, HoldsBackWhatCouldStartAStopAndCutsAtTheFirst) {
  StopStrings stops({"\n\n", "END"});
  EXPECT_EQ(stops.Push("Hello E"), "Hello ");
  EXPECT_EQ(stops.Push("N"), "");
  EXPECT_EQ(stops.Push("X world\n"), "ENX world");
  EXPECT_FALSE(stops.stopped());
  EXPECT_EQ(stops.Push("\nmore"), "");
  EXPECT_TRUE(stops.stopped());
  EXPECT_EQ(stops.matched(), "\n\n");
  EXPECT_EQ(stops.Push("after"), "");
  EXPECT_EQ(stops.Flush(), "");

  StopStrings open({"stop"});
  EXPECT_EQ(open.Push("a st"), "a ");
  EXPECT_EQ(open.Flush(), "st");

  StopStrings earliest({"cd", "b"});
  EXPECT_EQ(earliest.Push("abcd"), "a");
  EXPECT_EQ(earliest.matched(), "b");

  StopStrings none({});
  EXPECT_EQ(none.Push("text"), "text");
}

}  // namespace
}  // namespace berth::llm
