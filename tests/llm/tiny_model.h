// Tiny random language models of each architecture, built in memory for the
// engine's tests, with a plain double-precision forward pass as the
// reference the engine is checked against.
#pragma once

#include <cmath>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "core/float16.h"
#include "gguf_writer.h"
#include "llm/gguf/gguf_file.h"
#include "llm/model/language_model.h"

namespace berth::llm {
namespace testing {

struct TinySpec {
  std::string arch = "llama";
  int64_t vocab = 40, embd = 32, layers = 2, heads = 4, kv_heads = 2, ff = 48, context = 64;
  float eps = 1e-5f;
  float freq_base = 10000.0f;
  bool tied = false;
  uint32_t seed = 7;
  // GGUF type of the matrices (token_embd included). 0: F32 from the values
  // below; F16/BF16: those values rounded; a block type: random blocks of
  // the same magnitude (no quantizer here; ReferenceLogits does not apply).
  uint32_t matrix_type = 0;
};

struct TinyModel {
  TinySpec spec;
  // Tensor values, row-major: a matrix of GGUF dims [cols, rows] is rows x cols.
  std::map<std::string, std::vector<float>> tensors;
  std::map<std::string, std::vector<int64_t>> dims;
};

inline bool NeoxRope(const std::string& arch) { return arch != "llama"; }

inline TinyModel MakeTinyModel(const TinySpec& spec) {
  TinyModel m;
  m.spec = spec;
  std::mt19937 random(spec.seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  const int64_t head_dim = spec.embd / spec.heads, kv = spec.kv_heads * head_dim;
  auto add = [&](const std::string& name, std::vector<int64_t> dims, float scale, float offset = 0.0f) {
    int64_t count = 1;
    for (int64_t d : dims) count *= d;
    std::vector<float> values(static_cast<size_t>(count));
    for (float& v : values) v = offset + scale * normal(random);
    m.tensors[name] = std::move(values);
    m.dims[name] = std::move(dims);
  };
  add("token_embd.weight", {spec.embd, spec.vocab}, 0.5f);
  add("output_norm.weight", {spec.embd}, 0.1f, 1.0f);
  if (!spec.tied) add("output.weight", {spec.embd, spec.vocab}, 0.3f);
  for (int64_t l = 0; l < spec.layers; ++l) {
    auto name = [l](const char* what) { return "blk." + std::to_string(l) + "." + what; };
    add(name("attn_norm.weight"), {spec.embd}, 0.1f, 1.0f);
    add(name("attn_q.weight"), {spec.embd, spec.embd}, 0.3f);
    add(name("attn_k.weight"), {spec.embd, kv}, 0.3f);
    add(name("attn_v.weight"), {spec.embd, kv}, 0.3f);
    add(name("attn_output.weight"), {spec.embd, spec.embd}, 0.3f);
    if (spec.arch == "qwen2") {
      add(name("attn_q.bias"), {spec.embd}, 0.2f);
      add(name("attn_k.bias"), {kv}, 0.2f);
      add(name("attn_v.bias"), {kv}, 0.2f);
    }
    if (spec.arch == "qwen3") {
      add(name("attn_q_norm.weight"), {head_dim}, 0.1f, 1.0f);
      add(name("attn_k_norm.weight"), {head_dim}, 0.1f, 1.0f);
    }
    add(name("ffn_norm.weight"), {spec.embd}, 0.1f, 1.0f);
    add(name("ffn_gate.weight"), {spec.embd, spec.ff}, 0.3f);
    add(name("ffn_up.weight"), {spec.embd, spec.ff}, 0.3f);
    add(name("ffn_down.weight"), {spec.ff, spec.embd}, 0.3f);
  }
  return m;
}

// `values` (rows x cols) as `type`: F16/BF16 rounded, block types random
// blocks whose values stay within a few times |values|' scale (0.3).
inline std::string EncodeMatrix(uint32_t type, const std::vector<float>& values, uint32_t seed) {
  std::string out;
  if (type == 1 || type == 30) {  // F16, BF16
    for (float v : values) {
      const uint16_t h = type == 1 ? core::Float16::FromFloat(v) : core::BFloat16::FromFloat(v);
      out.append(reinterpret_cast<const char*>(&h), 2);
    }
    return out;
  }
  const GgmlTypeTraits traits = *TraitsOf(type);
  std::mt19937 random(seed);
  std::uniform_real_distribution<float> unit(0.5f, 1.5f);
  out.resize(values.size() / traits.block_size * traits.type_size);
  auto half = [&](size_t at, float scale, bool signed_scale) {
    const float v = scale * unit(random) * (signed_scale && random() % 2 ? -1.0f : 1.0f);
    const uint16_t h = core::Float16::FromFloat(v);
    std::memcpy(out.data() + at, &h, 2);
  };
  for (size_t b = 0; b < out.size(); b += traits.type_size) {
    for (size_t i = 0; i < traits.type_size; ++i) out[b + i] = static_cast<char>(random());
    switch (type) {
      case 8:  // Q8_0: d * q, q in [-128, 127]
        half(b, 0.005f, true);
        break;
      case 2:  // Q4_0: d * (q - 8)
      case 6:  // Q5_0: d * (q - 16)
        half(b, type == 2 ? 0.06f : 0.03f, true);
        break;
      case 3:  // Q4_1, Q5_1: d * q + m
      case 7:
        half(b, 0.02f, false);
        half(b + 2, -0.3f, false);
        break;
      case 12:  // Q4_K, Q5_K: d * scale * q - dmin * min, 6-bit scales and mins
      case 13:
        half(b, 0.0008f, false);
        half(b + 2, 0.0008f, false);
        break;
      case 14:  // Q6_K: d * scale * (q - 32), int8 scales; d at byte 208
        half(b + 208, 0.0001f, true);
        break;
    }
  }
  return out;
}

// The model as a GGUF file with F32 tensors (matrices of spec.matrix_type). `edit` may change metadata and
// tensors before writing (the bad-file tests).
inline std::string WriteTinyModel(const TinyModel& m, const std::function<void(std::vector<Kv>&)>& edit_kvs = {},
                                  const std::function<void(std::vector<Tensor>&)>& edit_tensors = {}) {
  const TinySpec& s = m.spec;
  const std::string a = s.arch;
  std::vector<std::string> tokens;
  std::vector<int32_t> types;
  std::vector<float> scores;
  for (int64_t i = 0; i < s.vocab; ++i) {
    tokens.push_back(i == 0 ? "<unk>" : i == 1 ? "<s>" : i == 2 ? "</s>" : "t" + std::to_string(i));
    types.push_back(i == 0 ? 2 : i < 3 ? 3 : 1);
    scores.push_back(-static_cast<float>(i));
  }
  std::vector<Kv> kvs = {
      Str("general.architecture", a),
      U32(a + ".context_length", static_cast<uint32_t>(s.context)),
      U32(a + ".embedding_length", static_cast<uint32_t>(s.embd)),
      U32(a + ".block_count", static_cast<uint32_t>(s.layers)),
      U32(a + ".feed_forward_length", static_cast<uint32_t>(s.ff)),
      U32(a + ".attention.head_count", static_cast<uint32_t>(s.heads)),
      U32(a + ".attention.head_count_kv", static_cast<uint32_t>(s.kv_heads)),
      F32(a + ".attention.layer_norm_rms_epsilon", s.eps),
      F32(a + ".rope.freq_base", s.freq_base),
      Str("tokenizer.ggml.model", "llama"),
      Strings("tokenizer.ggml.tokens", tokens),
      Floats("tokenizer.ggml.scores", scores),
      Ints("tokenizer.ggml.token_type", types),
      U32("tokenizer.ggml.bos_token_id", 1),
      U32("tokenizer.ggml.eos_token_id", 2),
  };
  if (edit_kvs) edit_kvs(kvs);
  std::vector<Tensor> infos;
  std::string data;
  for (const auto& [name, values] : m.tensors) {
    Tensor info;
    info.name = name;
    for (int64_t d : m.dims.at(name)) info.dims.push_back(static_cast<uint64_t>(d));
    info.type = 0;
    info.offset = data.size();
    if (s.matrix_type != 0 && info.dims.size() == 2) {
      info.type = s.matrix_type;
      data.append(EncodeMatrix(s.matrix_type, values, s.seed + static_cast<uint32_t>(data.size())));
    } else {
      data.append(reinterpret_cast<const char*>(values.data()), values.size() * sizeof(float));
    }
    infos.push_back(info);
    while (data.size() % 32) data.push_back('\0');
  }
  if (edit_tensors) edit_tensors(infos);
  return Gguf(kvs, infos, data);
}

// A model from GGUF bytes in memory (which it keeps).
inline core::Result<std::shared_ptr<const LanguageModel>> LoadFromBytes(const std::string& bytes) {
  auto owner = std::make_shared<std::string>(bytes);
  ASSIGN_OR_RETURN(std::shared_ptr<GgufFile> file, GgufFile::Parse(*owner, "tiny.gguf", owner));
  return LanguageModel::FromFile(std::move(file));
}

// The reference forward pass in double: logits of every position of
// `tokens` (row-major, tokens.size() x vocab).
inline std::vector<double> ReferenceLogits(const TinyModel& m, const std::vector<int32_t>& tokens) {
  const TinySpec& s = m.spec;
  const int64_t n = static_cast<int64_t>(tokens.size()), E = s.embd, hd = s.embd / s.heads;
  const int64_t kvd = s.kv_heads * hd, group = s.heads / s.kv_heads;
  auto T = [&](const std::string& name) -> const std::vector<float>& { return m.tensors.at(name); };
  auto has = [&](const std::string& name) { return m.tensors.count(name) > 0; };
  auto matvec = [](const std::vector<float>& w, int64_t rows, int64_t cols, const std::vector<double>& x) {
    std::vector<double> y(static_cast<size_t>(rows));
    for (int64_t r = 0; r < rows; ++r) {
      double sum = 0;
      for (int64_t c = 0; c < cols; ++c) sum += static_cast<double>(w[r * cols + c]) * x[c];
      y[r] = sum;
    }
    return y;
  };
  auto rmsnorm = [](const std::vector<double>& x, const float* w, double eps) {
    double sum = 0;
    for (double v : x) sum += v * v;
    double scale = 1.0 / std::sqrt(sum / static_cast<double>(x.size()) + eps);
    std::vector<double> y(x.size());
    for (size_t i = 0; i < x.size(); ++i) y[i] = x[i] * scale * (w ? w[i] : 1.0);
    return y;
  };
  auto rope = [&](double* head, int64_t pos) {
    for (int64_t i = 0; i < hd / 2; ++i) {
      double theta = static_cast<double>(pos) * std::pow(static_cast<double>(s.freq_base), -2.0 * i / hd);
      int64_t a = NeoxRope(s.arch) ? i : 2 * i, b = NeoxRope(s.arch) ? i + hd / 2 : 2 * i + 1;
      double x0 = head[a], x1 = head[b];
      head[a] = x0 * std::cos(theta) - x1 * std::sin(theta);
      head[b] = x0 * std::sin(theta) + x1 * std::cos(theta);
    }
  };
  std::vector<std::vector<double>> x(static_cast<size_t>(n));
  for (int64_t t = 0; t < n; ++t) {
    const float* row = T("token_embd.weight").data() + tokens[t] * E;
    x[t].assign(row, row + E);
  }
  for (int64_t l = 0; l < s.layers; ++l) {
    auto name = [l](const char* what) { return "blk." + std::to_string(l) + "." + what; };
    std::vector<std::vector<double>> q(n), k(n), v(n);
    for (int64_t t = 0; t < n; ++t) {
      auto h = rmsnorm(x[t], T(name("attn_norm.weight")).data(), s.eps);
      q[t] = matvec(T(name("attn_q.weight")), E, E, h);
      k[t] = matvec(T(name("attn_k.weight")), kvd, E, h);
      v[t] = matvec(T(name("attn_v.weight")), kvd, E, h);
      if (has(name("attn_q.bias"))) {
        for (int64_t i = 0; i < E; ++i) q[t][i] += T(name("attn_q.bias"))[i];
        for (int64_t i = 0; i < kvd; ++i) k[t][i] += T(name("attn_k.bias"))[i];
        for (int64_t i = 0; i < kvd; ++i) v[t][i] += T(name("attn_v.bias"))[i];
      }
      for (int64_t h2 = 0; h2 < s.heads; ++h2) {
        if (has(name("attn_q_norm.weight"))) {
          std::vector<double> part(q[t].begin() + h2 * hd, q[t].begin() + (h2 + 1) * hd);
          part = rmsnorm(part, T(name("attn_q_norm.weight")).data(), s.eps);
          std::copy(part.begin(), part.end(), q[t].begin() + h2 * hd);
        }
        rope(q[t].data() + h2 * hd, t);
      }
      for (int64_t h2 = 0; h2 < s.kv_heads; ++h2) {
        if (has(name("attn_k_norm.weight"))) {
          std::vector<double> part(k[t].begin() + h2 * hd, k[t].begin() + (h2 + 1) * hd);
          part = rmsnorm(part, T(name("attn_k_norm.weight")).data(), s.eps);
          std::copy(part.begin(), part.end(), k[t].begin() + h2 * hd);
        }
        rope(k[t].data() + h2 * hd, t);
      }
    }
    for (int64_t t = 0; t < n; ++t) {
      std::vector<double> attn(static_cast<size_t>(E), 0.0);
      for (int64_t h2 = 0; h2 < s.heads; ++h2) {
        const int64_t kh = h2 / group;
        std::vector<double> score(static_cast<size_t>(t + 1));
        double max = -INFINITY, sum = 0;
        for (int64_t j = 0; j <= t; ++j) {
          double d = 0;
          for (int64_t i = 0; i < hd; ++i) d += q[t][h2 * hd + i] * k[j][kh * hd + i];
          score[j] = d / std::sqrt(static_cast<double>(hd));
          max = std::max(max, score[j]);
        }
        for (double& sc : score) sum += sc = std::exp(sc - max);
        for (int64_t j = 0; j <= t; ++j) {
          for (int64_t i = 0; i < hd; ++i) attn[h2 * hd + i] += score[j] / sum * v[j][kh * hd + i];
        }
      }
      auto o = matvec(T(name("attn_output.weight")), E, E, attn);
      for (int64_t i = 0; i < E; ++i) x[t][i] += o[i];
      auto h = rmsnorm(x[t], T(name("ffn_norm.weight")).data(), s.eps);
      auto g = matvec(T(name("ffn_gate.weight")), s.ff, E, h);
      auto u = matvec(T(name("ffn_up.weight")), s.ff, E, h);
      for (int64_t i = 0; i < s.ff; ++i) g[i] = g[i] / (1.0 + std::exp(-g[i])) * u[i];
      auto d = matvec(T(name("ffn_down.weight")), E, s.ff, g);
      for (int64_t i = 0; i < E; ++i) x[t][i] += d[i];
    }
  }
  std::vector<double> logits;
  const auto& out = s.tied ? T("token_embd.weight") : T("output.weight");
  for (int64_t t = 0; t < n; ++t) {
    auto h = rmsnorm(x[t], T("output_norm.weight").data(), s.eps);
    auto row = matvec(out, s.vocab, E, h);
    logits.insert(logits.end(), row.begin(), row.end());
  }
  return logits;
}

}  // namespace testing
}  // namespace berth::llm
