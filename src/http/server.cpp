#include "http/server.hpp"

#include <spdlog/spdlog.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>

#include "http/response.hpp"

namespace ap::http {

namespace asio = boost::asio;
namespace beast = boost::beast;
using asio::ip::tcp;
constexpr auto kUseTuple = asio::as_tuple(asio::use_awaitable);

namespace {

// What a request that could not be read gets: a JSON answer where the protocol allows one.
std::optional<Error> ReadFailureAnswer(const beast::error_code& ec) {
  if (ec == bhttp::error::body_limit) return MakeError(Errc::kPayloadTooLarge, "Request body is too large");
  if (ec == bhttp::error::header_limit) return MakeError(Errc::kHeadersTooLarge, "Request headers are too large");
  if (ec.category() == bhttp::make_error_code(bhttp::error::end_of_stream).category() &&
      ec != bhttp::error::end_of_stream && ec != bhttp::error::partial_message)
    return MakeError(Errc::kBadRequest, "Malformed HTTP request");
  return std::nullopt;
}

void LogHandlerException(std::exception_ptr e) {
  if (!e) return;
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& ex) {
    spdlog::error("connection ended by an exception: {}", ex.what());
  }
}

bool WantsContinue(const Request& request) {
  auto it = request.find(bhttp::field::expect);
  return it != request.end() && beast::iequals(it->value(), "100-continue");
}

struct InFlightGuard {
  explicit InFlightGuard(std::atomic<size_t>& n) : n_(n) { ++n_; }
  ~InFlightGuard() { --n_; }
  std::atomic<size_t>& n_;
};

}  // namespace

Server::Server(IoPool& io, ServerOptions options, Handler handler)
    : io_(io), options_(std::move(options)), handler_(std::move(handler)), acceptor_(io.First()) {}

Server::~Server() = default;

Status Server::Listen() {
  beast::error_code ec;
  auto address = asio::ip::make_address(options_.host, ec);
  if (ec) return MakeError(Errc::kBadRequest, "invalid listen address '" + options_.host + "'");
  tcp::endpoint endpoint(address, options_.port);
  acceptor_.open(endpoint.protocol(), ec);
  if (!ec) acceptor_.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) acceptor_.bind(endpoint, ec);
  if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
  if (ec)
    return MakeError(Errc::kUnavailable,
                     "cannot listen on " + options_.host + ":" + std::to_string(options_.port) + ": " + ec.message());
  return {};
}

tcp::endpoint Server::LocalEndpoint() const { return acceptor_.local_endpoint(); }

void Server::Start() { asio::co_spawn(acceptor_.get_executor(), AcceptLoop(), LogHandlerException); }

void Server::Stop() {
  stopping_->store(true);
  asio::post(acceptor_.get_executor(), [this] {
    beast::error_code ignored;
    acceptor_.close(ignored);
  });
}

asio::awaitable<void> Server::AcceptLoop() {
  while (!stopping_->load()) {
    auto [ec, socket] = co_await acceptor_.async_accept(io_.Next(), kUseTuple);
    if (ec) {
      if (ec == asio::error::operation_aborted || !acceptor_.is_open()) co_return;
      spdlog::warn("accept failed: {}", ec.message());
      continue;
    }
    socket.set_option(tcp::no_delay(true), ec);
    auto executor = socket.get_executor();
    asio::co_spawn(executor, Serve(std::move(socket)), LogHandlerException);
  }
}

asio::awaitable<void> Server::Serve(tcp::socket socket) {
  beast::tcp_stream stream(std::move(socket));
  beast::flat_buffer buffer;
  // Suspended sessions are destroyed with the I/O pool, after the Server: keep what they touch alive.
  auto stopping = stopping_;
  auto in_flight = in_flight_;
  bool first = true;
  for (;;) {
    bhttp::request_parser<bhttp::string_body> parser;
    parser.body_limit(options_.body_limit);
    parser.header_limit(static_cast<std::uint32_t>(options_.header_limit));
    stream.expires_after(first ? options_.read_timeout : options_.idle_timeout);
    first = false;
    // Wait for the headers under the idle timeout, then give the whole request the read timeout.
    auto [ec, n] = co_await bhttp::async_read_header(stream, buffer, parser, kUseTuple);
    if (!ec && !parser.is_done()) {
      stream.expires_after(options_.read_timeout);
      if (WantsContinue(parser.get())) {
        // curl and others wait up to a second for this before sending a larger body.
        bhttp::response<bhttp::empty_body> proceed(StatusCode::continue_, parser.get().version());
        std::tie(ec, n) = co_await bhttp::async_write(stream, proceed, kUseTuple);
      }
      if (!ec) std::tie(ec, n) = co_await bhttp::async_read(stream, buffer, parser, kUseTuple);
    }
    if (ec) {
      if (auto answer = ReadFailureAnswer(ec)) {
        Response res = ErrorResponse(*answer);
        res.set(bhttp::field::server, options_.server_name);
        res.keep_alive(false);
        stream.expires_after(options_.read_timeout);
        co_await bhttp::async_write(stream, res, kUseTuple);
      }
      break;
    }
    Request request = parser.release();
    Response response;
    {
      InFlightGuard guard(*in_flight);
      stream.expires_never();  // the handler bounds its own work (upstream timeouts)
      response = co_await handler_(request);
    }
    response.version(request.version());
    response.set(bhttp::field::server, options_.server_name);
    response.keep_alive(request.keep_alive() && !stopping->load());
    stream.expires_after(options_.read_timeout);
    auto [write_ec, written] = co_await bhttp::async_write(stream, response, kUseTuple);
    if (write_ec || !response.keep_alive()) break;
  }
  beast::error_code ignored;
  stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
}

void RunUntilSignalled(IoPool& io, std::vector<Server*> servers, std::chrono::milliseconds drain) {
  asio::io_context& main = io.First();
  asio::signal_set signals(main, SIGINT, SIGTERM);
  auto drain_then_stop = [&]() -> asio::awaitable<void> {
    for (auto* s : servers) s->Stop();
    auto deadline = std::chrono::steady_clock::now() + drain;
    asio::steady_timer timer(main);
    auto busy = [&] {
      for (auto* s : servers)
        if (s->InFlight() > 0) return true;
      return false;
    };
    while (busy() && std::chrono::steady_clock::now() < deadline) {
      timer.expires_after(std::chrono::milliseconds(20));
      co_await timer.async_wait(asio::use_awaitable);
    }
    io.Stop();
  };
  signals.async_wait([&](const beast::error_code& ec, int) {
    if (ec) return;
    spdlog::info("shutting down: finishing requests in flight");
    asio::co_spawn(main, drain_then_stop(), LogHandlerException);
  });
  io.Run();
}

}  // namespace ap::http
