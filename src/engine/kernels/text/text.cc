// Text ops: StringNormalizer (stop-word removal and case change) and
// TfIdfVectorizer (n-gram counts over int or string tokens).
#include <algorithm>
#include <locale>
#include <unordered_map>
#include <unordered_set>

#include "engine/kernels/builtin_kernels.h"
#include "engine/kernels/common/kernel_util.h"
#include "engine/ops/op_registry.h"

namespace berth::engine {
namespace {

using core::DataType;
using core::Result;
using core::Status;
using core::Tensor;

// ---------------------------------------------------------------------------
// UTF-8 <-> code points.

// Decodes `text`; false on malformed UTF-8 (overlong forms, surrogates and
// values past U+10FFFF included).
bool DecodeUtf8(std::string_view text, std::u32string* out) {
  out->clear();
  size_t i = 0;
  while (i < text.size()) {
    const unsigned char lead = static_cast<unsigned char>(text[i]);
    char32_t code = 0;
    size_t length = 0;
    if (lead < 0x80) {
      code = lead;
      length = 1;
    } else if ((lead & 0xE0) == 0xC0) {
      code = lead & 0x1F;
      length = 2;
    } else if ((lead & 0xF0) == 0xE0) {
      code = lead & 0x0F;
      length = 3;
    } else if ((lead & 0xF8) == 0xF0) {
      code = lead & 0x07;
      length = 4;
    } else {
      return false;
    }
    if (i + length > text.size()) return false;
    for (size_t k = 1; k < length; ++k) {
      const unsigned char next = static_cast<unsigned char>(text[i + k]);
      if ((next & 0xC0) != 0x80) return false;
      code = (code << 6) | (next & 0x3F);
    }
    static constexpr char32_t kMinimum[] = {0, 0, 0x80, 0x800, 0x10000};
    if (code < kMinimum[length] || code > 0x10FFFF || (code >= 0xD800 && code <= 0xDFFF)) return false;
    out->push_back(code);
    i += length;
  }
  return true;
}

void EncodeUtf8(const std::u32string& codes, std::string* out) {
  out->clear();
  for (char32_t code : codes) {
    if (code < 0x80) {
      out->push_back(static_cast<char>(code));
    } else if (code < 0x800) {
      out->push_back(static_cast<char>(0xC0 | (code >> 6)));
      out->push_back(static_cast<char>(0x80 | (code & 0x3F)));
    } else if (code < 0x10000) {
      out->push_back(static_cast<char>(0xE0 | (code >> 12)));
      out->push_back(static_cast<char>(0x80 | ((code >> 6) & 0x3F)));
      out->push_back(static_cast<char>(0x80 | (code & 0x3F)));
    } else {
      out->push_back(static_cast<char>(0xF0 | (code >> 18)));
      out->push_back(static_cast<char>(0x80 | ((code >> 12) & 0x3F)));
      out->push_back(static_cast<char>(0x80 | ((code >> 6) & 0x3F)));
      out->push_back(static_cast<char>(0x80 | (code & 0x3F)));
    }
  }
}

// ---------------------------------------------------------------------------
// StringNormalizer

enum class CaseChange { kNone, kLower, kUpper };

// Case mapping through a std::locale's ctype<wchar_t> facet (const members
// of a facet are safe to call from several threads). The locale named by the
// model is tried first; machines often lack it (containers ship only C.UTF-8),
// so a generic UTF-8 locale is the fallback, and plain ASCII mapping the last
// resort.
class CaseMapper {
 public:
  explicit CaseMapper(const std::string& name) {
    const std::string candidates[] = {name, name + ".UTF-8", name + ".utf8", "C.UTF-8", "C.utf8"};
    for (const auto& candidate : candidates) {
      if (candidate.empty()) continue;
      try {
        locale_ = std::locale(candidate.c_str());
        facet_ = &std::use_facet<std::ctype<wchar_t>>(locale_);
        return;
      } catch (const std::exception&) {
        // Not installed here: try the next one.
      }
    }
  }

  char32_t Map(char32_t code, CaseChange change) const {
    if (change == CaseChange::kNone) return code;
    if (facet_) {
      const wchar_t wide = static_cast<wchar_t>(code);
      return static_cast<char32_t>(change == CaseChange::kUpper ? facet_->toupper(wide) : facet_->tolower(wide));
    }
    if (change == CaseChange::kUpper && code >= U'a' && code <= U'z') return code - 32;
    if (change == CaseChange::kLower && code >= U'A' && code <= U'Z') return code + 32;
    return code;
  }

  // Maps every character of UTF-8 `text`; error on malformed UTF-8.
  Result<std::string> Convert(const std::string& text, CaseChange change) const {
    if (change == CaseChange::kNone) return text;
    bool ascii = std::all_of(text.begin(), text.end(), [](char c) { return static_cast<unsigned char>(c) < 0x80; });
    if (ascii) {  // the common case, without the round trip through code points
      std::string out = text;
      for (char& c : out) c = static_cast<char>(Map(static_cast<unsigned char>(c), change));
      return out;
    }
    std::u32string codes;
    if (!DecodeUtf8(text, &codes)) return core::InvalidArgument("string is not valid UTF-8");
    for (char32_t& code : codes) code = Map(code, change);
    std::string out;
    EncodeUtf8(codes, &out);
    return out;
  }

 private:
  std::locale locale_;
  const std::ctype<wchar_t>* facet_ = nullptr;
};

class StringNormalizerKernel : public Kernel {
 public:
  StringNormalizerKernel(CaseChange change, bool case_sensitive, std::vector<std::string> stopwords,
                         const std::string& locale)
      : change_(change), case_sensitive_(case_sensitive), mapper_(locale) {
    // Case-insensitive matching compares upper-cased forms.
    for (auto& word : stopwords) {
      if (case_sensitive_) {
        stopwords_.insert(std::move(word));
      } else {
        auto upper = mapper_.Convert(word, CaseChange::kUpper);
        stopwords_.insert(upper.ok() ? std::move(upper).value() : word);
      }
    }
  }

  Status Compute(KernelContext& context) const override {
    ASSIGN_OR_RETURN(const Tensor* x, RequireTensor(context, 0, "X"));
    if (x->dtype() != DataType::kString) {
      return core::InvalidArgument("X must be a string tensor, got {}", core::DataTypeName(x->dtype()));
    }
    const bool two_dim = x->rank() == 2;
    if (!(x->rank() == 1 || (two_dim && x->dim(0) == 1))) {
      return core::InvalidArgument("X must have shape [C] or [1, C], got {}", core::ShapeToString(x->shape()));
    }
    const std::string* in = x->data<std::string>();
    std::vector<std::string> kept;
    kept.reserve(static_cast<size_t>(x->element_count()));
    for (int64_t i = 0; i < x->element_count(); ++i) {
      if (!stopwords_.empty()) {
        bool stop = false;
        if (case_sensitive_) {
          stop = stopwords_.count(in[i]) != 0;
        } else {
          auto upper = mapper_.Convert(in[i], CaseChange::kUpper);
          if (!upper.ok()) return upper.status().WithContext(fmt::format("X[{}]", i));
          stop = stopwords_.count(*upper) != 0;
        }
        if (stop) continue;
      }
      auto converted = mapper_.Convert(in[i], change_);
      if (!converted.ok()) return converted.status().WithContext(fmt::format("X[{}]", i));
      kept.push_back(std::move(converted).value());
    }
    // Everything dropped: the spec asks for one empty string, not an empty tensor.
    if (kept.empty()) kept.emplace_back();
    const int64_t count = static_cast<int64_t>(kept.size());
    core::TensorShape shape = two_dim ? core::TensorShape{1, count} : core::TensorShape{count};
    ASSIGN_OR_RETURN(Tensor * out, context.AllocateOutput(0, DataType::kString, shape));
    std::string* po = out->data<std::string>();
    for (int64_t i = 0; i < count; ++i) po[i] = std::move(kept[i]);
    return Status::Ok();
  }

 private:
  CaseChange change_;
  bool case_sensitive_;
  CaseMapper mapper_;
  std::unordered_set<std::string> stopwords_;
};

Result<std::unique_ptr<Kernel>> CreateStringNormalizer(KernelBuildContext& build) {
  const Node& node = build.node();
  std::string action = node.GetString("case_change_action", "NONE");
  CaseChange change;
  if (action == "NONE") {
    change = CaseChange::kNone;
  } else if (action == "LOWER") {
    change = CaseChange::kLower;
  } else if (action == "UPPER") {
    change = CaseChange::kUpper;
  } else {
    return core::InvalidArgument("case_change_action '{}' is not one of NONE, LOWER, UPPER", action);
  }
  const bool case_sensitive = node.GetInt("is_case_sensitive", 0) != 0;
  return std::unique_ptr<Kernel>(std::make_unique<StringNormalizerKernel>(
      change, case_sensitive, node.GetStrings("stopwords"), node.GetString("locale", "en_US")));
}

// [C] -> [C'] and [1, C] -> [1, C']. C' is unknown when stop words may drop
// elements; without stop words it is C (or 1 for an empty input).
Status InferStringNormalizer(InferenceContext& context) {
  const ValueType& x = context.input_type(0);
  if (!x.is_tensor() || !x.has_shape || (x.dims.size() != 1 && x.dims.size() != 2)) {
    SetUnknownShape(context, 0, DataType::kString);
    return Status::Ok();
  }
  Dimension last;
  const Dimension& c = x.dims.back();
  if (context.node().GetStrings("stopwords").empty() && c.known()) last.value = std::max<int64_t>(c.value, 1);
  std::vector<Dimension> dims;
  if (x.dims.size() == 2) dims.push_back(Dimension{1, ""});
  dims.push_back(last);
  context.set_output_type(0, ValueType::Tensor(DataType::kString, dims));
  return Status::Ok();
}

// ---------------------------------------------------------------------------
// TfIdfVectorizer

enum class Weighting { kTF, kIDF, kTFIDF };

// The pool of n-grams as a trie keyed by token; a node's `id` is 1 + the
// index of the pool n-gram that ends there (0: no n-gram ends there).
template <typename Key>
struct NgramTrie {
  struct TrieNode {
    std::unordered_map<Key, int32_t> children;
    int32_t id = 0;
  };
  std::vector<TrieNode> nodes = std::vector<TrieNode>(1);  // node 0 is the root

  void Insert(const Key* tokens, int64_t length, int32_t id) {
    int32_t at = 0;
    for (int64_t i = 0; i < length; ++i) {
      auto it = nodes[at].children.find(tokens[i]);
      if (it == nodes[at].children.end()) {
        nodes.emplace_back();
        int32_t next = static_cast<int32_t>(nodes.size() - 1);
        nodes[at].children.emplace(tokens[i], next);
        at = next;
      } else {
        at = it->second;
      }
    }
    nodes[at].id = id;
  }

  // Child of `at` for `token`, or -1.
  int32_t Step(int32_t at, const Key& token) const {
    auto it = nodes[at].children.find(token);
    return it == nodes[at].children.end() ? -1 : it->second;
  }
};

struct TfIdfConfig {
  int64_t min_gram = 1;
  int64_t max_gram = 1;
  int64_t max_skip = 0;
  Weighting weighting = Weighting::kTF;
  std::vector<int64_t> ngram_indexes;  // output column of pool n-gram i
  std::vector<float> weights;          // per pool n-gram; empty = all ones
  int64_t output_size = 0;
};

template <typename Key>
class TfIdfVectorizerKernel : public Kernel {
 public:
  TfIdfVectorizerKernel(TfIdfConfig config, NgramTrie<Key> trie) : config_(std::move(config)), trie_(std::move(trie)) {}

  Status Compute(KernelContext& context) const override {
    ASSIGN_OR_RETURN(const Tensor* x, RequireTensor(context, 0, "X"));
    if constexpr (std::is_same_v<Key, std::string>) {
      if (x->dtype() != DataType::kString) {
        return core::InvalidArgument("X must be a string tensor (the pool is pool_strings), got {}",
                                     core::DataTypeName(x->dtype()));
      }
      return Run(context, *x, x->data<std::string>());
    } else {
      if (x->dtype() == DataType::kInt64) return Run(context, *x, x->data<int64_t>());
      if (x->dtype() == DataType::kInt32) return Run(context, *x, x->data<int32_t>());
      return core::InvalidArgument("X must be int32 or int64 (the pool is pool_int64s), got {}",
                                   core::DataTypeName(x->dtype()));
    }
  }

 private:
  template <typename Token>
  Status Run(KernelContext& context, const Tensor& x, const Token* tokens) const {
    if (x.rank() != 1 && x.rank() != 2) {
      return core::InvalidArgument("X must have rank 1 or 2, got shape {}", core::ShapeToString(x.shape()));
    }
    const int64_t rows = x.rank() == 2 ? x.dim(0) : 1;
    const int64_t length = x.rank() == 2 ? x.dim(1) : x.dim(0);
    core::TensorShape shape =
        x.rank() == 2 ? core::TensorShape{rows, config_.output_size} : core::TensorShape{config_.output_size};
    ASSIGN_OR_RETURN(Tensor * out, context.AllocateOutput(0, DataType::kFloat32, shape));
    float* po = out->data<float>();
    std::fill(po, po + out->element_count(), 0.0f);
    const size_t pool_size = config_.ngram_indexes.size();
    core::ParallelFor(rows, std::max<int64_t>(1, 4096 / std::max<int64_t>(length, 1)), [&](int64_t begin, int64_t end) {
      std::vector<uint32_t> counts(pool_size);
      for (int64_t row = begin; row < end; ++row) {
        std::fill(counts.begin(), counts.end(), 0u);
        CountRow(tokens + row * length, length, counts.data());
        float* out_row = po + row * config_.output_size;
        for (size_t i = 0; i < pool_size; ++i) {
          if (counts[i] == 0) continue;
          const float weight = config_.weights.empty() ? 1.0f : config_.weights[i];
          float value = static_cast<float>(counts[i]);
          if (config_.weighting == Weighting::kIDF) value = weight;
          if (config_.weighting == Weighting::kTFIDF) value *= weight;
          out_row[config_.ngram_indexes[i]] += value;
        }
      }
    });
    return Status::Ok();
  }

  // Counts the pool n-grams in one row. For each skip s in [0, max_skip] an
  // n-gram takes every (s+1)-th token from its start; unigrams do not depend
  // on the skip, so they are only counted in the s = 0 pass.
  template <typename Token>
  void CountRow(const Token* row, int64_t length, uint32_t* counts) const {
    int64_t smallest = config_.min_gram;
    for (int64_t distance = 1; distance <= config_.max_skip + 1; ++distance) {
      for (int64_t start = 0; start < length; ++start) {
        // Too close to the end for even the shortest wanted n-gram.
        if (start + distance * (smallest - 1) >= length) break;
        int32_t at = 0;
        int64_t position = start;
        for (int64_t size = 1; size <= config_.max_gram && position < length; ++size, position += distance) {
          int32_t next;
          if constexpr (std::is_same_v<Key, std::string>) {
            next = trie_.Step(at, row[position]);
          } else {
            next = trie_.Step(at, static_cast<int64_t>(row[position]));
          }
          if (next < 0) break;
          at = next;
          const int32_t id = trie_.nodes[at].id;
          if (size >= smallest && id != 0) ++counts[id - 1];
        }
      }
      if (smallest == 1) {
        smallest = 2;
        if (smallest > config_.max_gram) break;
      }
    }
  }

  TfIdfConfig config_;
  NgramTrie<Key> trie_;
};

// Builds the trie from a pool laid out as ngram_counts describes: pool
// entries [ngram_counts[k], ngram_counts[k+1]) hold the (k+1)-grams.
template <typename Key>
Result<NgramTrie<Key>> BuildTrie(const std::vector<Key>& pool, const std::vector<int64_t>& ngram_counts,
                                 const TfIdfConfig& config) {
  NgramTrie<Key> trie;
  const int64_t pool_size = static_cast<int64_t>(pool.size());
  int32_t id = 0;
  for (size_t level = 0; level < ngram_counts.size(); ++level) {
    const int64_t begin = ngram_counts[level];
    const int64_t end = level + 1 < ngram_counts.size() ? ngram_counts[level + 1] : pool_size;
    const int64_t size = static_cast<int64_t>(level) + 1;
    if (begin < 0 || end < begin || end > pool_size) {
      return core::InvalidArgument("ngram_counts {} gives an invalid range [{}, {}) for a pool of {}", level, begin,
                                   end, pool_size);
    }
    if ((end - begin) % size != 0) {
      return core::InvalidArgument("pool entries [{}, {}) do not form whole {}-grams", begin, end, size);
    }
    for (int64_t at = begin; at < end; at += size) {
      ++id;
      if (id > static_cast<int64_t>(config.ngram_indexes.size())) {
        return core::InvalidArgument("the pool holds more n-grams than ngram_indexes has entries ({})",
                                     config.ngram_indexes.size());
      }
      // n-grams outside [min_gram, max_gram] can never be counted.
      if (size >= config.min_gram && size <= config.max_gram) trie.Insert(pool.data() + at, size, id);
    }
  }
  if (id != static_cast<int64_t>(config.ngram_indexes.size())) {
    return core::InvalidArgument("the pool holds {} n-grams but ngram_indexes has {} entries", id,
                                 config.ngram_indexes.size());
  }
  return trie;
}

Result<TfIdfConfig> ParseTfIdfConfig(const Node& node) {
  TfIdfConfig config;
  config.min_gram = node.GetInt("min_gram_length", 0);
  config.max_gram = node.GetInt("max_gram_length", 0);
  config.max_skip = node.GetInt("max_skip_count", 0);
  if (config.min_gram < 1 || config.max_gram < config.min_gram) {
    return core::InvalidArgument("need 1 <= min_gram_length ({}) <= max_gram_length ({})", config.min_gram,
                                 config.max_gram);
  }
  if (config.max_skip < 0) return core::InvalidArgument("max_skip_count {} is negative", config.max_skip);
  std::string mode = node.GetString("mode", "");
  if (mode == "TF") {
    config.weighting = Weighting::kTF;
  } else if (mode == "IDF") {
    config.weighting = Weighting::kIDF;
  } else if (mode == "TFIDF") {
    config.weighting = Weighting::kTFIDF;
  } else {
    return core::InvalidArgument("mode '{}' is not one of TF, IDF, TFIDF", mode);
  }
  config.ngram_indexes = node.GetInts("ngram_indexes");
  if (config.ngram_indexes.empty()) return core::InvalidArgument("ngram_indexes must not be empty");
  for (int64_t index : config.ngram_indexes) {
    if (index < 0 || index >= core::kMaxTensorBytes / 4) {
      return core::InvalidArgument("ngram_indexes value {} is out of range", index);
    }
    config.output_size = std::max(config.output_size, index + 1);
  }
  config.weights = node.GetFloats("weights");
  if (!config.weights.empty() && config.weights.size() != config.ngram_indexes.size()) {
    return core::InvalidArgument("weights has {} entries, ngram_indexes {}", config.weights.size(),
                                 config.ngram_indexes.size());
  }
  return config;
}

Result<std::unique_ptr<Kernel>> CreateTfIdfVectorizer(KernelBuildContext& build) {
  const Node& node = build.node();
  ASSIGN_OR_RETURN(TfIdfConfig config, ParseTfIdfConfig(node));
  const bool has_strings = node.HasAttribute("pool_strings");
  const bool has_ints = node.HasAttribute("pool_int64s");
  if (has_strings == has_ints) return core::InvalidArgument("exactly one of pool_strings and pool_int64s must be set");
  const std::vector<int64_t> ngram_counts = node.GetInts("ngram_counts");
  if (has_strings) {
    ASSIGN_OR_RETURN(NgramTrie<std::string> trie, BuildTrie(node.GetStrings("pool_strings"), ngram_counts, config));
    return std::unique_ptr<Kernel>(
        std::make_unique<TfIdfVectorizerKernel<std::string>>(std::move(config), std::move(trie)));
  }
  ASSIGN_OR_RETURN(NgramTrie<int64_t> trie, BuildTrie(node.GetInts("pool_int64s"), ngram_counts, config));
  return std::unique_ptr<Kernel>(std::make_unique<TfIdfVectorizerKernel<int64_t>>(std::move(config), std::move(trie)));
}

// [C] -> [max(ngram_indexes) + 1]; [N, C] -> [N, max(ngram_indexes) + 1].
Status InferTfIdfVectorizer(InferenceContext& context) {
  const ValueType& x = context.input_type(0);
  int64_t output_size = -1;
  for (int64_t index : context.node().GetInts("ngram_indexes")) output_size = std::max(output_size, index + 1);
  if (!x.is_tensor() || !x.has_shape || (x.dims.size() != 1 && x.dims.size() != 2)) {
    SetUnknownShape(context, 0, DataType::kFloat32);
    return Status::Ok();
  }
  std::vector<Dimension> dims;
  if (x.dims.size() == 2) dims.push_back(x.dims[0]);
  dims.push_back(Dimension{output_size, ""});
  context.set_output_type(0, ValueType::Tensor(DataType::kFloat32, dims));
  return Status::Ok();
}

}  // namespace

void RegisterTextKernels(OpRegistry& registry) {
  registry.Register("", "StringNormalizer", {10}, InferStringNormalizer, CreateStringNormalizer);
  registry.Register("", "TfIdfVectorizer", {9}, InferTfIdfVectorizer, CreateTfIdfVectorizer);
}

}  // namespace berth::engine
