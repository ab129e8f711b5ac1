#pragma once
// An HTTP/1.1 server on Asio coroutines: keep-alive, a body limit, read and idle timeouts, and a
// graceful drain. Every request gets an answer: a protocol error becomes a JSON 4xx, never a crash.
// Thread-safety: Start and Stop may be called from any thread; the handler runs on the I/O threads
// and must not block.

#include <atomic>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/signal_set.hpp>
#include <chrono>
#include <memory>
#include <string>

#include "core/error.hpp"
#include "http/io_pool.hpp"
#include "http/message.hpp"
#include "http/router.hpp"

namespace ap::http {

class TlsCredentials;
class Deadline;

// The largest body a route relays as it arrives (uploads), unless the options say otherwise.
inline constexpr size_t kStreamedBodyLimit = 64 << 20;

struct ServerOptions {
  std::string host = "127.0.0.1";
  uint16_t port = 8080;  // 0 picks a free port
  size_t body_limit = 1 << 20;
  size_t streamed_body_limit = kStreamedBodyLimit;  // bodies relayed without being held in memory (uploads)
  size_t header_limit = 16 << 10;
  std::chrono::seconds read_timeout{30};  // for one whole request; an upload's, see min_upload_rate
  // An upload (a body relayed as it arrives) may take longer than read_timeout, by a second for
  // each min_upload_rate bytes it sent: a client that dribbles one is dropped as one that dribbles
  // its headers is.
  size_t min_upload_rate = 4096;
  std::chrono::seconds idle_timeout{75};  // between requests on a kept-alive connection
  std::string server_name = "aipassport";
  // HTTPS when both are set: a PEM certificate chain and its private key. Answers then carry
  // Strict-Transport-Security.
  std::string tls_cert_file;
  std::string tls_key_file;
  // How often the two files are checked for a change (a renewal) while serving.
  std::chrono::milliseconds tls_check_interval{1000};
};

class Server {
 public:
  // `streams_body` says which requests leave their body on the wire for the handler to read.
  Server(IoPool& io, ServerOptions options, Handler handler, StreamsBody streams_body = {});
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Loads the TLS certificate if any, binds and listens; fails with a readable message (address in
  // use, bad address, unreadable or mismatched certificate and key...).
  Status Listen();
  bool ServesTls() const;
  boost::asio::ip::tcp::endpoint LocalEndpoint() const;
  // Starts accepting; each connection goes to the pool's next thread. With TLS, also reloads the
  // certificate and key when their files change or on SIGHUP: new connections get the new pair, a
  // pair that does not load leaves the old one in use, and both are logged.
  void Start();
  // Stops accepting; connections close after the request they are serving.
  void Stop();
  // Requests being handled right now.
  size_t InFlight() const { return in_flight_->load(); }
  // Their count, for a reader that may outlive the server.
  std::shared_ptr<const std::atomic<size_t>> InFlightCount() const { return in_flight_; }
  // Connections open right now (kept-alive idle ones included).
  size_t OpenConnections() const { return connections_->load(); }

 private:
  boost::asio::awaitable<void> AcceptLoop();
  boost::asio::awaitable<void> Serve(boost::asio::ip::tcp::socket socket);
  template <class Stream>
  boost::asio::awaitable<void> ServeStream(Stream& stream, Deadline& deadline);

  IoPool& io_;
  ServerOptions options_;
  Handler handler_;
  StreamsBody streams_body_;
  boost::asio::ip::tcp::acceptor acceptor_;
  std::shared_ptr<TlsCredentials> tls_;
  std::shared_ptr<boost::asio::signal_set> hangup_;
  std::shared_ptr<std::atomic<bool>> stopping_ = std::make_shared<std::atomic<bool>>(false);
  std::shared_ptr<std::atomic<size_t>> in_flight_ = std::make_shared<std::atomic<size_t>>(0);
  std::shared_ptr<std::atomic<size_t>> connections_ = std::make_shared<std::atomic<size_t>>(0);
};

// Catches SIGINT and SIGTERM from its making: one that comes before Run (while the broker starts,
// or just after it says it listens) is kept for Run, rather than ending the process at once
// without its drain (leases not handed back, usage not written).
class ShutdownSignals {
 public:
  explicit ShutdownSignals(IoPool& io);
  ShutdownSignals(const ShutdownSignals&) = delete;
  ShutdownSignals& operator=(const ShutdownSignals&) = delete;

  // Runs `io` until SIGINT or SIGTERM (or at once, for one that came since the making), then stops
  // `servers`, waits up to `drain` for their in-flight requests and returns.
  void Run(std::vector<Server*> servers, std::chrono::milliseconds drain);

 private:
  IoPool& io_;
  boost::asio::signal_set signals_;
};

}  // namespace ap::http
