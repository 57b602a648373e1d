// berth tokenize MODEL.gguf [TEXT] [--file F] [--lines] ...
// berth detokenize MODEL.gguf [ID...] [--file F] [--lines] ...
//
// The token ids a text becomes with the model's vocabulary (as a prompt:
// BOS where the vocabulary adds it, special-token texts as plain text),
// one per line; and the text ids stand for. --lines treats each line of the
// input separately (one line of ids per line of text, or one line of text
// per line of ids), for comparing many cases with another tokenizer;
// --unescape / escaped output let such lines hold newlines.
#include <charconv>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iterator>

#include "cli/command.h"
#include "llm/gguf/gguf_file.h"
#include "llm/tokenizer/tokenizer.h"
#include "llm/tokenizer/vocabulary.h"

namespace berth::cli {
namespace {

struct TokenizeArguments {
  std::string model;
  std::vector<std::string> inputs;  // TEXT, or the ids for detokenize
  std::string file;
  bool lines = false;
  bool unescape = false;
  bool no_special = false;
  bool parse_special = false;
  bool special = false;
  bool pieces = false;
  bool stats = false;
  bool dump_vocabulary = false;
};

core::Result<std::unique_ptr<llm::Tokenizer>> LoadTokenizer(const std::string& path) {
  ASSIGN_OR_RETURN(std::shared_ptr<llm::GgufFile> file, llm::GgufFile::Open(path));
  ASSIGN_OR_RETURN(llm::Vocabulary vocab, llm::LoadVocabulary(*file));
  auto tokenizer = llm::Tokenizer::Create(vocab);
  if (!tokenizer.ok()) return tokenizer.status().WithContext(path);
  return tokenizer;
}

core::Result<std::string> ReadInput(const TokenizeArguments& args) {
  if (args.file.empty()) {
    std::string text;
    for (size_t i = 0; i < args.inputs.size(); ++i) text += (i ? " " : "") + args.inputs[i];
    return text;
  }
  if (!args.inputs.empty()) return core::InvalidArgument("give the input as arguments or as --file, not both");
  std::ifstream in(args.file, std::ios::binary);
  if (!in) return core::NotFound("cannot read {}", args.file);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

std::vector<std::string_view> SplitLines(std::string_view text) {
  std::vector<std::string_view> lines;
  while (!text.empty()) {
    const size_t end = text.find('\n');
    lines.push_back(text.substr(0, end));
    text.remove_prefix(end == std::string_view::npos ? text.size() : end + 1);
  }
  return lines;
}

// \n \r \t \\ and \xNN; any other backslash stays as it is.
std::string Unescape(std::string_view line) {
  std::string out;
  for (size_t i = 0; i < line.size(); ++i) {
    if (line[i] != '\\' || i + 1 == line.size()) {
      out.push_back(line[i]);
      continue;
    }
    const char c = line[i + 1];
    auto hex = [](char h) { return h >= '0' && h <= '9' ? h - '0' : h >= 'a' && h <= 'f' ? h - 'a' + 10 : -1; };
    if (c == 'n' || c == 'r' || c == 't' || c == '\\') {
      out.push_back(c == 'n' ? '\n' : c == 'r' ? '\r' : c == 't' ? '\t' : '\\');
      ++i;
    } else if (c == 'x' && i + 3 < line.size() && hex(line[i + 2]) >= 0 && hex(line[i + 3]) >= 0) {
      out.push_back(static_cast<char>(hex(line[i + 2]) * 16 + hex(line[i + 3])));
      i += 3;
    } else {
      out.push_back('\\');
    }
  }
  return out;
}

// The inverse: a text on one line (bytes from 0x80 up are left as they are).
std::string Escape(std::string_view text) {
  std::string out;
  for (char c : text) {
    const auto b = static_cast<uint8_t>(c);
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\r') {
      out += "\\r";
    } else if (c == '\t') {
      out += "\\t";
    } else if (b < 0x20 || b == 0x7F) {
      out += fmt::format("\\x{:02x}", b);
    } else {
      out.push_back(c);
    }
  }
  return out;
}

void Write(std::string_view text) { std::fwrite(text.data(), 1, text.size(), stdout); }

// What berth makes of the vocabulary: the special ids, then per token its
// attributes (TokenAttr bits) and its text as Decode gives it (escaped).
void DumpVocabulary(const llm::Tokenizer& t) {
  std::string out = fmt::format("bos {} eos {} eot {} adds_bos {} adds_eos {} eog", t.bos(), t.eos(), t.eot(),
                                int{t.adds_bos()}, int{t.adds_eos()});
  for (int32_t id : t.end_of_generation()) out += " " + std::to_string(id);
  out += '\n';
  for (int32_t id = 0; id < t.size(); ++id) {
    out += fmt::format("{} {} {}\n", id, t.Attributes(id), Escape(t.Decode({id}, true)));
  }
  Write(out);
}

core::Status Tokenize(const TokenizeArguments& args) {
  const auto start = std::chrono::steady_clock::now();
  ASSIGN_OR_RETURN(auto tokenizer, LoadTokenizer(args.model));
  if (args.dump_vocabulary) {
    DumpVocabulary(*tokenizer);
    return core::Status::Ok();
  }
  const auto loaded = std::chrono::steady_clock::now();
  ASSIGN_OR_RETURN(std::string input, ReadInput(args));
  const bool add_special = !args.no_special;
  std::string out;
  size_t token_count = 0;
  std::chrono::steady_clock::duration encoding{};
  auto encode = [&](const std::string& text) {
    const auto before = std::chrono::steady_clock::now();
    std::vector<int32_t> ids = tokenizer->Encode(text, add_special, args.parse_special);
    encoding += std::chrono::steady_clock::now() - before;
    token_count += ids.size();
    return ids;
  };
  if (args.lines) {
    for (std::string_view line : SplitLines(input)) {
      const std::vector<int32_t> ids = encode(args.unescape ? Unescape(line) : std::string(line));
      for (size_t i = 0; i < ids.size(); ++i) {
        out += (i ? " " : "") + std::to_string(ids[i]);
        if (args.pieces) out += "/" + Escape(tokenizer->TokenPiece(ids[i], true));
      }
      out += '\n';
    }
  } else {
    for (int32_t id : encode(args.unescape ? Unescape(input) : input)) {
      out += std::to_string(id);
      if (args.pieces) out += "\t" + Escape(tokenizer->TokenPiece(id, true));
      out += '\n';
    }
  }
  Write(out);
  if (args.stats) {
    const double load_ms = std::chrono::duration<double, std::milli>(loaded - start).count();
    const double ms = std::chrono::duration<double, std::milli>(encoding).count();
    std::fprintf(stderr,
                 "berth: vocabulary of %d tokens loaded in %.1f ms; %zu bytes -> %zu tokens in %.1f ms (%.1f MB/s)\n",
                 tokenizer->size(), load_ms, input.size(), token_count, ms, ms > 0 ? input.size() / ms / 1000 : 0.0);
  }
  return core::Status::Ok();
}

core::Result<std::vector<int32_t>> ParseIds(std::string_view text) {
  std::vector<int32_t> ids;
  size_t i = 0;
  while (i < text.size()) {
    if (text[i] == ' ' || text[i] == '\t' || text[i] == '\r' || text[i] == '\n' || text[i] == ',') {
      ++i;
      continue;
    }
    size_t end = i;
    while (end < text.size() && text[end] != ' ' && text[end] != '\t' && text[end] != '\r' && text[end] != '\n' &&
           text[end] != ',') {
      ++end;
    }
    const std::string word(text.substr(i, end - i));
    int32_t id = 0;
    auto [ptr, error] = std::from_chars(word.data(), word.data() + word.size(), id);
    if (error != std::errc() || ptr != word.data() + word.size()) {
      return core::InvalidArgument("'{}' is not a token id", word);
    }
    ids.push_back(id);
    i = end;
  }
  return ids;
}

core::Status Detokenize(const TokenizeArguments& args) {
  ASSIGN_OR_RETURN(auto tokenizer, LoadTokenizer(args.model));
  ASSIGN_OR_RETURN(std::string input, ReadInput(args));
  if (args.lines) {
    std::string out;
    for (std::string_view line : SplitLines(input)) {
      ASSIGN_OR_RETURN(std::vector<int32_t> ids, ParseIds(line));
      out += Escape(tokenizer->Decode(ids, args.special)) + "\n";
    }
    Write(out);
    return core::Status::Ok();
  }
  ASSIGN_OR_RETURN(std::vector<int32_t> ids, ParseIds(input));
  for (int32_t id : ids) {
    if (id < 0 || id >= tokenizer->size()) {
      return core::InvalidArgument("token id {} is outside the vocabulary of {} tokens", id, tokenizer->size());
    }
  }
  Write(tokenizer->Decode(ids, args.special));
  return core::Status::Ok();
}

}  // namespace

void AddTokenizeCommand(CLI::App& app, int* exit_code) {
  auto args = std::make_shared<TokenizeArguments>();
  CLI::App* cmd = app.add_subcommand("tokenize", "Print the token ids a text becomes as a prompt, one per line");
  cmd->add_option("model", args->model, "GGUF model or vocabulary file")->required();
  cmd->add_option("text", args->inputs, "the text (or --file)");
  cmd->add_option("--file", args->file, "read the text from this file (its bytes as they are)");
  cmd->add_flag("--lines", args->lines, "tokenize each line on its own; print one line of ids per line");
  cmd->add_flag("--unescape", args->unescape, "decode \\n \\r \\t \\\\ \\xNN in the text first");
  cmd->add_flag("--no-special", args->no_special, "no BOS/EOS even where the vocabulary adds them");
  cmd->add_flag("--parse-special", args->parse_special, "special-token texts in the text are those tokens");
  cmd->add_flag("--pieces", args->pieces, "print each token's text after its id");
  cmd->add_flag("--stats", args->stats, "print load and tokenization times to stderr");
  cmd->add_flag("--dump-vocabulary", args->dump_vocabulary,
                "print the special ids, then each token's attributes and text, instead");
  cmd->callback([args, exit_code] {
    if (auto status = Tokenize(*args); !status.ok()) *exit_code = ReportError(status);
  });
}

void AddDetokenizeCommand(CLI::App& app, int* exit_code) {
  auto args = std::make_shared<TokenizeArguments>();
  CLI::App* cmd = app.add_subcommand("detokenize", "Print the text token ids stand for");
  cmd->add_option("model", args->model, "GGUF model or vocabulary file")->required();
  cmd->add_option("ids", args->inputs, "token ids (or --file)");
  cmd->add_option("--file", args->file, "read the ids from this file");
  cmd->add_flag("--lines", args->lines, "decode each line of ids on its own; print each text escaped on one line");
  cmd->add_flag("--special", args->special, "render control tokens as their text");
  cmd->callback([args, exit_code] {
    if (auto status = Detokenize(*args); !status.ok()) *exit_code = ReportError(status);
  });
}

}  // namespace berth::cli
