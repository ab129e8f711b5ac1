// The server's request reading: the bytes a client sends on one connection in, what the server
// answers out. A real http::Server on loopback, one thread, with a handler that reads a streamed
// body (POST /upload) piece by piece, answers /stream in chunks and /whole as bytes (as the relay
// sends a whole answer), so keep-alive, pipelining, chunked bodies, Expect: 100-continue, the
// limits and malformed requests are all reached.
// Promise checked: whatever comes back is HTTP.

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <string>

#include "fuzz_input.hpp"
#include "http/response.hpp"
#include "http/server.hpp"

namespace {

using namespace ap;
namespace asio = boost::asio;
using asio::ip::tcp;
constexpr auto kUseTuple = asio::as_tuple(asio::use_awaitable);

asio::awaitable<http::Response> Handle(http::Request& request, http::Exchange& exchange) {
  size_t streamed = 0;
  for (;;) {
    auto piece = co_await exchange.ReadBodyPiece();
    if (!piece) co_return http::ErrorResponse(piece.error());
    if (piece->empty()) break;
    streamed += piece->size();
  }
  std::string shape = std::string(request.method_string()) + " " + std::string(request.target()) + " " +
                      std::to_string(request.body().size() + streamed);
  if (request.target() == "/stream") {
    http::AnswerHead head;
    exchange.StartAnswer(head);
    if (!co_await exchange.WritePiece(shape)) co_return http::Response{};
    (void)co_await exchange.EndAnswer({});
    co_return http::Response{};
  }
  if (request.target() == "/whole") {  // a whole answer sent as bytes, as the relay sends one
    http::AnswerHead head;
    head.Add("content-type", "text/plain");
    (void)co_await exchange.SendAnswer(head, shape);
    co_return http::Response{};
  }
  http::Response res{http::StatusCode::ok, request.version()};
  res.body() = shape;
  res.prepare_payload();
  co_return res;
}

struct Harness {
  Harness() {
    http::ServerOptions options;
    options.port = 0;
    options.body_limit = 4096;
    options.streamed_body_limit = 16384;
    options.header_limit = 2048;
    options.read_timeout = std::chrono::seconds(5);
    options.idle_timeout = std::chrono::seconds(5);
    server = std::make_unique<http::Server>(io, options, Handle,
                                            [](const http::RequestHead& head) { return head.target() == "/upload"; });
    if (!server->Listen()) fuzz::Broken("the server listens on loopback");
    server->Start();
    endpoint = server->LocalEndpoint();
  }
  http::IoPool io{1};
  std::unique_ptr<http::Server> server;
  tcp::endpoint endpoint;
};

asio::awaitable<void> Client(tcp::endpoint endpoint, std::string_view sent, std::string& answer, bool& done) {
  tcp::socket socket(co_await asio::this_coro::executor);
  auto [connect_ec] = co_await socket.async_connect(endpoint, kUseTuple);
  if (!connect_ec) {
    // A server that answers before reading everything may close first: read its answer anyway.
    (void)co_await asio::async_write(socket, asio::buffer(sent), kUseTuple);
    boost::system::error_code ignored;
    socket.shutdown(tcp::socket::shutdown_send, ignored);
    char buffer[4096];
    for (;;) {
      auto [read_ec, n] = co_await socket.async_read_some(asio::buffer(buffer), kUseTuple);
      answer.append(buffer, n);
      if (read_ec) break;
    }
  }
  done = true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static Harness& harness = *new Harness;
  std::string_view sent = fuzz::Text(data, size);
  std::string answer;
  bool done = false;
  auto& io = harness.io.First();
  asio::co_spawn(io, Client(harness.endpoint, sent, answer, done), asio::detached);
  while (!done) io.run_one();
  io.poll();
  if (!answer.empty() && answer.rfind("HTTP/1.", 0) != 0) fuzz::Broken("the server answers in HTTP");
  return 0;
}
