// HttpConnection: one accepted TCP connection. Reads a request (Beast's
// parser, with berth's limits and stricter framing checks), hands it to the
// routes, writes the response, and repeats (keep-alive). Requests on one
// connection are handled strictly one after another, so pipelined requests
// are answered in order.
//
// Limits and what they answer:
//   request line + headers > --max-header-bytes        431 (414 if the target alone is too long)
//   target > --max-uri-bytes                           414
//   Content-Length > --max-request-bytes               413, before any body byte is read
//   body > --max-request-memory                        507, before any body byte is read
//   body does not fit in --memory-budget now           503, before any body byte is read
//   chunked body > --max-request-bytes, or more than
//   kMaxChunks chunks                                  413
//   duplicate Content-Length, Content-Length with
//   Transfer-Encoding, several Transfer-Encodings,
//   chunked not last, malformed chunks/headers         400 (501 for unknown transfer codings)
//   Content-Encoding other than gzip/deflate/identity,
//   or a list of codings                               415
//   gzip/deflate body > --max-request-bytes inflated   413, inflating stops at the limit
//   corrupt or truncated gzip/deflate body             400
// Responses of 1 KiB and more are compressed when Accept-Encoding allows
// gzip or deflate.
//   request not complete within --request-timeout-secs 408
//   no request for --idle-timeout-secs                 connection closed quietly
// A connection that answered an error it cannot recover from (the body was
// not read) closes after the response, lingering briefly so the client can
// read it.
//
// Threading: a connection lives on one io_context, run by one I/O thread, so
// its handlers never run concurrently; responses from other threads are
// posted onto that context.
//
// Timeouts use one lazily re-armed timer per connection: each phase only
// moves `deadline_`; the timer wakes at most every min(request, idle) timeout
// to compare, so a request costs no timer syscalls in the common case.
#pragma once

#include <atomic>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "core/memory_budget.h"
#include "server/http/auth.h"
#include "server/http/http_compression.h"
#include "server/http/http_message.h"
#include "server/http/http_metrics.h"
#include "server/http/route_table.h"
#include "server/server_options.h"

namespace berth::server {

// What every connection of one HttpServer shares. Outlives the connections.
struct HttpConnectionContext {
  const ServerOptions& options;
  const RouteTable& routes;
  const ApiKeyAuthenticator& auth;
  HttpMetrics& metrics;
  const std::atomic<bool>& draining;
  // Request bodies are charged to a per-request account against this
  // budget (null: none) and options.max_request_memory.
  core::MemoryBudget* memory;
  std::function<void(uint64_t id)> on_closed;  // called from the destructor
};

class HttpConnection : public std::enable_shared_from_this<HttpConnection> {
 public:
  // More chunks than this in one request body are refused (413): each costs
  // parser work, and real clients send far larger chunks.
  static constexpr size_t kMaxChunks = 65536;

  // `probe_only`: a connection accepted above --max-connections into one of
  // the slots kept for health probes; it answers a probe route and 503 to
  // anything else, then closes.
  HttpConnection(boost::asio::ip::tcp::socket socket, HttpConnectionContext& context, uint64_t id,
                 bool probe_only = false);
  ~HttpConnection();

  void Start();
  // Shutdown: close now if idle between requests, else after the current
  // response. Thread-safe.
  void Drain();

 private:
  using error_code = boost::system::error_code;
  enum class State { kIdle, kReading, kHandling, kStreaming, kWriting, kClosing };
  class Stream;

  void WaitForRequest();
  void OnFirstBytes(error_code ec, size_t bytes);
  void BeginRequest();
  void OnHeader(error_code ec, size_t bytes);
  void ReadBody();
  void OnBody(error_code ec, size_t bytes);
  void Dispatch();
  // Undoes the body's Content-Encoding in place; false when it answered
  // instead (415 unknown coding, 413 too large once inflated, 400 corrupt).
  bool DecodeBody();
  // While a handler works on a request, one read on the socket notices a
  // client that hangs up (and cancels the request's work); bytes that arrive
  // instead (a pipelined request) are kept for later.
  void WatchForHangup();
  void OnWatch(error_code ec, size_t bytes);
  void FailRead(error_code ec);
  void Fail(unsigned status, std::string_view message);
  void Respond(HttpResponse response);
  void OnWritten(error_code ec, size_t bytes, bool close);
  // A streamed response (HttpStream), on the connection's strand: the head,
  // each piece as a chunk, the last chunk; one write in flight at a time.
  void StartStream(std::shared_ptr<Stream> stream, HttpResponse head);
  void StreamWrite(std::string data);
  void StreamEnd();
  void FlushStream();
  void OnStreamWritten(error_code ec, size_t bytes);
  void LogRequest(const HttpResponse& response);
  void LingeringClose();
  void OnLingerRead(error_code ec, size_t bytes);
  void Close();

  void SetDeadline(std::chrono::steady_clock::duration duration);
  void ClearDeadline();
  void StartTimer(std::chrono::steady_clock::time_point at);
  void OnTimer(error_code ec, uint64_t generation);

  boost::asio::ip::tcp::socket socket_;
  boost::asio::steady_timer timer_;
  std::chrono::steady_clock::time_point deadline_ = std::chrono::steady_clock::time_point::max();
  std::chrono::steady_clock::time_point timer_expiry_;
  std::chrono::steady_clock::duration timer_granularity_;
  bool timer_armed_ = false;
  uint64_t timer_generation_ = 0;
  bool timed_out_ = false;
  HttpConnectionContext& context_;
  const uint64_t id_;
  const bool probe_only_;
  uint64_t request_sequence_ = 0;
  State state_ = State::kIdle;

  boost::beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  std::function<void(std::uint64_t, std::string_view, boost::beast::error_code&)> on_chunk_;
  size_t chunk_count_ = 0;
  bool too_many_chunks_ = false;

  // The request being handled.
  RouteMatch match_;
  http::verb method_ = http::verb::unknown;
  std::string target_;
  bool keep_alive_ = false;
  bool http10_ = false;
  bool body_pending_ = false;                                 // the request's body was not (fully) read
  std::shared_ptr<std::atomic<bool>> cancelled_;              // the handler's, set when the client hangs up
  std::shared_ptr<core::MemoryAccount> memory_;               // the current request's; its body is charged to it
  ContentCoding response_coding_ = ContentCoding::kIdentity;  // from the request's Accept-Encoding
  bool watching_ = false;                                     // WatchForHangup's read is outstanding
  enum class AfterWatch { kNothing, kNextRequest, kLinger } after_watch_ = AfterWatch::kNothing;
  std::chrono::steady_clock::time_point request_start_;

  // The streamed response being written.
  std::shared_ptr<Stream> stream_;
  std::string stream_out_;      // queued, not yet handed to the socket
  std::string stream_writing_;  // the write in flight
  bool stream_in_flight_ = false;
  bool stream_chunked_ = false;
  bool stream_ending_ = false;
  bool stream_close_ = false;

  // The response being written.
  std::string header_out_;
  HttpResponse pending_;
  std::string continue_line_;
  size_t lingered_bytes_ = 0;
};

}  // namespace berth::server
