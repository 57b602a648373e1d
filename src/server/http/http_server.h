// HttpServer: the HTTP transport. Owns the I/O threads (one io_context each;
// connections are spread over them round-robin and stay on theirs, so no
// connection's handlers ever need a lock or wake another thread), the
// listening socket and the set of open connections, and hands each request
// to the route its RouteTable matches. Knows no protocol and holds no model
// state: the protocols (server/kserve/, ...) fill the route table.
//
// Shutdown: BeginDrain stops accepting (the port closes), closes idle
// keep-alive connections, and lets each busy connection finish its current
// request, answer it with "Connection: close" and close. WaitUntilDrained
// returns once no connection is left (or at the deadline). Stop then stops
// the I/O threads.
//
// Thread safety: all public methods may be called from any thread but the
// I/O threads.
#pragma once

#include <atomic>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <vector>

#include "core/status.h"
#include "server/http/auth.h"
#include "server/http/http_connection.h"
#include "server/http/http_metrics.h"
#include "server/http/route_table.h"
#include "server/metrics.h"
#include "server/server_options.h"

namespace berth::server {

class HttpServer {
 public:
  // Connections accepted beyond --max-connections for health probes only.
  static constexpr size_t kProbeSlots = 16;

  // Binds and listens (errors name the address), then starts the I/O threads.
  // `routes` must outlive the server; the HTTP metrics are rendered through
  // `metrics` (a collector).
  // `memory`: the budget request bodies are charged to (null: none).
  static core::Result<std::unique_ptr<HttpServer>> Start(const RouteTable& routes, const ServerOptions& options,
                                                         ServerMetrics& metrics, core::MemoryBudget* memory);
  ~HttpServer();

  uint16_t port() const { return port_; }
  std::string address() const;
  void BeginDrain();
  bool WaitUntilDrained(std::chrono::steady_clock::time_point deadline);
  size_t open_connections() const;
  void Stop();

 private:
  HttpServer(const RouteTable& routes, const ServerOptions& options, ServerMetrics& metrics,
             core::MemoryBudget* memory);
  void Accept();
  void OnAccept(boost::system::error_code ec, boost::asio::ip::tcp::socket socket);
  void OnConnectionClosed(uint64_t id);
  void RunIoThread(int index);

  const RouteTable& routes_;
  const ServerOptions options_;
  ApiKeyAuthenticator auth_;
  std::shared_ptr<HttpMetrics> metrics_;
  std::atomic<bool> draining_{false};
  std::unique_ptr<HttpConnectionContext> context_;

  mutable std::mutex mutex_;
  std::condition_variable drained_;
  std::unordered_map<uint64_t, std::weak_ptr<HttpConnection>> connections_;
  uint64_t next_connection_id_ = 1;
  bool stopped_ = false;

  // Declared after everything a connection touches in its destructor: the
  // io_contexts destroy pending handlers (and so connections) first.
  using WorkGuard = boost::asio::executor_work_guard<boost::asio::io_context::executor_type>;
  std::vector<std::unique_ptr<boost::asio::io_context>> io_contexts_;
  std::vector<WorkGuard> work_;
  size_t next_context_ = 0;
  boost::asio::ip::tcp::acceptor acceptor_;
  uint16_t port_ = 0;
  std::vector<std::thread> threads_;
};

}  // namespace berth::server
