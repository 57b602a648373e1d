#include "fetch/model_fetcher.h"

#include <curl/curl.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <random>
#include <thread>

#include "core/logging.h"

namespace berth::fetch {
namespace fs = std::filesystem;
namespace {

constexpr std::string_view kDefaultManifestName = "manifest.sha256";
constexpr size_t kManifestLimitBytes = 4 << 20;
constexpr std::string_view kEmptyPayloadSha256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

std::string GetEnvironment(const char* name) {
  const char* value = std::getenv(name);
  return value ? std::string(value) : std::string();
}

bool StartsWith(std::string_view text, std::string_view prefix) { return text.substr(0, prefix.size()) == prefix; }

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) != std::tolower(static_cast<unsigned char>(b[i]))) return false;
  }
  return true;
}

bool IsHexDigest(std::string_view text) {
  return text.size() == 64 && std::all_of(text.begin(), text.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
         });
}

std::string ToLowerHex(std::string_view text) {
  std::string lower(text);
  for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return lower;
}

std::string ErrnoText(int error) { return std::strerror(error); }

// ---------------------------------------------------------------- locations

// Where one object lives: a plain URL, or an S3 bucket and key (turned into a
// URL and signed on every attempt, since a signature carries its time).
struct Location {
  std::string url;  // http(s)
  bool s3 = false;
  std::string bucket;
  std::string key;
  std::string Describe() const { return s3 ? "s3://" + bucket + "/" + key : url; }
};

struct Source {
  Location base;           // a directory source: its URL / key prefix, ending in '/' (or an empty S3 key)
  bool directory = false;  // otherwise a single file
  std::string file_name;   // single file: the name it is saved under
};

// Splits "scheme://authority/path?query".
struct UrlParts {
  std::string scheme;
  std::string authority;
  std::string path;  // "/..." (encoded, as given)
  std::string query;
};

core::Result<UrlParts> SplitUrl(std::string_view url) {
  size_t scheme_end = url.find("://");
  if (scheme_end == std::string_view::npos) return core::InvalidArgument("'{}' is not a URL", url);
  UrlParts parts;
  parts.scheme = ToLowerHex(url.substr(0, scheme_end));
  std::string_view rest = url.substr(scheme_end + 3);
  size_t fragment = rest.find('#');
  rest = rest.substr(0, fragment);
  size_t path_start = rest.find_first_of("/?");
  parts.authority = std::string(rest.substr(0, path_start));
  std::string_view path_and_query = path_start == std::string_view::npos ? "" : rest.substr(path_start);
  size_t question = path_and_query.find('?');
  parts.path = std::string(path_and_query.substr(0, question));
  if (question != std::string_view::npos) parts.query = std::string(path_and_query.substr(question + 1));
  if (parts.path.empty()) parts.path = "/";
  if (parts.authority.empty() && parts.scheme != "s3") return core::InvalidArgument("URL '{}' has no host", url);
  return parts;
}

// The decoded last path segment of a URL, checked as a file name.
core::Result<std::string> FileNameFromPath(std::string_view path, std::string_view source) {
  size_t slash = path.rfind('/');
  std::string name = UriDecode(path.substr(slash == std::string_view::npos ? 0 : slash + 1));
  if (name.empty() || name.find('/') != std::string::npos || name == "." || name == "..") {
    return core::InvalidArgument("cannot take a file name from '{}'; end a directory source with '/'", source);
  }
  ASSIGN_OR_RETURN(std::string safe, SafeRelativePath(name));
  return safe;
}

core::Result<Source> ParseSource(std::string_view text) {
  ASSIGN_OR_RETURN(UrlParts parts, SplitUrl(text));
  Source source;
  if (parts.scheme == "http" || parts.scheme == "https") {
    source.directory = parts.path.back() == '/' && parts.query.empty();
    if (source.directory) {
      source.base.url = std::string(text.substr(0, text.find('#')));
    } else {
      source.base.url = std::string(text.substr(0, text.find('#')));
      ASSIGN_OR_RETURN(source.file_name, FileNameFromPath(parts.path, text));
    }
    return source;
  }
  if (parts.scheme == "s3") {
    if (parts.authority.empty()) return core::InvalidArgument("'{}' names no bucket (s3://BUCKET/KEY)", text);
    source.base.s3 = true;
    source.base.bucket = parts.authority;
    std::string key = UriDecode(parts.path.substr(1));  // s3:// URLs are written unencoded; tolerate %XX
    if (!parts.query.empty()) key += "?" + parts.query;
    source.directory = key.empty() || key.back() == '/';
    source.base.key = key;
    if (!source.directory) {
      ASSIGN_OR_RETURN(source.file_name, FileNameFromPath(key, text));
    }
    return source;
  }
  return core::InvalidArgument("unsupported source '{}': use http://, https:// or s3://", text);
}

// A file below a directory source.
Location Child(const Location& directory, std::string_view relative_path) {
  Location child = directory;
  if (directory.s3) {
    child.key = directory.key + std::string(relative_path);
  } else {
    child.url = directory.url + UriEncode(relative_path, /*keep_slash=*/true);
  }
  return child;
}

// ------------------------------------------------------------------ hashing

class Sha256Stream {
 public:
  Sha256Stream() : context_(EVP_MD_CTX_new()) { EVP_DigestInit_ex(context_, EVP_sha256(), nullptr); }
  ~Sha256Stream() { EVP_MD_CTX_free(context_); }
  Sha256Stream(const Sha256Stream&) = delete;
  Sha256Stream& operator=(const Sha256Stream&) = delete;
  void Update(const void* data, size_t size) { EVP_DigestUpdate(context_, data, size); }
  std::string HexDigest() {
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int length = 0;
    EVP_DigestFinal_ex(context_, digest, &length);
    return HexEncode(std::string_view(reinterpret_cast<const char*>(digest), length));
  }

 private:
  EVP_MD_CTX* context_;
};

core::Result<std::string> HashFile(const fs::path& path) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) return core::Internal("cannot read '{}': {}", path.string(), ErrnoText(errno));
  Sha256Stream hash;
  std::vector<char> buffer(1 << 20);
  while (true) {
    ssize_t n = read(fd, buffer.data(), buffer.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int error = errno;
      close(fd);
      return core::Internal("cannot read '{}': {}", path.string(), ErrnoText(error));
    }
    if (n == 0) break;
    hash.Update(buffer.data(), static_cast<size_t>(n));
  }
  close(fd);
  return hash.HexDigest();
}

// ---------------------------------------------------------------- transfers

void InitCurlOnce() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

bool IsTransientCurlError(CURLcode code) {
  switch (code) {
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_COULDNT_CONNECT:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_PARTIAL_FILE:
    case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
    case CURLE_SSL_CONNECT_ERROR:
      return true;
    default:
      return false;
  }
}

bool IsTransientStatus(long status) { return status == 408 || status == 429 || status >= 500; }

// Where a response body goes: a file (at an offset) or memory.
struct TransferState {
  CURL* curl = nullptr;
  int fd = -1;
  std::string* memory = nullptr;
  size_t memory_limit = 0;
  uint64_t file_limit = UINT64_MAX;  // a file transfer's body may not grow past this offset
  uint64_t requested_offset = 0;     // Range start asked for (0: whole object)
  uint64_t write_offset = 0;         // where the next body byte goes
  uint64_t body_bytes = 0;           // bytes of the accepted body received in this attempt
  bool started = false;
  bool accepted = false;  // a 200/206 whose body we keep
  bool offset_mismatch = false;
  int write_errno = 0;
  bool too_large = false;
  std::string content_range;
  std::string error_body;  // start of a non-2xx body, for the message
};

size_t OnHeader(char* data, size_t size, size_t count, void* user) {
  auto* state = static_cast<TransferState*>(user);
  std::string_view line(data, size * count);
  if (StartsWith(line, "HTTP/")) state->content_range.clear();  // a new response (redirects)
  constexpr std::string_view kContentRange = "content-range:";
  if (line.size() > kContentRange.size() && EqualsIgnoreCase(line.substr(0, kContentRange.size()), kContentRange)) {
    std::string_view value = line.substr(kContentRange.size());
    while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
    while (!value.empty() && (value.back() == '\r' || value.back() == '\n' || value.back() == ' '))
      value.remove_suffix(1);
    state->content_range = std::string(value);
  }
  return size * count;
}

// "bytes START-END/TOTAL" -> START.
std::optional<uint64_t> ContentRangeStart(std::string_view value) {
  if (!StartsWith(value, "bytes ")) return std::nullopt;
  value.remove_prefix(6);
  uint64_t start = 0;
  size_t i = 0;
  for (; i < value.size() && value[i] >= '0' && value[i] <= '9'; ++i) {
    if (start > (UINT64_MAX - 9) / 10) return std::nullopt;
    start = start * 10 + static_cast<uint64_t>(value[i] - '0');
  }
  if (i == 0 || i >= value.size() || value[i] != '-') return std::nullopt;
  return start;
}

bool BeginBody(TransferState& state) {
  long status = 0;
  curl_easy_getinfo(state.curl, CURLINFO_RESPONSE_CODE, &status);
  if (status == 206 && state.requested_offset > 0) {
    auto start = ContentRangeStart(state.content_range);
    if (!start || *start != state.requested_offset) {
      state.offset_mismatch = true;
      return false;
    }
    state.write_offset = state.requested_offset;
    state.accepted = true;
  } else if (status == 200 || (status == 206 && state.requested_offset == 0)) {
    // Whole object (a server that ignores Range lands here too): start over.
    state.write_offset = 0;
    if (state.fd >= 0 && ftruncate(state.fd, 0) != 0) {
      state.write_errno = errno;
      return false;
    }
    if (state.memory) state.memory->clear();
    state.accepted = true;
  }
  return true;
}

size_t OnBody(char* data, size_t size, size_t count, void* user) {
  auto* state = static_cast<TransferState*>(user);
  const size_t bytes = size * count;
  if (!state->started) {
    state->started = true;
    if (!BeginBody(*state)) return 0;
  }
  if (!state->accepted) {
    if (state->error_body.size() < 512) state->error_body.append(data, std::min<size_t>(bytes, 512));
    return bytes;
  }
  if (state->memory) {
    if (state->memory->size() + bytes > state->memory_limit) {
      state->too_large = true;
      return 0;
    }
    state->memory->append(data, bytes);
  } else {
    if (state->write_offset + bytes > state->file_limit) {
      state->too_large = true;
      return 0;
    }
    size_t done = 0;
    while (done < bytes) {
      ssize_t n = pwrite(state->fd, data + done, bytes - done, static_cast<off_t>(state->write_offset + done));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        state->write_errno = n < 0 ? errno : EIO;
        return 0;
      }
      done += static_cast<size_t>(n);
    }
  }
  state->write_offset += bytes;
  state->body_bytes += bytes;
  return bytes;
}

enum class AttemptResult { kDone, kRetry, kRestart, kFatal };

struct AttemptOutcome {
  AttemptResult result = AttemptResult::kFatal;
  core::Status status;  // why, for kRetry / kRestart / kFatal
};

class Downloader {
 public:
  explicit Downloader(const FetchOptions& options) : options_(options) {
    InitCurlOnce();
    curl_ = curl_easy_init();
  }
  ~Downloader() {
    if (curl_) curl_easy_cleanup(curl_);
  }
  Downloader(const Downloader&) = delete;
  Downloader& operator=(const Downloader&) = delete;

  core::Result<std::string> FetchToMemory(const Location& location, size_t limit) {
    std::string body;
    TransferState state;
    state.memory = &body;
    state.memory_limit = limit;
    state.file_limit = limit;
    int attempts = 0;
    RETURN_IF_ERROR(RunWithRetries(location, state, &attempts, [] {}));
    return body;
  }

  // Downloads into `partial` (resuming what is there), at most `limit`
  // bytes, returning attempts.
  core::Result<int> FetchToFile(const Location& location, const fs::path& partial, uint64_t limit) {
    int fd = open(partial.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
    if (fd < 0) return core::Internal("cannot create '{}': {}", partial.string(), ErrnoText(errno));
    TransferState state;
    state.fd = fd;
    state.file_limit = limit;
    int attempts = 0;
    core::Status status = RunWithRetries(location, state, &attempts, [&] {
      // Resume from what the file holds (an earlier run, or the attempt before).
      struct stat info {};
      uint64_t size = fstat(fd, &info) == 0 ? static_cast<uint64_t>(info.st_size) : 0;
      state.requested_offset = size;
    });
    if (status.ok() && fsync(fd) != 0)
      status = core::Internal("cannot write '{}': {}", partial.string(), ErrnoText(errno));
    close(fd);
    if (!status.ok()) return status;
    return attempts;
  }

 private:
  template <typename BeforeAttempt>
  core::Status RunWithRetries(const Location& location, TransferState& state, int* attempts, BeforeAttempt before) {
    if (!curl_) return core::Internal("libcurl could not be initialised");
    double backoff = options_.initial_backoff_secs;
    core::Status last;
    const int max_attempts = std::max(1, options_.max_attempts);
    for (int attempt = 1; attempt <= max_attempts; ++attempt) {
      *attempts = attempt;
      RETURN_IF_ERROR(CheckDeadline(location));
      before();
      AttemptOutcome outcome = Attempt(location, state);
      if (outcome.result == AttemptResult::kDone) return core::Status::Ok();
      if (outcome.result == AttemptResult::kFatal) return outcome.status;
      last = outcome.status;
      if (outcome.result == AttemptResult::kRestart) {
        if (state.fd >= 0 && ftruncate(state.fd, 0) != 0) {
          return core::Internal("cannot truncate partial download: {}", ErrnoText(errno));
        }
        state.requested_offset = 0;
        core::LogWarning("pull: restarting download from the beginning",
                         {{"source", location.Describe()}, {"reason", outcome.status.message()}});
        continue;
      }
      if (attempt == max_attempts) break;
      const double sleep_secs = std::min(Jitter(std::min(backoff, options_.max_backoff_secs)), SecondsLeft());
      core::LogWarning("pull: retrying", {{"source", location.Describe()},
                                          {"attempt", std::to_string(attempt)},
                                          {"reason", outcome.status.message()},
                                          {"backoff_secs", fmt::format("{:.2f}", sleep_secs)}});
      std::this_thread::sleep_for(std::chrono::duration<double>(sleep_secs));
      backoff *= 2;
    }
    return core::Unavailable("{}: giving up after {} attempts: {}", location.Describe(), max_attempts, last.message());
  }

  // Seconds until the overall deadline (a day when there is none).
  double SecondsLeft() const {
    if (options_.timeout_secs <= 0) return 86400;
    return std::max(0.0, std::chrono::duration<double>(deadline_ - std::chrono::steady_clock::now()).count());
  }
  core::Status CheckDeadline(const Location& location) const {
    if (options_.timeout_secs > 0 && std::chrono::steady_clock::now() >= deadline_) {
      return core::Status(core::StatusCode::kDeadlineExceeded,
                          fmt::format("{}: the pull did not finish within --timeout-secs {} s", location.Describe(),
                                      options_.timeout_secs));
    }
    return core::Status::Ok();
  }

  static double Jitter(double secs) {
    // +-20% so that replicas started together do not retry in lockstep.
    thread_local std::mt19937 generator{std::random_device{}()};
    std::uniform_real_distribution<double> factor(0.8, 1.2);
    return secs * factor(generator);
  }

  core::Result<std::pair<std::string, std::vector<std::string>>> BuildRequest(const Location& location) const {
    if (!location.s3) return std::pair<std::string, std::vector<std::string>>{location.url, {}};
    // S3: path-style on a custom endpoint, virtual-hosted on AWS.
    std::string scheme = "https";
    std::string host;
    std::string path_prefix;
    if (!options_.s3_endpoint.empty()) {
      ASSIGN_OR_RETURN(UrlParts endpoint, SplitUrl(options_.s3_endpoint));
      if (endpoint.scheme != "http" && endpoint.scheme != "https") {
        return core::InvalidArgument("S3 endpoint '{}' must be http:// or https://", options_.s3_endpoint);
      }
      scheme = endpoint.scheme;
      host = endpoint.authority;
      path_prefix = endpoint.path == "/" ? "" : endpoint.path;
      if (!path_prefix.empty() && path_prefix.back() == '/') path_prefix.pop_back();
      path_prefix += "/" + UriEncode(location.bucket, false);
    } else {
      host = location.bucket + ".s3." + options_.s3_region + ".amazonaws.com";
    }
    // A host given with its scheme's default port is sent without it.
    if ((scheme == "http" && host.size() > 3 && host.ends_with(":80")) ||
        (scheme == "https" && host.size() > 4 && host.ends_with(":443"))) {
      host = host.substr(0, host.rfind(':'));
    }
    const std::string path = path_prefix + "/" + UriEncode(location.key, /*keep_slash=*/true);
    std::vector<std::string> headers;
    if (options_.credentials) {
      const std::string amz_date = AmzDate(std::chrono::system_clock::now());
      SigV4Request request;
      request.method = "GET";
      request.path = path;
      request.payload_sha256 = std::string(kEmptyPayloadSha256);
      request.headers = {{"host", host}, {"x-amz-content-sha256", request.payload_sha256}, {"x-amz-date", amz_date}};
      if (!options_.credentials->session_token.empty()) {
        request.headers.emplace_back("x-amz-security-token", options_.credentials->session_token);
      }
      SigV4Signature signature = SignV4(request, *options_.credentials, SigV4Scope{options_.s3_region, "s3", amz_date});
      for (const auto& [name, value] : request.headers) headers.push_back(name + ": " + value);
      headers.push_back("Authorization: " + signature.authorization);
    } else {
      headers.push_back("Host: " + host);
    }
    return std::pair<std::string, std::vector<std::string>>{scheme + "://" + host + path, std::move(headers)};
  }

  AttemptOutcome Attempt(const Location& location, TransferState& state) {
    auto request = BuildRequest(location);
    if (!request.ok()) return {AttemptResult::kFatal, request.status()};
    const auto& [url, extra_headers] = *request;

    state.curl = curl_;
    state.started = false;
    state.accepted = false;
    state.offset_mismatch = false;
    state.write_errno = 0;
    state.too_large = false;
    state.body_bytes = 0;
    state.content_range.clear();
    state.error_body.clear();

    curl_easy_reset(curl_);
    curl_easy_setopt(curl_, CURLOPT_URL, url.c_str());
    curl_easy_setopt(curl_, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(curl_, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(curl_, CURLOPT_FOLLOWLOCATION, location.s3 ? 0L : 1L);
    curl_easy_setopt(curl_, CURLOPT_MAXREDIRS, 5L);
    curl_easy_setopt(curl_, CURLOPT_PATH_AS_IS, 1L);  // the signed path is the one sent
    curl_easy_setopt(curl_, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl_, CURLOPT_USERAGENT, "berth-pull");
    curl_easy_setopt(curl_, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(options_.connect_timeout_secs * 1000));
    curl_easy_setopt(
        curl_, CURLOPT_LOW_SPEED_LIMIT,
        static_cast<long>(std::max<uint64_t>(1, std::min<uint64_t>(options_.min_bytes_per_sec, LONG_MAX))));
    // A Content-Length past the budget fails before any body byte comes.
    if (state.file_limit != UINT64_MAX && state.file_limit >= state.requested_offset) {
      curl_easy_setopt(curl_, CURLOPT_MAXFILESIZE_LARGE,
                       static_cast<curl_off_t>(state.file_limit - state.requested_offset));
    }
    curl_easy_setopt(curl_, CURLOPT_TIMEOUT_MS, static_cast<long>(SecondsLeft() * 1000) + 1);
    curl_easy_setopt(curl_, CURLOPT_LOW_SPEED_TIME, std::max(1L, static_cast<long>(options_.stall_timeout_secs)));
    curl_easy_setopt(curl_, CURLOPT_ACCEPT_ENCODING, nullptr);  // bytes as stored: digests and ranges refer to them
    if (!options_.ca_file.empty()) curl_easy_setopt(curl_, CURLOPT_CAINFO, options_.ca_file.c_str());
    curl_easy_setopt(curl_, CURLOPT_HEADERFUNCTION, OnHeader);
    curl_easy_setopt(curl_, CURLOPT_HEADERDATA, &state);
    curl_easy_setopt(curl_, CURLOPT_WRITEFUNCTION, OnBody);
    curl_easy_setopt(curl_, CURLOPT_WRITEDATA, &state);
    std::string range;
    if (state.requested_offset > 0) {
      range = std::to_string(state.requested_offset) + "-";
      curl_easy_setopt(curl_, CURLOPT_RANGE, range.c_str());
    }
    curl_slist* header_list = nullptr;
    for (const std::string& header : extra_headers) header_list = curl_slist_append(header_list, header.c_str());
    curl_easy_setopt(curl_, CURLOPT_HTTPHEADER, header_list);
    char error_text[CURL_ERROR_SIZE] = {};
    curl_easy_setopt(curl_, CURLOPT_ERRORBUFFER, error_text);

    CURLcode code = curl_easy_perform(curl_);
    curl_slist_free_all(header_list);
    long status = 0;
    curl_easy_getinfo(curl_, CURLINFO_RESPONSE_CODE, &status);
    const std::string what = location.Describe();

    if (state.offset_mismatch) {
      return {AttemptResult::kRestart, core::Unavailable("{}: asked for bytes from {}, got Content-Range '{}'", what,
                                                         state.requested_offset, state.content_range)};
    }
    if (state.write_errno != 0) {
      return {AttemptResult::kFatal,
              core::ResourceExhausted("{}: cannot write: {}", what, ErrnoText(state.write_errno))};
    }
    if (state.too_large || code == CURLE_FILESIZE_EXCEEDED) {
      if (state.memory) {
        return {AttemptResult::kFatal, core::ResourceExhausted("{}: larger than {} bytes", what, state.memory_limit)};
      }
      return {AttemptResult::kFatal,
              core::ResourceExhausted("{}: larger than the {} bytes allowed (--max-bytes, all files together)", what,
                                      state.file_limit)};
    }
    if (code == CURLE_OPERATION_TIMEDOUT && options_.timeout_secs > 0 && SecondsLeft() <= 0) {
      return {AttemptResult::kFatal, CheckDeadline(location)};
    }
    if (code != CURLE_OK) {
      std::string reason = error_text[0] ? error_text : curl_easy_strerror(code);
      if (IsTransientCurlError(code)) return {AttemptResult::kRetry, core::Unavailable("{}", reason)};
      return {AttemptResult::kFatal, core::Unavailable("{}: {}", what, reason)};
    }
    if (state.accepted || ((status == 200 || status == 206) && !state.started)) {
      // (A 2xx with an empty body never calls OnBody: an empty file.)
      if (!state.started && state.fd >= 0 && state.requested_offset == 0 && ftruncate(state.fd, 0) != 0) {
        return {AttemptResult::kFatal, core::Internal("{}: cannot truncate: {}", what, ErrnoText(errno))};
      }
      return {AttemptResult::kDone, {}};
    }
    std::string body = state.error_body;
    for (char& c : body) {
      if (c == '\n' || c == '\r') c = ' ';
    }
    if (body.size() > 200) body = body.substr(0, 200) + "...";
    if (status == 416 && state.requested_offset > 0) {
      return {AttemptResult::kRestart, core::Unavailable("HTTP 416 for a resumed range")};
    }
    if (IsTransientStatus(status)) return {AttemptResult::kRetry, core::Unavailable("HTTP {}", status)};
    if (status == 404) return {AttemptResult::kFatal, core::NotFound("{}: HTTP 404 not found", what)};
    if (status == 401 || status == 403) {
      return {AttemptResult::kFatal,
              core::Status(core::StatusCode::kUnauthenticated,
                           fmt::format("{}: HTTP {} (credentials missing or not allowed) {}", what, status, body))};
    }
    return {AttemptResult::kFatal, core::InvalidArgument("{}: HTTP {} {}", what, status, body)};
  }

  const FetchOptions& options_;
  CURL* curl_ = nullptr;
  const std::chrono::steady_clock::time_point deadline_ =
      std::chrono::steady_clock::now() +
      std::chrono::duration_cast<std::chrono::steady_clock::duration>(
          std::chrono::duration<double>(options_.timeout_secs > 0 ? options_.timeout_secs : 0));
};

// ------------------------------------------------------------- destination

// Resolves `relative` below `root` (canonical), creating its directories and
// refusing any that a symlink leads out of `root`.
bool IsInside(const fs::path& path, const fs::path& root) {
  const std::string text = path.string(), root_text = root.string();
  return text == root_text || StartsWith(text, root_text == "/" ? "/" : root_text + "/");
}

core::Result<fs::path> PrepareTarget(const fs::path& root, const std::string& relative) {
  const fs::path target = root / relative;
  std::error_code error;
  // One directory at a time, each resolved before the next is created in it,
  // so that a symlink inside `root` never gets a directory made behind it.
  fs::path parent = root;
  for (const fs::path& part : fs::path(relative).parent_path()) {
    fs::path next = parent / part;
    if (!fs::exists(fs::symlink_status(next, error))) {
      if (!fs::create_directory(next, error) && error) {
        return core::Internal("cannot create '{}': {}", next.string(), error.message());
      }
    }
    next = fs::canonical(next, error);
    if (error) return core::Internal("cannot resolve '{}': {}", (parent / part).string(), error.message());
    if (!IsInside(next, root)) {
      return core::InvalidArgument("refusing '{}': '{}' resolves to '{}', outside '{}'", relative,
                                   (parent / part).string(), next.string(), root.string());
    }
    if (!fs::is_directory(next, error)) {
      return core::InvalidArgument("refusing '{}': '{}' is not a directory", relative, next.string());
    }
    parent = next;
  }
  fs::path resolved = parent / target.filename();
  if (fs::is_symlink(fs::symlink_status(resolved, error))) {
    return core::InvalidArgument("refusing '{}': '{}' is a symbolic link", relative, resolved.string());
  }
  return resolved;
}

core::Status SyncDirectory(const fs::path& directory) {
  int fd = open(directory.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return core::Internal("cannot open '{}': {}", directory.string(), ErrnoText(errno));
  fsync(fd);
  close(fd);
  return core::Status::Ok();
}

core::Result<FetchedFile> FetchFile(Downloader& downloader, const Location& location, const fs::path& root,
                                    const std::string& relative, const std::string& expected_sha256,
                                    uint64_t byte_budget) {
  ASSIGN_OR_RETURN(fs::path target, PrepareTarget(root, relative));
  FetchedFile fetched;
  fetched.relative_path = relative;
  std::error_code error;
  if (!expected_sha256.empty() && fs::is_regular_file(target, error)) {
    auto existing = HashFile(target);
    if (existing.ok() && *existing == expected_sha256) {
      fetched.sha256 = *existing;
      fetched.bytes = fs::file_size(target, error);
      fetched.reused = true;
      return fetched;
    }
  }
  const fs::path partial = target.parent_path() / ("." + target.filename().string() + ".partial");
  if (fs::is_symlink(fs::symlink_status(partial, error))) {
    return core::InvalidArgument("refusing '{}': '{}' is a symbolic link", relative, partial.string());
  }
  auto attempts = downloader.FetchToFile(location, partial, byte_budget);
  if (!attempts.ok()) {
    if (attempts.status().code() == core::StatusCode::kResourceExhausted) fs::remove(partial, error);
    return attempts.status();
  }
  fetched.attempts = *attempts;
  ASSIGN_OR_RETURN(fetched.sha256, HashFile(partial));
  fetched.bytes = fs::file_size(partial, error);
  if (!expected_sha256.empty() && fetched.sha256 != expected_sha256) {
    fs::remove(partial, error);
    return core::InvalidArgument("{}: sha256 mismatch: expected {}, got {} ({} bytes); the download was deleted",
                                 location.Describe(), expected_sha256, fetched.sha256, fetched.bytes);
  }
  fs::rename(partial, target, error);
  if (error)
    return core::Internal("cannot rename '{}' to '{}': {}", partial.string(), target.string(), error.message());
  RETURN_IF_ERROR(SyncDirectory(target.parent_path()));
  return fetched;
}

core::Result<std::string> LoadManifestText(Downloader& downloader, const Source& source, const FetchOptions& options) {
  if (options.manifest.empty()) {
    return downloader.FetchToMemory(Child(source.base, kDefaultManifestName), kManifestLimitBytes);
  }
  if (options.manifest.find("://") != std::string::npos) {
    ASSIGN_OR_RETURN(Source manifest_source, ParseSource(options.manifest));
    if (manifest_source.directory) return core::InvalidArgument("manifest '{}' names a directory", options.manifest);
    return downloader.FetchToMemory(manifest_source.base, kManifestLimitBytes);
  }
  std::error_code error;
  const auto size = fs::file_size(options.manifest, error);
  if (error) return core::NotFound("manifest '{}': {}", options.manifest, error.message());
  if (size > kManifestLimitBytes)
    return core::ResourceExhausted("manifest '{}' is over {} bytes", options.manifest, kManifestLimitBytes);
  std::string text(size, '\0');
  FILE* file = std::fopen(options.manifest.c_str(), "rb");
  if (!file) return core::NotFound("manifest '{}': {}", options.manifest, ErrnoText(errno));
  size_t read = std::fread(text.data(), 1, text.size(), file);
  std::fclose(file);
  text.resize(read);
  return text;
}

}  // namespace

FetchOptions FetchOptions::FromEnvironment() {
  FetchOptions options;
  options.credentials = AwsCredentialsFromEnvironment();
  for (const char* name : {"AWS_REGION", "AWS_DEFAULT_REGION"}) {
    if (std::string region = GetEnvironment(name); !region.empty()) {
      options.s3_region = region;
      break;
    }
  }
  for (const char* name : {"AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"}) {
    if (std::string endpoint = GetEnvironment(name); !endpoint.empty()) {
      options.s3_endpoint = endpoint;
      break;
    }
  }
  options.sha256 = GetEnvironment("BERTH_MODEL_SHA256");
  options.manifest = GetEnvironment("BERTH_MODEL_MANIFEST");
  return options;
}

core::Result<std::string> SafeRelativePath(std::string_view path) {
  if (path.empty()) return core::InvalidArgument("empty path");
  if (path.front() == '/') return core::InvalidArgument("refusing absolute path '{}'", path);
  for (unsigned char c : path) {
    if (c < 0x20 || c == 0x7F) return core::InvalidArgument("refusing path with a control character: '{}'", path);
    if (c == '\\') return core::InvalidArgument("refusing path with a backslash: '{}'", path);
  }
  std::string normalised;
  std::string_view rest = path;
  while (!rest.empty()) {
    size_t slash = rest.find('/');
    std::string_view part = rest.substr(0, slash);
    rest = slash == std::string_view::npos ? std::string_view() : rest.substr(slash + 1);
    if (part.empty() || part == ".") continue;
    if (part == "..") return core::InvalidArgument("refusing path that leaves the destination: '{}'", path);
    if (!normalised.empty()) normalised.push_back('/');
    normalised += part;
  }
  if (normalised.empty()) return core::InvalidArgument("path '{}' names no file", path);
  return normalised;
}

core::Result<std::vector<ManifestEntry>> ParseManifest(std::string_view text) {
  std::vector<ManifestEntry> entries;
  int line_number = 0;
  while (!text.empty()) {
    size_t newline = text.find('\n');
    std::string_view line = text.substr(0, newline);
    text = newline == std::string_view::npos ? std::string_view() : text.substr(newline + 1);
    ++line_number;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    size_t first = line.find_first_not_of(" \t");
    if (first == std::string_view::npos || line[first] == '#') continue;
    line.remove_prefix(first);
    if (line.size() < 66 || !IsHexDigest(line.substr(0, 64)) || (line[64] != ' ' && line[64] != '\t')) {
      return core::InvalidArgument("manifest line {}: expected '<sha256 hex>  <path>'", line_number);
    }
    std::string_view path = line.substr(65);
    if (!path.empty() && (path.front() == ' ' || path.front() == '*')) path.remove_prefix(1);  // text / binary mode
    auto safe = SafeRelativePath(path);
    if (!safe.ok()) return safe.status().WithContext(fmt::format("manifest line {}", line_number));
    for (const ManifestEntry& entry : entries) {
      if (entry.relative_path == *safe) {
        return core::InvalidArgument("manifest line {}: '{}' is listed twice", line_number, *safe);
      }
    }
    entries.push_back({ToLowerHex(line.substr(0, 64)), *safe});
  }
  if (entries.empty()) return core::InvalidArgument("manifest lists no files");
  return entries;
}

core::Result<FetchReport> FetchModel(std::string_view source_text, const fs::path& destination,
                                     const FetchOptions& options) {
  const auto started = std::chrono::steady_clock::now();
  ASSIGN_OR_RETURN(Source source, ParseSource(source_text));
  if (!options.sha256.empty() && !IsHexDigest(options.sha256)) {
    return core::InvalidArgument("--sha256 '{}' is not 64 hex digits", options.sha256);
  }
  if (!options.sha256.empty() && source.directory) {
    return core::InvalidArgument("--sha256 applies to a single file; '{}' is a directory (use a manifest)",
                                 source_text);
  }

  std::error_code error;
  fs::create_directories(destination, error);
  if (error) return core::Internal("cannot create '{}': {}", destination.string(), error.message());
  const fs::path root = fs::canonical(destination, error);
  if (error) return core::Internal("cannot resolve '{}': {}", destination.string(), error.message());

  Downloader downloader(options);
  // What to fetch: (location, relative path, expected digest).
  struct Job {
    Location location;
    std::string relative_path;
    std::string sha256;
  };
  std::vector<Job> jobs;
  if (source.directory) {
    ASSIGN_OR_RETURN(std::string text, LoadManifestText(downloader, source, options));
    auto entries = ParseManifest(text);
    if (!entries.ok()) return entries.status().WithContext(fmt::format("manifest of '{}'", source_text));
    for (const ManifestEntry& entry : *entries) {
      jobs.push_back({Child(source.base, entry.relative_path), entry.relative_path, entry.sha256});
    }
  } else {
    std::string sha256 = ToLowerHex(options.sha256);
    if (sha256.empty() && !options.manifest.empty()) {
      ASSIGN_OR_RETURN(std::string text, LoadManifestText(downloader, source, options));
      ASSIGN_OR_RETURN(std::vector<ManifestEntry> entries, ParseManifest(text));
      auto it = std::find_if(entries.begin(), entries.end(),
                             [&](const ManifestEntry& e) { return e.relative_path == source.file_name; });
      if (it == entries.end()) {
        return core::NotFound("manifest '{}' does not list '{}'", options.manifest, source.file_name);
      }
      sha256 = it->sha256;
    }
    jobs.push_back({source.base, source.file_name, sha256});
  }

  for (const Job& job : jobs) {
    if (!job.sha256.empty()) continue;
    if (options.require_digest) {
      return core::InvalidArgument("{}: no digest vouches for it (--require-digest): pass --sha256 or a manifest",
                                   job.location.Describe());
    }
    core::LogWarning("pull: no digest given; the file is fetched but not verified",
                     {{"file", job.relative_path}, {"hint", "pass --sha256 or a manifest, or --require-digest"}});
  }
  FetchReport report;
  for (const Job& job : jobs) {
    const uint64_t budget =
        options.max_bytes > report.bytes_downloaded ? options.max_bytes - report.bytes_downloaded : 0;
    auto fetched = FetchFile(downloader, job.location, root, job.relative_path, job.sha256, budget);
    if (!fetched.ok()) return fetched.status();
    core::LogInfo(fetched->reused ? "pull: already present" : "pull: fetched",
                  {{"file", fetched->relative_path},
                   {"bytes", std::to_string(fetched->bytes)},
                   {"sha256", fetched->sha256},
                   {"attempts", std::to_string(fetched->attempts)}});
    if (!fetched->reused) report.bytes_downloaded += fetched->bytes;
    report.files.push_back(std::move(*fetched));
  }
  report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  return report;
}

core::Status FetchModelForServing(std::string_view url, const fs::path& model_repository) {
  if (model_repository.empty()) {
    return core::InvalidArgument("--model-url needs --model-repository DIR (a writable directory to download into)");
  }
  auto report = FetchModel(url, model_repository, FetchOptions::FromEnvironment());
  if (!report.ok()) return report.status().WithContext("--model-url");
  core::LogInfo("models fetched", {{"source", std::string(url)},
                                   {"destination", model_repository.string()},
                                   {"files", std::to_string(report->files.size())},
                                   {"bytes_downloaded", std::to_string(report->bytes_downloaded)},
                                   {"seconds", fmt::format("{:.2f}", report->seconds)}});
  return core::Status::Ok();
}

}  // namespace berth::fetch
