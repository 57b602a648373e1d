#include "server/http/http_server.h"

#include <pthread.h>

#include <boost/asio/post.hpp>
#include <system_error>

#include "core/logging.h"

namespace berth::server {
namespace asio = boost::asio;
using asio::ip::tcp;

namespace {

const std::string& TooManyConnectionsResponse() {
  static const std::string response = [] {
    std::string body = "{\"error\":\"too many open connections\"}";
    return fmt::format(
        "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nContent-Length: {}\r\n"
        "Retry-After: 1\r\nConnection: close\r\n\r\n{}",
        body.size(), body);
  }();
  return response;
}

std::vector<std::unique_ptr<asio::io_context>> MakeContexts(int count) {
  std::vector<std::unique_ptr<asio::io_context>> contexts;
  for (int i = 0; i < std::max(count, 1); ++i) contexts.push_back(std::make_unique<asio::io_context>(1));
  return contexts;
}

std::vector<asio::executor_work_guard<asio::io_context::executor_type>> MakeWorkGuards(
    const std::vector<std::unique_ptr<asio::io_context>>& contexts) {
  std::vector<asio::executor_work_guard<asio::io_context::executor_type>> guards;
  for (const auto& context : contexts) guards.push_back(asio::make_work_guard(*context));
  return guards;
}

core::Result<tcp::endpoint> ResolveEndpoint(asio::io_context& io_context, const std::string& host, int port) {
  boost::system::error_code ec;
  auto address = asio::ip::make_address(host, ec);
  if (!ec) return tcp::endpoint(address, static_cast<unsigned short>(port));
  tcp::resolver resolver(io_context);
  auto results = resolver.resolve(host, std::to_string(port), ec);
  if (ec || results.empty()) return core::InvalidArgument("cannot resolve --host '{}': {}", host, ec.message());
  return results.begin()->endpoint();
}

}  // namespace

HttpServer::HttpServer(const RouteTable& routes, const ServerOptions& options, ServerMetrics& metrics,
                       core::MemoryBudget* memory)
    : routes_(routes),
      options_(options),
      auth_(options.api_keys),
      metrics_(std::make_shared<HttpMetrics>(routes.labels())),
      io_contexts_(MakeContexts(options.http_threads)),
      work_(MakeWorkGuards(io_contexts_)),
      acceptor_(*io_contexts_[0]) {
  context_ = std::make_unique<HttpConnectionContext>(HttpConnectionContext{
      options_, routes_, auth_, *metrics_, draining_, memory, [this](uint64_t id) { OnConnectionClosed(id); }});
  std::weak_ptr<HttpMetrics> weak = metrics_;
  metrics.AddCollector([weak](std::string& out) {
    if (auto metrics = weak.lock()) metrics->Render(out);
  });
}

core::Result<std::unique_ptr<HttpServer>> HttpServer::Start(const RouteTable& routes, const ServerOptions& options,
                                                            ServerMetrics& metrics, core::MemoryBudget* memory) {
  std::unique_ptr<HttpServer> http(new HttpServer(routes, options, metrics, memory));
  ASSIGN_OR_RETURN(tcp::endpoint endpoint, ResolveEndpoint(*http->io_contexts_[0], options.host, options.port));
  boost::system::error_code ec;
  auto where = [&] { return fmt::format("{}:{}", options.host, options.port); };
  http->acceptor_.open(endpoint.protocol(), ec);
  if (!ec) http->acceptor_.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) http->acceptor_.bind(endpoint, ec);
  if (ec) return core::Unavailable("cannot listen on {}: {}", where(), ec.message());
  http->acceptor_.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) return core::Unavailable("cannot listen on {}: {}", where(), ec.message());
  http->port_ = http->acceptor_.local_endpoint().port();
  http->Accept();
  try {
    for (size_t i = 0; i < http->io_contexts_.size(); ++i) {
      http->threads_.emplace_back([raw = http.get(), i] { raw->RunIoThread(static_cast<int>(i)); });
    }
  } catch (const std::system_error& e) {
    // Out of threads (a pids limit, RLIMIT_NPROC): the destructor stops the ones that started.
    return core::ResourceExhausted("cannot start HTTP thread {} of {}: {}", http->threads_.size() + 1,
                                   http->io_contexts_.size(), e.what());
  }
  return http;
}

HttpServer::~HttpServer() { Stop(); }

std::string HttpServer::address() const { return fmt::format("{}:{}", options_.host, port_); }

void HttpServer::RunIoThread(int index) {
  std::string name = fmt::format("berth-http-{}", index);
  pthread_setname_np(pthread_self(), name.substr(0, 15).c_str());
  for (;;) {
    try {
      io_contexts_[static_cast<size_t>(index)]->run();
      return;
    } catch (const std::exception& e) {
      // A handler threw (a bug, or memory exhaustion): log and keep serving.
      core::LogError("HTTP I/O thread caught an exception", {{"error", e.what()}});
    }
  }
}

void HttpServer::Accept() {
  asio::io_context& context = *io_contexts_[next_context_++ % io_contexts_.size()];
  acceptor_.async_accept(context,
                         [this](boost::system::error_code ec, tcp::socket socket) { OnAccept(ec, std::move(socket)); });
}

void HttpServer::OnAccept(boost::system::error_code ec, tcp::socket socket) {
  if (draining_ || !acceptor_.is_open()) return;
  if (ec) {
    if (ec != asio::error::operation_aborted) {
      core::LogWarning("accept failed", {{"error", ec.message()}});
      // Out of descriptors and the like: back off a little instead of spinning.
      auto timer = std::make_shared<asio::steady_timer>(acceptor_.get_executor(), std::chrono::milliseconds(50));
      timer->async_wait([this, timer](boost::system::error_code) { Accept(); });
    }
    return;
  }
  boost::system::error_code ignored;
  socket.set_option(tcp::no_delay(true), ignored);
  std::shared_ptr<HttpConnection> connection;
  {
    std::lock_guard lock(mutex_);
    // Beyond --max-connections a few slots stay for health probes, so that a
    // flood of idle clients does not make liveness fail and get a healthy
    // pod restarted.
    const bool probe_only = connections_.size() >= options_.max_connections;
    if (connections_.size() >= options_.max_connections + kProbeSlots) {
      metrics_->rejected_connections.fetch_add(1);
      socket.non_blocking(true, ignored);
      socket.write_some(asio::buffer(TooManyConnectionsResponse()), ignored);
      socket.shutdown(tcp::socket::shutdown_both, ignored);
      socket.close(ignored);
    } else {
      const uint64_t id = next_connection_id_++;
      connection = std::make_shared<HttpConnection>(std::move(socket), *context_, id, probe_only);
      connections_.emplace(id, connection);
      metrics_->accepted_connections.fetch_add(1);
      metrics_->open_connections.fetch_add(1);
    }
  }
  if (connection) connection->Start();
  Accept();
}

void HttpServer::OnConnectionClosed(uint64_t id) {
  std::lock_guard lock(mutex_);
  connections_.erase(id);
  metrics_->open_connections.fetch_sub(1);
  if (connections_.empty()) drained_.notify_all();
}

void HttpServer::BeginDrain() {
  draining_ = true;
  asio::post(acceptor_.get_executor(), [this] {
    boost::system::error_code ignored;
    acceptor_.close(ignored);
  });
  std::vector<std::shared_ptr<HttpConnection>> open;
  {
    std::lock_guard lock(mutex_);
    for (auto& [id, weak] : connections_) {
      if (auto connection = weak.lock()) open.push_back(std::move(connection));
    }
  }
  for (auto& connection : open) connection->Drain();
}

bool HttpServer::WaitUntilDrained(std::chrono::steady_clock::time_point deadline) {
  std::unique_lock lock(mutex_);
  return drained_.wait_until(lock, deadline, [this] { return connections_.empty(); });
}

size_t HttpServer::open_connections() const {
  std::lock_guard lock(mutex_);
  return connections_.size();
}

void HttpServer::Stop() {
  {
    std::lock_guard lock(mutex_);
    if (stopped_) return;
    stopped_ = true;
  }
  draining_ = true;
  for (auto& guard : work_) guard.reset();
  for (auto& context : io_contexts_) context->stop();
  for (auto& thread : threads_) thread.join();
  threads_.clear();
}

}  // namespace berth::server
