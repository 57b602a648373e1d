#include "server/http/http_connection.h"

#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>
#include <ctime>
#include <utility>

#include "core/logging.h"

namespace berth::server {
namespace asio = boost::asio;
namespace beast = boost::beast;
using IoExecutor = asio::io_context::executor_type;

namespace {

constexpr size_t kReadSize = 16384;
constexpr auto kLingerTime = std::chrono::seconds(2);
constexpr size_t kMaxLingerBytes = size_t{8} << 20;

std::chrono::steady_clock::duration Seconds(double seconds) {
  return std::chrono::duration_cast<std::chrono::steady_clock::duration>(std::chrono::duration<double>(seconds));
}

std::string_view HttpDate() {
  thread_local std::time_t cached = 0;
  thread_local char text[40];
  thread_local size_t length = 0;
  std::time_t now = std::time(nullptr);
  if (now != cached) {
    std::tm tm{};
    gmtime_r(&now, &tm);
    length = std::strftime(text, sizeof(text), "%a, %d %b %Y %H:%M:%S GMT", &tm);
    cached = now;
  }
  return {text, length};
}

bool IsPeerGone(const boost::system::error_code& ec) {
  return ec == http::error::end_of_stream || ec == http::error::partial_message || ec == asio::error::eof ||
         ec == asio::error::connection_reset || ec == asio::error::broken_pipe ||
         ec == asio::error::operation_aborted || ec == asio::error::bad_descriptor;
}

}  // namespace

class HttpConnection::Stream : public HttpStream {
 public:
  Stream(std::shared_ptr<HttpConnection> connection, std::shared_ptr<std::atomic<bool>> gone)
      : connection_(std::move(connection)), gone_(std::move(gone)) {}

  bool Write(std::string data) override {
    if (gone() || ended_.load(std::memory_order_relaxed)) return false;
    if (queued.fetch_add(data.size(), std::memory_order_relaxed) + data.size() > kMaxQueuedBytes) {
      gone_->store(true, std::memory_order_relaxed);  // the client stopped reading
      return false;
    }
    asio::post(connection_->socket_.get_executor(), [connection = connection_, data = std::move(data)]() mutable {
      connection->StreamWrite(std::move(data));
    });
    return true;
  }

  void End() override {
    if (ended_.exchange(true)) return;
    asio::post(connection_->socket_.get_executor(), [connection = connection_] { connection->StreamEnd(); });
  }

  bool gone() const override { return gone_->load(std::memory_order_relaxed); }

  std::atomic<size_t> queued{0};  // bytes posted and not yet written

 private:
  std::shared_ptr<HttpConnection> connection_;
  std::shared_ptr<std::atomic<bool>> gone_;
  std::atomic<bool> ended_{false};
};

HttpConnection::HttpConnection(asio::ip::tcp::socket socket, HttpConnectionContext& context, uint64_t id,
                               bool probe_only)
    : socket_(std::move(socket)),
      timer_(socket_.get_executor()),
      context_(context),
      id_(id),
      probe_only_(probe_only),
      buffer_(context.options.max_header_bytes + 65536) {
  timer_granularity_ = Seconds(std::min(context.options.request_timeout_secs, context.options.idle_timeout_secs));
  on_chunk_ = [this](std::uint64_t, std::string_view, beast::error_code& ec) {
    if (++chunk_count_ > kMaxChunks) {
      too_many_chunks_ = true;
      ec = http::error::bad_chunk;
    }
  };
}

HttpConnection::~HttpConnection() {
  if (context_.on_closed) context_.on_closed(id_);
}

void HttpConnection::Start() {
  asio::dispatch(socket_.get_executor(), [self = shared_from_this()] { self->WaitForRequest(); });
}

void HttpConnection::Drain() {
  asio::post(socket_.get_executor(), [self = shared_from_this()] {
    if (self->state_ == State::kIdle) {
      error_code ignored;
      self->socket_.cancel(ignored);
    }
  });
}

void HttpConnection::SetDeadline(std::chrono::steady_clock::duration duration) {
  timed_out_ = false;
  deadline_ = std::chrono::steady_clock::now() + duration;
  // Re-arm only when the timer would wake too late; otherwise it finds the
  // new deadline when it wakes.
  if (!timer_armed_ || deadline_ < timer_expiry_) StartTimer(deadline_);
}

void HttpConnection::ClearDeadline() { deadline_ = std::chrono::steady_clock::time_point::max(); }

void HttpConnection::StartTimer(std::chrono::steady_clock::time_point at) {
  timer_armed_ = true;
  timer_expiry_ = at;
  timer_.expires_at(at);
  timer_.async_wait(
      [self = shared_from_this(), generation = ++timer_generation_](error_code ec) { self->OnTimer(ec, generation); });
}

void HttpConnection::OnTimer(error_code ec, uint64_t generation) {
  if (generation != timer_generation_) return;  // superseded by a re-arm, or closed
  timer_armed_ = false;
  if (ec || deadline_ == std::chrono::steady_clock::time_point::max()) return;  // SetDeadline restarts it
  const auto now = std::chrono::steady_clock::now();
  if (now >= deadline_) {
    timed_out_ = true;
    error_code ignored;
    socket_.cancel(ignored);
    return;
  }
  StartTimer(std::min(deadline_, now + timer_granularity_));
}

void HttpConnection::WaitForRequest() {
  if (state_ == State::kClosing) return;
  if (context_.draining.load(std::memory_order_relaxed)) return Close();
  parser_.reset();
  memory_.reset();                                // the body is gone; what the handler still holds stays charged
  if (buffer_.size() > 0) return BeginRequest();  // pipelined request already buffered
  state_ = State::kIdle;
  SetDeadline(Seconds(context_.options.idle_timeout_secs));
  socket_.async_read_some(buffer_.prepare(kReadSize),
                          [self = shared_from_this()](error_code ec, size_t n) { self->OnFirstBytes(ec, n); });
}

void HttpConnection::OnFirstBytes(error_code ec, size_t bytes) {
  if (ec) return Close();  // idle timeout, peer closed, or shutdown
  buffer_.commit(bytes);
  BeginRequest();
}

void HttpConnection::BeginRequest() {
  state_ = State::kReading;
  request_start_ = std::chrono::steady_clock::now();
  ++request_sequence_;
  parser_.emplace();
  parser_->header_limit(context_.options.max_header_bytes);
  parser_->body_limit(context_.options.max_request_bytes);
  parser_->on_chunk_header(on_chunk_);
  chunk_count_ = 0;
  too_many_chunks_ = false;
  body_pending_ = true;
  match_ = RouteMatch{};
  method_ = http::verb::unknown;
  target_.clear();
  keep_alive_ = false;
  http10_ = false;
  response_coding_ = ContentCoding::kIdentity;
  SetDeadline(Seconds(context_.options.request_timeout_secs));
  http::async_read_header(socket_, buffer_, *parser_,
                          [self = shared_from_this()](error_code ec, size_t n) { self->OnHeader(ec, n); });
}

void HttpConnection::OnHeader(error_code ec, size_t) {
  if (ec) return FailRead(ec);
  const auto& message = parser_->get();
  method_ = message.method();
  target_.assign(message.target().data(), message.target().size());
  keep_alive_ = parser_->keep_alive();
  http10_ = message.version() == 10;
  response_coding_ = PreferredResponseCoding(message[http::field::accept_encoding]);
  const auto& options = context_.options;
  if (target_.size() > options.max_uri_bytes) {
    return Fail(414, fmt::format("the request target is longer than {} bytes", options.max_uri_bytes));
  }
  // Framing rules Beast 1.74 is lenient about (request smuggling defenses):
  // it accepts repeated identical Content-Length fields and a Transfer-Encoding
  // whose last coding is not chunked (then treats the body as empty).
  const size_t content_lengths = message.count(http::field::content_length);
  const size_t transfer_encodings = message.count(http::field::transfer_encoding);
  if (content_lengths > 1) return Fail(400, "duplicate Content-Length header");
  if (transfer_encodings > 0) {
    if (content_lengths > 0) return Fail(400, "both Content-Length and Transfer-Encoding are present");
    if (transfer_encodings > 1) return Fail(400, "more than one Transfer-Encoding header");
    std::string_view coding = TrimOws(message[http::field::transfer_encoding]);
    if (!TokenEquals(coding, "chunked")) {
      if (!parser_->chunked()) return Fail(400, "Transfer-Encoding must end with chunked");
      return Fail(501, fmt::format("transfer coding '{}' is not supported (only chunked)", coding));
    }
  }
  if (message.count(http::field::content_length) == 1) {
    std::string_view length = TrimOws(message[http::field::content_length]);
    if (length.empty() || length.find_first_not_of("0123456789") != std::string_view::npos) {
      return Fail(400, "Content-Length must be a single decimal number");
    }
  }

  match_ = context_.routes.Match(method_, target_);
  // Unknown paths need a key too: only the probes are open.
  const bool requires_auth = !match_.route || match_.route->requires_auth;
  if (context_.auth.enabled() && requires_auth && !context_.auth.Allows(message[http::field::authorization])) {
    body_pending_ = !parser_->is_done();
    HttpResponse response = ErrorResponse(401, "missing or invalid API key: send 'Authorization: Bearer <key>'");
    response.headers.emplace_back("WWW-Authenticate", "Bearer");
    return Respond(std::move(response));
  }
  // The body is charged before it is read: a request that cannot fit is
  // answered without receiving it (and the connection closes).
  memory_ = std::make_shared<core::MemoryAccount>(context_.memory, context_.options.max_request_memory);
  if (auto length = parser_->content_length(); length && *length > 0) {
    core::Status charged = memory_->Charge(*length, "the request body");
    if (!charged.ok()) return Fail(HttpStatusFor(charged.code()), charged.message());
  }
  std::string_view expect = message[http::field::expect];
  if (!expect.empty()) {
    if (!TokenEquals(TrimOws(expect), "100-continue")) return Fail(417, "only 'Expect: 100-continue' is supported");
    if (!parser_->is_done()) {
      continue_line_ = "HTTP/1.1 100 Continue\r\n\r\n";
      asio::async_write(socket_, asio::buffer(continue_line_), [self = shared_from_this()](error_code ec, size_t) {
        if (ec) return self->Close();
        self->ReadBody();
      });
      return;
    }
  }
  if (parser_->is_done()) {
    body_pending_ = false;
    return Dispatch();
  }
  ReadBody();
}

void HttpConnection::ReadBody() {
  // The request timer armed in BeginRequest covers the body too.
  http::async_read(socket_, buffer_, *parser_,
                   [self = shared_from_this()](error_code ec, size_t n) { self->OnBody(ec, n); });
}

void HttpConnection::OnBody(error_code ec, size_t) {
  if (ec) return FailRead(ec);
  body_pending_ = false;
  if (parser_->chunked()) {  // its size is known only now
    core::Status charged = memory_->Charge(parser_->get().body().size(), "the request body");
    if (!charged.ok()) return Fail(HttpStatusFor(charged.code()), charged.message());
  }
  Dispatch();
}

void HttpConnection::FailRead(error_code ec) {
  const auto& options = context_.options;
  if (timed_out_) {
    if ((parser_ && parser_->got_some()) || buffer_.size() > 0) {
      return Fail(408, fmt::format("the request was not received within {} seconds", options.request_timeout_secs));
    }
    return Close();
  }
  if (ec == http::error::body_limit) {
    return Fail(413, fmt::format("the request body is larger than the limit of {} bytes", options.max_request_bytes));
  }
  if (too_many_chunks_) return Fail(413, fmt::format("the chunked body has more than {} chunks", kMaxChunks));
  if (ec == http::error::header_limit || ec == http::error::buffer_overflow) {
    // Distinguish an over-long request line (414) from over-long headers
    // (431). Once Beast has parsed the request line it holds the target (and
    // has consumed the line from the buffer).
    auto data = buffer_.data();
    std::string_view bytes(static_cast<const char*>(data.data()), data.size());
    const bool have_request_line = parser_ && !parser_->get().target().empty();
    size_t line_end = bytes.find("\r\n");
    if (!have_request_line && (line_end == std::string_view::npos || line_end > options.max_uri_bytes + 32)) {
      return Fail(414, fmt::format("the request target is longer than {} bytes", options.max_uri_bytes));
    }
    return Fail(431, fmt::format("the request headers are larger than {} bytes", options.max_header_bytes));
  }
  if (IsPeerGone(ec)) return Close();
  Fail(400, fmt::format("malformed HTTP request: {}", ec.message()));
}

void HttpConnection::Fail(unsigned status, std::string_view message) {
  HttpResponse response = ErrorResponse(status, message);
  response.close = true;
  Respond(std::move(response));
}

bool HttpConnection::DecodeBody() {
  auto& message = parser_->get();
  auto coding = ParseContentEncoding(message[http::field::content_encoding]);
  if (!coding.ok()) {
    Respond(ErrorResponse(415, coding.status().message()));
    return false;
  }
  if (*coding == ContentCoding::kIdentity) return true;
  // Inflating stops at the body limit, so a small bomb costs at most that.
  auto decoded = Inflate(message.body(), *coding, context_.options.max_request_bytes);
  if (!decoded.ok()) {
    const bool too_large = decoded.status().code() == core::StatusCode::kResourceExhausted;
    Respond(ErrorResponse(too_large ? 413 : 400, decoded.status().message()));
    return false;
  }
  core::Status charged = memory_->Charge(decoded->size(), "the decompressed request body");
  if (!charged.ok()) {
    Respond(ErrorResponse(charged));
    return false;
  }
  message.body() = std::move(decoded).value();
  message.erase(http::field::content_encoding);
  return true;
}

void HttpConnection::Dispatch() {
  ClearDeadline();  // a queued inference may take as long as it takes
  state_ = State::kHandling;
  if (!match_.error.ok()) return Respond(ErrorResponse(match_.error));
  if (!DecodeBody()) return;
  if (probe_only_ && !(match_.route && match_.route->probe && match_.method_allowed)) {
    HttpResponse response = ErrorResponse(503, "too many open connections");
    response.close = true;
    return Respond(std::move(response));
  }
  if (!match_.route) {
    std::string_view path(target_);
    path = path.substr(0, std::min<size_t>(path.find('?'), 200));
    return Respond(ErrorResponse(404, fmt::format("no route for {} {}", http::to_string(method_), path)));
  }
  if (!match_.method_allowed) {
    HttpResponse response =
        ErrorResponse(405, fmt::format("{} is not allowed here (allowed: {})", http::to_string(method_), match_.allow));
    response.headers.emplace_back("Allow", match_.allow);
    return Respond(std::move(response));
  }
  auto self = shared_from_this();
  HttpRespond respond = [self](HttpResponse response) {
    const auto executor = self->socket_.get_executor();  // target() points into this object
    const IoExecutor* io_executor = executor.target<IoExecutor>();
    if (io_executor && io_executor->running_in_this_thread()) {
      self->Respond(std::move(response));
    } else {
      asio::post(self->socket_.get_executor(),
                 [self, response = std::move(response)]() mutable { self->Respond(std::move(response)); });
    }
  };
  cancelled_ = std::make_shared<std::atomic<bool>>(false);
  HttpStartStream stream = [self, cancelled = cancelled_](HttpResponse head) -> std::shared_ptr<HttpStream> {
    auto stream = std::make_shared<Stream>(self, cancelled);
    asio::dispatch(self->socket_.get_executor(), [self, stream, head = std::move(head)]() mutable {
      self->StartStream(std::move(stream), std::move(head));
    });
    return stream;
  };
  try {
    HttpExchange exchange{match_, parser_->get(), socket_.get_executor(), respond, stream, cancelled_, memory_};
    match_.route->handler(exchange);
    if ((state_ == State::kHandling || state_ == State::kStreaming) && !body_pending_) WatchForHangup();
  } catch (const std::exception& e) {
    // Handlers report errors as values; this is a bug or memory exhaustion.
    core::LogError("request handler threw", {{"error", e.what()}});
    respond(ErrorResponse(500, fmt::format("internal error: {}", e.what())));
  }
}

void HttpConnection::WatchForHangup() {
  watching_ = true;
  socket_.async_read_some(buffer_.prepare(kReadSize),
                          [self = shared_from_this()](error_code ec, size_t n) { self->OnWatch(ec, n); });
}

void HttpConnection::OnWatch(error_code ec, size_t bytes) {
  watching_ = false;
  if (!ec) {
    buffer_.commit(bytes);  // the next request, early: parsed once this one is answered
  } else if (ec != asio::error::operation_aborted && (state_ == State::kHandling || state_ == State::kStreaming)) {
    if (cancelled_) cancelled_->store(true, std::memory_order_relaxed);  // the client hung up
  }
  const AfterWatch next = std::exchange(after_watch_, AfterWatch::kNothing);
  if (next == AfterWatch::kNextRequest) WaitForRequest();
  if (next == AfterWatch::kLinger) LingeringClose();
}

void HttpConnection::Respond(HttpResponse response) {
  if (state_ == State::kClosing || state_ == State::kWriting || state_ == State::kStreaming) return;
  state_ = State::kWriting;
  if (watching_) {
    error_code ignored;
    socket_.cancel(ignored);  // the hang-up watch: its handler runs before the next read starts
  }
  const bool close = response.close || !keep_alive_ || body_pending_ || probe_only_ ||
                     context_.draining.load(std::memory_order_relaxed);
  constexpr size_t kCompressFrom = 1024;  // below this the header costs more than it saves
  if (response_coding_ != ContentCoding::kIdentity && response.body.size() >= kCompressFrom) {
    response.body = Compress(response.body, response_coding_);
    response.headers.emplace_back("Content-Encoding", std::string(ContentCodingName(response_coding_)));
    response.headers.emplace_back("Vary", "Accept-Encoding");
  }
  header_out_.clear();
  fmt::format_to(std::back_inserter(header_out_),
                 "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nDate: {}\r\n", response.status,
                 HttpReasonPhrase(response.status), response.content_type, response.body.size(), HttpDate());
  if (close) {
    header_out_ += "Connection: close\r\n";
  } else if (http10_) {
    header_out_ += "Connection: keep-alive\r\n";
  }
  for (const auto& [name, value] : response.headers) {
    header_out_ += name;
    header_out_ += ": ";
    header_out_ += value;
    header_out_ += "\r\n";
  }
  header_out_ += "\r\n";
  pending_ = std::move(response);
  SetDeadline(Seconds(context_.options.request_timeout_secs));
  std::array<asio::const_buffer, 2> buffers{
      asio::buffer(header_out_), method_ == http::verb::head ? asio::const_buffer() : asio::buffer(pending_.body)};
  asio::async_write(socket_, buffers,
                    [self = shared_from_this(), close](error_code ec, size_t n) { self->OnWritten(ec, n, close); });
}

void HttpConnection::OnWritten(error_code ec, size_t, bool close) {
  ClearDeadline();
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - request_start_).count();
  context_.metrics.CountRequest(match_.label, pending_.status, seconds);
  LogRequest(pending_);
  pending_ = HttpResponse{};
  if (ec) return Close();
  if (watching_) {  // one read at a time: go on once the watch's handler has run
    after_watch_ = close ? AfterWatch::kLinger : AfterWatch::kNextRequest;
    return;
  }
  if (close) return LingeringClose();
  WaitForRequest();
}

void HttpConnection::StartStream(std::shared_ptr<Stream> stream, HttpResponse head) {
  if (state_ != State::kHandling) {  // answered already, or the connection is closing
    cancelled_->store(true, std::memory_order_relaxed);
    return;
  }
  state_ = State::kStreaming;
  stream_ = std::move(stream);
  // HTTP/1.0 has no chunked coding: the body ends when the connection does.
  stream_chunked_ = !http10_;
  stream_close_ = !keep_alive_ || http10_ || head.close || context_.draining.load(std::memory_order_relaxed);
  stream_ending_ = false;
  stream_out_.clear();
  fmt::format_to(std::back_inserter(stream_out_), "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nDate: {}\r\n", head.status,
                 HttpReasonPhrase(head.status), head.content_type, HttpDate());
  if (stream_chunked_) stream_out_ += "Transfer-Encoding: chunked\r\n";
  if (stream_close_) stream_out_ += "Connection: close\r\n";
  for (const auto& [name, value] : head.headers) {
    stream_out_ += name;
    stream_out_ += ": ";
    stream_out_ += value;
    stream_out_ += "\r\n";
  }
  stream_out_ += "\r\n";
  head.body.clear();
  pending_ = std::move(head);
  FlushStream();
}

void HttpConnection::StreamWrite(std::string data) {
  if (state_ != State::kStreaming || stream_ending_ || data.empty() || method_ == http::verb::head) {
    if (stream_) stream_->queued.fetch_sub(data.size(), std::memory_order_relaxed);
    return;
  }
  if (stream_chunked_) fmt::format_to(std::back_inserter(stream_out_), "{:x}\r\n", data.size());
  stream_out_ += data;
  if (stream_chunked_) stream_out_ += "\r\n";
  stream_->queued.fetch_sub(data.size(), std::memory_order_relaxed);
  FlushStream();
}

void HttpConnection::StreamEnd() {
  if (state_ != State::kStreaming || stream_ending_) return;
  stream_ending_ = true;
  if (stream_chunked_ && method_ != http::verb::head) stream_out_ += "0\r\n\r\n";
  FlushStream();
}

void HttpConnection::FlushStream() {
  if (stream_in_flight_) return;
  if (stream_out_.empty()) {
    if (!stream_ending_) return;
    // All written: the request is complete.
    stream_.reset();
    state_ = State::kWriting;
    if (watching_) {
      error_code ignored;
      socket_.cancel(ignored);  // the hang-up watch: its handler runs before the next read starts
    }
    return OnWritten(error_code{}, 0, stream_close_);
  }
  std::swap(stream_writing_, stream_out_);
  stream_out_.clear();
  stream_in_flight_ = true;
  SetDeadline(Seconds(context_.options.request_timeout_secs));  // a client that stops reading times out
  asio::async_write(socket_, asio::buffer(stream_writing_),
                    [self = shared_from_this()](error_code ec, size_t n) { self->OnStreamWritten(ec, n); });
}

void HttpConnection::OnStreamWritten(error_code ec, size_t) {
  stream_in_flight_ = false;
  ClearDeadline();
  if (ec || state_ != State::kStreaming) {
    cancelled_->store(true, std::memory_order_relaxed);  // the client is gone: the producer stops
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - request_start_).count();
    context_.metrics.CountRequest(match_.label, pending_.status, seconds);
    LogRequest(pending_);
    stream_.reset();
    return Close();
  }
  FlushStream();
}

void HttpConnection::LogRequest(const HttpResponse& response) {
  const bool quiet = match_.route && match_.route->quiet;
  const core::LogLevel level = quiet ? core::LogLevel::kDebug : core::LogLevel::kInfo;
  if (!core::LogEnabled(level)) return;
  std::string id = response.request_id;
  if (id.empty() && parser_) {
    std::string_view header = parser_->get()["X-Request-Id"];
    if (!header.empty()) id.assign(header.substr(0, 128));
  }
  if (id.empty()) id = fmt::format("{:x}.{}", id_, request_sequence_);
  const double ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - request_start_).count();
  std::string_view path(target_);
  path = path.substr(0, std::min<size_t>(path.find('?'), 256));
  core::Log(level, "request",
            {{"id", std::move(id)},
             {"method", method_ == http::verb::unknown ? std::string("-") : std::string(http::to_string(method_))},
             {"path", std::string(path)},
             {"status", std::to_string(response.status)},
             {"model", response.model},
             {"version", response.version},
             {"latency_ms", fmt::format("{:.3f}", ms)}});
}

void HttpConnection::LingeringClose() {
  // Half-close and read what the client still sends (a body we refused), so
  // it sees our response instead of a reset. Bounded in time and bytes.
  state_ = State::kClosing;
  error_code ignored;
  socket_.shutdown(asio::ip::tcp::socket::shutdown_send, ignored);
  buffer_.consume(buffer_.size());
  lingered_bytes_ = 0;
  SetDeadline(kLingerTime);
  socket_.async_read_some(buffer_.prepare(kReadSize),
                          [self = shared_from_this()](error_code ec, size_t n) { self->OnLingerRead(ec, n); });
}

void HttpConnection::OnLingerRead(error_code ec, size_t bytes) {
  lingered_bytes_ += bytes;
  // Up to a whole body we could have taken: a client refused for memory
  // (503, 507) before sending it reads our answer instead of a reset.
  if (ec || timed_out_ || lingered_bytes_ > std::max<uint64_t>(kMaxLingerBytes, context_.options.max_request_bytes)) {
    return Close();
  }
  socket_.async_read_some(buffer_.prepare(kReadSize),
                          [self = shared_from_this()](error_code ec, size_t n) { self->OnLingerRead(ec, n); });
}

void HttpConnection::Close() {
  state_ = State::kClosing;
  stream_.reset();  // it holds this connection
  ClearDeadline();
  ++timer_generation_;
  timer_armed_ = false;
  timer_.cancel();
  error_code ignored;
  socket_.shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
  socket_.close(ignored);
}

}  // namespace berth::server
