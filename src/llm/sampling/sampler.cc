#include "llm/sampling/sampler.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <unordered_map>

namespace berth::llm {

core::Status SamplingParams::Validate(int64_t n_vocab) const {
  if (!std::isfinite(temperature) || temperature < 0 || temperature > 100) {
    return core::InvalidArgument("temperature {} is outside [0, 100]", temperature);
  }
  if (!(top_p > 0 && top_p <= 1)) return core::InvalidArgument("top_p {} is outside (0, 1]", top_p);
  if (!(min_p >= 0 && min_p <= 1)) return core::InvalidArgument("min_p {} is outside [0, 1]", min_p);
  if (!(repeat_penalty > 0 && repeat_penalty <= 100)) {
    return core::InvalidArgument("repetition penalty {} is outside (0, 100]", repeat_penalty);
  }
  if (!(frequency_penalty >= -2 && frequency_penalty <= 2)) {
    return core::InvalidArgument("frequency_penalty {} is outside [-2, 2]", frequency_penalty);
  }
  if (!(presence_penalty >= -2 && presence_penalty <= 2)) {
    return core::InvalidArgument("presence_penalty {} is outside [-2, 2]", presence_penalty);
  }
  if (penalty_last_n < -1) return core::InvalidArgument("penalty window {} is below -1", penalty_last_n);
  if (top_logprobs < 0 || top_logprobs > 20) {
    return core::InvalidArgument("top_logprobs {} is outside [0, 20]", top_logprobs);
  }
  for (const auto& [token, bias] : logit_bias) {
    if (token < 0 || token >= n_vocab) {
      return core::InvalidArgument("logit_bias names token {}, outside the vocabulary [0, {})", token, n_vocab);
    }
    if (std::isnan(bias) || bias == INFINITY) return core::InvalidArgument("logit_bias of token {} is {}", token, bias);
  }
  return core::Status::Ok();
}

Sampler::Sampler(SamplingParams params) : params_(std::move(params)) {
  seed_ = params_.seed ? *params_.seed : std::random_device{}();
  random_.seed(seed_);
}

int32_t Sampler::Draw() {
  const auto n = static_cast<int32_t>(work_.size());
  // Candidates sorted by logit, best first (only as many as top-k needs).
  candidates_.resize(static_cast<size_t>(n));
  std::iota(candidates_.begin(), candidates_.end(), 0);
  auto better = [&](int32_t a, int32_t b) { return work_[a] > work_[b] || (work_[a] == work_[b] && a < b); };
  size_t keep = candidates_.size();
  if (params_.top_k > 0) keep = std::min(keep, static_cast<size_t>(params_.top_k));
  std::partial_sort(candidates_.begin(), candidates_.begin() + static_cast<std::ptrdiff_t>(keep), candidates_.end(),
                    better);
  const float best = work_[candidates_[0]];
  if (!std::isfinite(best)) return candidates_[0];  // every token banned: take the first
  // Probabilities at temperature 1 for top-p and min-p, as llama.cpp.
  std::vector<double>& probability = probability_;
  probability.resize(keep);
  double sum = 0;
  for (size_t i = 0; i < keep; ++i) sum += probability[i] = std::exp(static_cast<double>(work_[candidates_[i]] - best));
  for (double& p : probability) p /= sum;
  if (params_.top_p < 1.0f) {
    double cumulative = 0;
    for (size_t i = 0; i < keep; ++i) {
      cumulative += probability[i];
      if (cumulative >= params_.top_p) {
        keep = i + 1;
        break;
      }
    }
  }
  if (params_.min_p > 0.0f) {
    const double floor = probability[0] * params_.min_p;
    size_t cut = 1;
    while (cut < keep && probability[cut] >= floor) ++cut;
    keep = cut;
  }
  // Temperature, then a draw.
  double weight_sum = 0;
  for (size_t i = 0; i < keep; ++i) {
    weight_sum += probability[i] =
        std::exp(static_cast<double>(work_[candidates_[i]] - best) / static_cast<double>(params_.temperature));
  }
  const double u = std::uniform_real_distribution<double>(0.0, 1.0)(random_) * weight_sum;
  double cumulative = 0;
  for (size_t i = 0; i < keep; ++i) {
    cumulative += probability[i];
    if (u < cumulative) return candidates_[i];
  }
  while (keep > 1 && probability[keep - 1] == 0) --keep;  // never a banned token by rounding
  return candidates_[keep - 1];
}

SampledToken Sampler::Sample(std::span<const float> logits, std::span<const int32_t> history,
                             std::span<const uint64_t> allowed) {
  const auto n = static_cast<int32_t>(logits.size());
  SampledToken result;

  // The model's log-probabilities, for the report.
  float log_total = 0;
  if (params_.logprobs) {
    float max_logit = -INFINITY;
    for (float value : logits) max_logit = std::max(max_logit, value);
    double total = 0;
    for (float value : logits) total += std::exp(static_cast<double>(value - max_logit));
    log_total = static_cast<float>(std::log(total)) + max_logit;
  }

  work_.assign(logits.begin(), logits.end());
  for (const auto& [token, bias] : params_.logit_bias) work_[static_cast<size_t>(token)] += bias;
  if (!allowed.empty()) {
    for (size_t i = 0; i < work_.size(); ++i) {
      if (i / 64 >= allowed.size() || !((allowed[i / 64] >> (i % 64)) & 1)) work_[i] = -INFINITY;
    }
  }

  const bool penalise =
      params_.repeat_penalty != 1.0f || params_.frequency_penalty != 0.0f || params_.presence_penalty != 0.0f;
  if (penalise && params_.penalty_last_n != 0 && !history.empty()) {
    size_t window = params_.penalty_last_n < 0 ? history.size()
                                               : std::min(history.size(), static_cast<size_t>(params_.penalty_last_n));
    std::unordered_map<int32_t, int32_t> counts;
    for (int32_t token : history.subspan(history.size() - window)) {
      if (token >= 0 && token < n) ++counts[token];
    }
    for (const auto& [token, count] : counts) {
      float& value = work_[static_cast<size_t>(token)];
      value = value > 0 ? value / params_.repeat_penalty : value * params_.repeat_penalty;
      value -= static_cast<float>(count) * params_.frequency_penalty + params_.presence_penalty;
    }
  }

  if (params_.temperature <= 0) {
    result.token = static_cast<int32_t>(std::max_element(work_.begin(), work_.end()) - work_.begin());
  } else {
    result.token = Draw();
  }

  if (!params_.logprobs) return result;
  result.logprob = logits[static_cast<size_t>(result.token)] - log_total;
  if (params_.top_logprobs > 0) {
    const auto count = static_cast<size_t>(std::min(params_.top_logprobs, n));
    std::vector<int32_t> order(static_cast<size_t>(n));
    std::iota(order.begin(), order.end(), 0);
    std::partial_sort(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(count), order.end(),
                      [&](int32_t a, int32_t b) { return logits[a] > logits[b] || (logits[a] == logits[b] && a < b); });
    for (size_t i = 0; i < count; ++i)
      result.top.push_back({order[i], logits[static_cast<size_t>(order[i])] - log_total});
  }
  return result;
}

}  // namespace berth::llm
