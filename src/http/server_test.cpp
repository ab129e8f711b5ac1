// Drives the server and the client over loopback.
#include "http/server.hpp"

#include <gtest/gtest.h>
#include <sys/resource.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_future.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/json.hpp>
#include <deque>
#include <future>
#include <mutex>
#include <thread>

#include "http/client.hpp"
#include "http/response.hpp"

namespace ap::http {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;

class ServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ServerOptions options;
    options.host = "127.0.0.1";
    options.port = 0;
    options.body_limit = 1024;
    options.streamed_body_limit = 8 << 20;  // more than a socket takes at once
    options.read_timeout = std::chrono::seconds(1);
    auto streams_body = [](const RequestHead& head) { return head.target().starts_with("/upload"); };
    server_ = std::make_unique<Server>(
        io_, options,
        [this](Request& req, Exchange& exchange) -> asio::awaitable<Response> {
          ++handled_;
          if (req.target() == "/stream") co_return co_await AnswerInPieces(exchange);
          if (req.target() == "/slow-stream")
            co_return co_await AnswerInPieces(exchange, std::chrono::milliseconds(1500));
          if (req.target() == "/flush-then-wait") co_return co_await FlushThenWait(exchange);
          if (req.target() == "/end-only") co_return co_await EndOnly(exchange);
          if (req.target() == "/stream-big") co_return co_await BigPieces(exchange);
          if (req.target() == "/no-content-stream") co_return co_await NoContentInPieces(exchange);
          if (req.target() == "/no-content-whole") co_return co_await SendWholeWithout(exchange, 204);
          if (req.target() == "/not-modified-whole") co_return co_await SendWholeWithout(exchange, 304);
          if (req.target() == "/whole") co_return co_await SendWhole(exchange);
          if (req.target() == "/whole-big") co_return co_await SendWhole(exchange, BigAnswer());
          if (req.target() == "/whole-after-stop") {
            server_->Stop();
            co_return co_await SendWhole(exchange);
          }
          if (req.target() == "/upload") co_return co_await CountUpload(exchange);
          if (req.target() == "/upload-refused") co_return ErrorResponse(Errc::kForbidden, "not this one");
          co_return JsonResponse(StatusCode::ok, boost::json::object{{"echo", req.body()}, {"target", req.target()}});
        },
        streams_body);
    ASSERT_TRUE(server_->Listen());
    server_->Start();
    thread_ = std::thread([this] { io_.Run(); });
    origin_ = ParseBaseUrl("http://127.0.0.1:" + std::to_string(server_->LocalEndpoint().port())).value();
  }
  void TearDown() override {
    server_->Stop();
    io_.Stop();
    thread_.join();
  }

  Result<Response> Send(CallHead call, std::string body = {}) {
    return asio::co_spawn(io_.First(), client_.Send(origin_, std::move(call), std::move(body)), asio::use_future).get();
  }

  static asio::awaitable<Response> AnswerInPieces(Exchange& exchange,
                                                  std::chrono::milliseconds pause = std::chrono::milliseconds(0)) {
    AnswerHead head;
    head.Add("Content-Type", "text/event-stream");
    asio::steady_timer timer(co_await asio::this_coro::executor);
    exchange.StartAnswer(head);
    if (co_await exchange.Flush())
      for (int i = 0; i < 3; ++i) {
        timer.expires_after(pause);
        co_await timer.async_wait(asio::use_awaitable);
        std::string event = "data: " + std::to_string(i) + "\n\n";  // named: g++ 12 and temporaries in co_await
        co_await exchange.WritePiece(event);
      }
    co_await exchange.EndAnswer({});
    co_return Response();
  }

  // Starts an answer, flushes its head, and writes its one event only once the test says so.
  asio::awaitable<Response> FlushThenWait(Exchange& exchange) {
    AnswerHead head;
    head.Add("Content-Type", "text/event-stream");
    exchange.StartAnswer(head);
    co_await exchange.Flush();
    asio::steady_timer timer(co_await asio::this_coro::executor);
    for (int i = 0; i < 2000 && !released_; ++i) {  // 20 s at most: longer than the test waits for the head
      timer.expires_after(std::chrono::milliseconds(10));
      co_await timer.async_wait(asio::use_awaitable);
    }
    std::string event = "data: late\n\n";
    co_await exchange.WritePiece(event);
    co_await exchange.EndAnswer({});
    co_return Response();
  }

  static asio::awaitable<Response> EndOnly(Exchange& exchange) {
    AnswerHead head;
    exchange.StartAnswer(head);
    co_await exchange.EndAnswer("data: all\n\n");
    co_return Response();
  }

  // Past what a loopback socket takes at once: the rest is written as the client reads.
  static constexpr size_t kBigAnswer = 8 << 20;
  static std::string_view BigAnswer() {
    static const std::string big(kBigAnswer, 'w');
    return big;
  }

  // Two pieces, each larger than the socket takes at once and each of its own bytes, then an end:
  // the rest of each is written as the client reads, before the next piece goes.
  static std::string PatternedPiece(char first) {
    std::string piece(kBigAnswer, ' ');
    for (size_t i = 0; i < piece.size(); ++i) piece[i] = static_cast<char>(first + static_cast<char>(i % 23));
    return piece;
  }
  static asio::awaitable<Response> BigPieces(Exchange& exchange) {
    AnswerHead head;
    exchange.StartAnswer(head);
    std::string first = PatternedPiece('a'), second = PatternedPiece('A');
    if (co_await exchange.WritePiece(first) && co_await exchange.WritePiece(second)) co_await exchange.EndAnswer("end");
    co_return Response();
  }

  // Answers that have no body, given one all the same.
  static asio::awaitable<Response> NoContentInPieces(Exchange& exchange) {
    AnswerHead head(204);
    exchange.StartAnswer(head);
    std::string event = "data: x\n\n";  // named: g++ 12 and temporaries in co_await
    if (co_await exchange.WritePiece(event)) co_await exchange.EndAnswer("end");
    co_return Response();
  }
  static asio::awaitable<Response> SendWholeWithout(Exchange& exchange, unsigned status) {
    AnswerHead head(status);
    co_await exchange.SendAnswer(head, "a body it may not have");
    co_return Response();
  }

  static asio::awaitable<Response> SendWhole(Exchange& exchange, std::string_view body = R"({"sent":"whole"})") {
    AnswerHead head(201);
    head.Add("content-type", "application/json");
    head.Add("x-note", "one");
    co_await exchange.SendAnswer(head, body);
    co_return ErrorResponse(Errc::kInternal, "a handler's answer after SendAnswer is not sent");
  }

  static asio::awaitable<Response> CountUpload(Exchange& exchange) {
    size_t bytes = 0;
    for (;;) {
      auto piece = co_await exchange.ReadBodyPiece();
      if (!piece) co_return ErrorResponse(piece.error());
      if (piece->empty()) break;
      bytes += piece->size();
    }
    co_return JsonResponse(StatusCode::ok, boost::json::object{{"bytes", bytes}});
  }

  // The body of a GET of `target`, which must come chunked, read with the client; or what went wrong.
  std::string ReadChunked(std::string target, size_t limit = 1 << 20) {
    auto read = [&]() -> asio::awaitable<std::string> {
      CallHead call(Verb::get, target);
      auto answer = co_await client_.Open(origin_, call);
      if (!answer) co_return "error: " + answer.error().message;
      if ((*answer)->Head()[bhttp::field::transfer_encoding] != "chunked") co_return "error: not chunked";
      auto body = co_await (*answer)->ReadRest(limit);
      co_return body ? *body : "error: " + body.error().message;
    };
    return asio::co_spawn(io_.First(), read(), asio::use_future).get();
  }

  // Reads from `s` until `out` holds `marker`; false if it has not come within 10 s. A plain recv,
  // which honours SO_RCVTIMEO (Asio's synchronous reads wait on past it), so that a test fails
  // rather than hangs.
  static bool ReadUntil(asio::ip::tcp::socket& s, std::string& out, std::string_view marker) {
    timeval guard{10, 0};
    ::setsockopt(s.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &guard, sizeof guard);
    char bytes[4096];
    while (out.find(marker) == std::string::npos) {
      ssize_t n = ::recv(s.native_handle(), bytes, sizeof bytes, 0);
      if (n <= 0) return false;
      out.append(bytes, static_cast<size_t>(n));
    }
    return true;
  }

  // Writes raw bytes and returns everything the server answers until it closes.
  std::string Raw(const std::string& bytes) {
    asio::io_context io;
    asio::ip::tcp::socket s(io);
    s.connect(server_->LocalEndpoint());
    asio::write(s, asio::buffer(bytes));
    std::string out;
    boost::system::error_code ec;
    asio::read(s, asio::dynamic_buffer(out), ec);
    return out;
  }

  IoPool io_{2};
  std::unique_ptr<Server> server_;
  std::thread thread_;
  HttpClient client_{ClientOptions{}};
  Origin origin_;
  std::atomic<int> handled_{0};
  std::atomic<bool> released_{false};
};

TEST_F(ServerTest, ServesAndReusesConnections) {
  for (int i = 0; i < 3; ++i) {
    auto res = Send(CallHead(Verb::post, "/x?y=1"), "hello");
    ASSERT_TRUE(res) << res.error().message;
    EXPECT_EQ(res->result(), StatusCode::ok);
    EXPECT_EQ(boost::json::parse(res->body()).at("echo").as_string(), "hello");
    EXPECT_EQ(res->at(bhttp::field::server), "aipassport");
  }
  EXPECT_EQ(handled_, 3);
}

TEST_F(ServerTest, AnswersOversizedBodiesWith413Json) {
  auto res = Send(CallHead(Verb::post, "/x"), std::string(4096, 'a'));
  ASSERT_TRUE(res) << res.error().message;
  EXPECT_EQ(res->result(), StatusCode::payload_too_large);
  EXPECT_EQ(boost::json::parse(res->body()).at("type").as_string(), "payload_too_large");
  EXPECT_EQ(handled_, 0);
}

TEST_F(ServerTest, AnswersOversizedHeadersWith431Json) {
  std::string answer = Raw("GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(20000, 'a') + "\r\n\r\n");
  EXPECT_NE(answer.find("431 Request Header Fields Too Large"), std::string::npos) << answer.substr(0, 200);
  EXPECT_NE(answer.find("headers_too_large"), std::string::npos);
  EXPECT_EQ(handled_, 0);
}

TEST_F(ServerTest, SendsContinueBeforeReadingABodyThatWaitsForIt) {
  asio::io_context io;
  asio::ip::tcp::socket s(io);
  s.connect(server_->LocalEndpoint());
  asio::write(
      s, asio::buffer(std::string("POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n")));
  std::string interim;
  ASSERT_TRUE(ReadUntil(s, interim, "\r\n\r\n")) << "no interim answer: " << interim;
  EXPECT_EQ(interim, "HTTP/1.1 100 Continue\r\n\r\n");
  boost::system::error_code ec;
  asio::write(s, asio::buffer(std::string("hello")));
  std::string rest;
  s.shutdown(asio::ip::tcp::socket::shutdown_send);
  asio::read(s, asio::dynamic_buffer(rest), ec);
  EXPECT_NE(rest.find("200 OK"), std::string::npos) << rest;
  EXPECT_NE(rest.find("\"echo\":\"hello\""), std::string::npos);
}

// A body relayed as it comes is asked for only when the handler reads it: a call refused before
// that (say, without a token) is answered at once, never invited to send its upload.
TEST_F(ServerTest, AnUploadIsAskedForOnlyWhenItsHandlerReadsIt) {
  for (std::string_view target : {"/upload", "/upload-refused"}) {
    asio::io_context io;
    asio::ip::tcp::socket s(io);
    s.connect(server_->LocalEndpoint());
    asio::write(s, asio::buffer("POST " + std::string(target) +
                                " HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n"));
    std::string first;
    ASSERT_TRUE(ReadUntil(s, first, "\r\n\r\n")) << target << ": no answer: " << first;
    if (target == "/upload-refused") {
      EXPECT_TRUE(first.starts_with("HTTP/1.1 403 Forbidden")) << first;
      EXPECT_NE(first.find("Connection: close"), std::string::npos) << first;
      continue;
    }
    EXPECT_EQ(first, "HTTP/1.1 100 Continue\r\n\r\n");
    asio::write(s, asio::buffer(std::string("hello")));
    std::string rest;
    ASSERT_TRUE(ReadUntil(s, rest, "}")) << rest;
    EXPECT_NE(rest.find("200 OK"), std::string::npos) << rest;
    EXPECT_NE(rest.find("\"bytes\":5"), std::string::npos) << rest;
  }
}

// An HTTP/1.0 client reads no chunks: an answer in pieces goes to it as it is, and ends with the
// connection, even one the client asked to keep.
TEST_F(ServerTest, AnAnswerInPiecesToAnHttp10ClientEndsWithTheConnection) {
  const std::string answer =
      "HTTP/1.0 200 OK\r\nContent-Type: text/event-stream\r\nServer: aipassport\r\n\r\n"
      "data: 0\n\ndata: 1\n\ndata: 2\n\n";
  EXPECT_EQ(Raw("GET /stream HTTP/1.0\r\n\r\n"), answer);
  EXPECT_EQ(Raw("GET /stream HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET /whole HTTP/1.0\r\n\r\n"), answer);
  EXPECT_EQ(Raw("GET /end-only HTTP/1.0\r\n\r\n"), "HTTP/1.0 200 OK\r\nServer: aipassport\r\n\r\ndata: all\n\n");
}

TEST_F(ServerTest, AnHttp10ClientIsSentNoInterimAnswer) {
  for (std::string_view target : {"/x", "/upload"}) {
    std::string answer =
        Raw("POST " + std::string(target) + " HTTP/1.0\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\nhello");
    EXPECT_TRUE(answer.starts_with("HTTP/1.0 200 OK\r\n")) << target << ": " << answer;
    EXPECT_EQ(answer.find("100 Continue"), std::string::npos) << target << ": " << answer;
  }
}

TEST_F(ServerTest, AnswersGarbageWith400Json) {
  std::string answer = Raw("THIS IS NOT HTTP\r\n\r\n");
  EXPECT_NE(answer.find("400 Bad Request"), std::string::npos) << answer;
  EXPECT_NE(answer.find("Malformed HTTP request"), std::string::npos);
  EXPECT_EQ(handled_, 0);
}

// A body framed by anything but chunked alone in HTTP/1.1 is refused and the connection closed:
// read as no body, it would be read as a next request a proxy in front never saw.
TEST_F(ServerTest, ARequestFramedByCodingsOtherThanChunkedIsRefusedNotReadAsTwo) {
  const std::string smuggled = "GET /echo HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n";
  for (std::string framing :
       {"Transfer-Encoding: gzip", "Transfer-Encoding: xchunked", "Transfer-Encoding: chunked, gzip",
        "Transfer-Encoding: gzip, chunked", "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked",
        "Content-Length: 0\r\nTransfer-Encoding: gzip", "Transfer-Encoding: gzip\r\nContent-Length: 0"}) {
    std::string answer = Raw("POST /echo HTTP/1.1\r\nHost: a\r\n" + framing + "\r\n\r\n" + smuggled);
    EXPECT_TRUE(answer.starts_with("HTTP/1.1 400 Bad Request")) << framing << ": " << answer;
    EXPECT_NE(answer.find("Transfer-Encoding: chunked alone"), std::string::npos) << framing << ": " << answer;
    EXPECT_EQ(answer.find("HTTP/1.1", 1), std::string::npos) << framing << ": one answer, then the close";
  }
  std::string old = Raw("POST /echo HTTP/1.0\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\n0\r\n\r\n");
  EXPECT_NE(old.find(" 400 Bad Request"), std::string::npos) << old;
  EXPECT_EQ(handled_, 0);
  std::string sound =
      Raw("POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: Chunked \r\nConnection: close\r\n\r\n"
          "2\r\nab\r\n0\r\n\r\n");
  EXPECT_NE(sound.find("\"echo\":\"ab\""), std::string::npos) << sound;
}

// Beast adds a chunked body's trailer fields to the head, past its header limit: a handler would read
// them as fields sent before the body (an Authorization a proxy in front never saw).
TEST_F(ServerTest, TrailerFieldsAreRefusedNotReadAsTheHeads) {
  for (std::string trailer :
       {std::string("Authorization: Bearer late\r\n"), std::string(20000, 'a').insert(0, "X-Big: ") + "\r\n"}) {
    std::string answer =
        Raw("POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\n0\r\n" + trailer + "\r\n");
    EXPECT_TRUE(answer.starts_with("HTTP/1.1 400 Bad Request")) << answer.substr(0, 200);
    EXPECT_NE(answer.find("Trailer fields are not accepted"), std::string::npos) << answer.substr(0, 200);
  }
  EXPECT_EQ(handled_, 0);
}

// RFC 9112 §3.2: an HTTP/1.1 request names its host in exactly one Host field (two could name two
// origins: one to the origin check, another to a proxy in front). HTTP/1.0 needs none. Beast reads
// any "HTTP/d.d": only 1.0 and 1.1 are served.
TEST_F(ServerTest, ARequestWithoutOneHostOrOfAnotherVersionIsRefused) {
  for (std::string head : {"GET /whole HTTP/1.1\r\n", "GET /whole HTTP/1.1\r\nHost: a\r\nHost: b\r\n",
                           "GET /whole HTTP/1.0\r\nHost: a\r\nHost: b\r\n", "GET /whole HTTP/2.0\r\nHost: a\r\n",
                           "GET /whole HTTP/9.9\r\nHost: a\r\n"}) {
    std::string answer = Raw(head + "\r\n");
    EXPECT_NE(answer.find(" 400 Bad Request"), std::string::npos) << head << ": " << answer;
    EXPECT_EQ(answer.find(" 200 OK"), std::string::npos) << head << ": " << answer;
  }
  EXPECT_EQ(handled_, 0);
  std::string old = Raw("GET /whole HTTP/1.0\r\n\r\n");
  EXPECT_TRUE(old.starts_with("HTTP/1.0 201 Created")) << old;
}

TEST_F(ServerTest, StreamsAnAnswerInChunksAndKeepsTheConnection) {
  for (int round = 0; round < 2; ++round) {
    EXPECT_EQ(ReadChunked("/stream"), "data: 0\n\ndata: 1\n\ndata: 2\n\n");
  }
}

// An answer sent whole as bytes: its status, fields and body framed by their length, the server's
// own fields, and the connection goes on (HTTP/1.1), as the client asks (HTTP/1.0).
TEST_F(ServerTest, AWholeAnswerSentAsBytesIsFramedByItsLengthAndKeepsTheConnection) {
  std::string two =
      Raw("GET /whole HTTP/1.1\r\nHost: x\r\n\r\n"
          "GET /whole HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  const std::string body = "{\"sent\":\"whole\"}";
  const std::string head =
      "HTTP/1.1 201 Created\r\ncontent-type: application/json\r\nx-note: one\r\nServer: aipassport\r\n"
      "Content-Length: 16\r\n";
  EXPECT_EQ(two, head + "\r\n" + body + head + "Connection: close\r\n\r\n" + body);
  EXPECT_EQ(handled_, 2);
  EXPECT_EQ(Raw("GET /whole HTTP/1.0\r\n\r\n"), "HTTP/1.0" + head.substr(8) + "\r\n" + body);
  std::string kept = Raw("GET /whole HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET /whole HTTP/1.0\r\n\r\n");
  EXPECT_EQ(kept, "HTTP/1.0" + head.substr(8) + "Connection: keep-alive\r\n\r\n" + body + "HTTP/1.0" + head.substr(8) +
                      "\r\n" + body);
  // Every Connection field counts, not only the first: a second one that says close is heard.
  EXPECT_EQ(Raw("GET /whole HTTP/1.1\r\nHost: x\r\nConnection: keep-alive\r\nConnection: close\r\n\r\n"
                "GET /whole HTTP/1.1\r\nHost: x\r\n\r\n"),
            head + "Connection: close\r\n\r\n" + body);
  // Proxy-Connection, which old proxies pass on blindly, is not: neither its keep-alive (HTTP/1.0)
  // nor its close (HTTP/1.1).
  EXPECT_EQ(Raw("GET /whole HTTP/1.0\r\nProxy-Connection: keep-alive\r\n\r\nGET /whole HTTP/1.0\r\n\r\n"),
            "HTTP/1.0" + head.substr(8) + "\r\n" + body);
  EXPECT_EQ(Raw("GET /whole HTTP/1.1\r\nHost: x\r\nProxy-Connection: close\r\n\r\n"
                "GET /whole HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"),
            head + "\r\n" + body + head + "Connection: close\r\n\r\n" + body);
  // The server began to stop while the handler worked: the answer says the connection ends.
  EXPECT_EQ(Raw("GET /whole-after-stop HTTP/1.1\r\nHost: x\r\n\r\nGET /whole HTTP/1.1\r\nHost: x\r\n\r\n"),
            head + "Connection: close\r\n\r\n" + body);
}

// An answer that has no body (a 204, a 304) says no length and sends none, whatever its handler
// gave: bytes after its head would be read as the start of the connection's next answer.
TEST_F(ServerTest, AnAnswerWithoutABodySaysNoLengthAndSendsNone) {
  const std::string next = "GET /whole HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
  const std::string whole =
      "HTTP/1.1 201 Created\r\ncontent-type: application/json\r\nx-note: one\r\nServer: aipassport\r\n"
      "Content-Length: 16\r\nConnection: close\r\n\r\n{\"sent\":\"whole\"}";
  for (std::string target : {"/no-content-stream", "/no-content-whole"})
    EXPECT_EQ(Raw("GET " + target + " HTTP/1.1\r\nHost: x\r\n\r\n" + next),
              "HTTP/1.1 204 No Content\r\nServer: aipassport\r\n\r\n" + whole)
        << target;
  EXPECT_EQ(Raw("GET /not-modified-whole HTTP/1.1\r\nHost: x\r\n\r\n" + next),
            "HTTP/1.1 304 Not Modified\r\nServer: aipassport\r\n\r\n" + whole);
}

// The answer to HEAD is the head of the answer to GET, its framing kept, and nothing after it: a
// body sent would be read as the start of the next answer on the connection. For a handler's
// Response, an answer sent whole and one sent in pieces.
TEST_F(ServerTest, AnAnswerToHeadIsTheHeadOfTheAnswerToGetAlone) {
  const std::string next = "GET /whole HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
  const std::string next_answer = Raw(next);
  ASSERT_TRUE(next_answer.starts_with("HTTP/1.1 201 Created\r\n")) << next_answer;
  for (std::string target : {"/json", "/whole", "/stream"}) {
    std::string to_get = Raw("GET " + target + " HTTP/1.1\r\nHost: x\r\n\r\n" + next);
    std::string to_head = Raw("HEAD " + target + " HTTP/1.1\r\nHost: x\r\n\r\n" + next);
    ASSERT_TRUE(to_get.ends_with(next_answer)) << to_get;
    size_t head_end = to_get.find("\r\n\r\n") + 4;
    ASSERT_LT(head_end, to_get.size() - next_answer.size()) << "the answer to GET has a body: " << to_get;
    EXPECT_EQ(to_head, to_get.substr(0, head_end) + next_answer) << target;
  }
}

// A started answer's head waits for its first piece, so that both go out in one write; a handler
// that has nothing yet flushes it, and the client has the head while the handler waits.
TEST_F(ServerTest, AFlushedHeadReachesTheClientBeforeTheFirstPiece) {
  asio::io_context io;
  asio::ip::tcp::socket s(io);
  s.connect(server_->LocalEndpoint());
  asio::write(s, asio::buffer(std::string("GET /flush-then-wait HTTP/1.1\r\nHost: x\r\n\r\n")));
  std::string answer;
  ASSERT_TRUE(ReadUntil(s, answer, "\r\n\r\n")) << "no head while the handler waits";
  EXPECT_TRUE(answer.starts_with("HTTP/1.1 200 OK\r\n")) << answer;
  EXPECT_EQ(answer.find("data:"), std::string::npos);
  released_ = true;
  ASSERT_TRUE(ReadUntil(s, answer, "0\r\n\r\n")) << answer;
  EXPECT_NE(answer.find("data: late\n\n"), std::string::npos) << answer;
}

TEST_F(ServerTest, AnAnswerEndsWithItsLastPiece) { EXPECT_EQ(ReadChunked("/end-only"), "data: all\n\n"); }

TEST_F(ServerTest, AStreamMayPauseLongerThanTheReadTimeout) {
  EXPECT_EQ(ReadChunked("/slow-stream"), "data: 0\n\ndata: 1\n\ndata: 2\n\n");
}

TEST_F(ServerTest, AClientThatStallsMidUploadIsDropped) {
  std::string answer = Raw("POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nonly part of it");
  EXPECT_EQ(answer, "") << "the connection is closed after the read timeout, with nothing to say";
  EXPECT_EQ(handled_, 1);
}

// Each piece within the read timeout, but far under the upload rate the options ask for (4 KB a
// second after the first second here): dropped about a second in, not left open while it dribbles.
TEST_F(ServerTest, AClientThatDribblesAnUploadIsDropped) {
  asio::io_context io;
  asio::ip::tcp::socket s(io);
  s.connect(server_->LocalEndpoint());
  asio::write(s, asio::buffer(std::string("POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n")));
  bool dropped = false;
  for (int drip = 0; drip < 20 && !dropped; ++drip) {  // 10 bytes every 200 ms: 50 bytes a second, for 4 s
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    boost::system::error_code ec;
    asio::write(s, asio::buffer(std::string(10, 'u')), ec);
    char byte;
    ssize_t n = ::recv(s.native_handle(), &byte, 1, MSG_DONTWAIT);
    // Closed, or answered (a refusal, before the body's end).
    dropped = ec || n >= 0 || (errno != EAGAIN && errno != EWOULDBLOCK);
  }
  EXPECT_TRUE(dropped) << "still open after 4 s of dribbling";
}

// A refused upload is read on only so far (1 MiB, a read timeout) before its answer, which then
// closes the connection: a client sending a large body at a rate above the floor does not hold it for
// minutes.
TEST_F(ServerTest, ARefusedUploadIsAnsweredAfterABoundedDrain) {
  asio::io_context io;
  asio::ip::tcp::socket s(io);
  s.connect(server_->LocalEndpoint());
  asio::write(s,
              asio::buffer(std::string("POST /upload-refused HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\n")));
  std::string answer;
  const std::string piece(8192, 'u');
  for (int i = 0; i < 40 && answer.find("\r\n\r\n") == std::string::npos; ++i) {  // 80 KB a second, for 4 s
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    boost::system::error_code ec;
    asio::write(s, asio::buffer(piece), ec);
    char bytes[4096];
    for (ssize_t n; (n = ::recv(s.native_handle(), bytes, sizeof bytes, MSG_DONTWAIT)) > 0;)
      answer.append(bytes, static_cast<size_t>(n));
  }
  EXPECT_TRUE(answer.starts_with("HTTP/1.1 403 Forbidden")) << answer;
  EXPECT_NE(answer.find("Connection: close"), std::string::npos) << answer;
}

TEST_F(ServerTest, StreamsAnUploadPastTheWholeBodyLimit) {
  // The larger one is more than the socket takes at once: the client writes the rest as the server reads.
  for (size_t size : {size_t{200000}, size_t{8} << 20}) {
    auto res = Send(CallHead(Verb::post, "/upload"), std::string(size, 'u'));  // the whole-body limit here is 1024
    ASSERT_TRUE(res) << res.error().message;
    EXPECT_EQ(res->result(), StatusCode::ok);
    EXPECT_EQ(boost::json::parse(res->body()).at("bytes").as_int64(), static_cast<int64_t>(size));
  }
}

TEST_F(ServerTest, AWholeAnswerLargerThanTheSocketTakesArrivesWhole) {
  for (int round = 0; round < 2; ++round) {  // and the connection goes on
    auto res = Send(CallHead(Verb::get, "/whole-big"));
    ASSERT_TRUE(res) << res.error().message;
    EXPECT_EQ(res->result(), StatusCode::created);
    ASSERT_EQ(res->body().size(), kBigAnswer);
    EXPECT_EQ(res->body().find_first_not_of('w'), std::string::npos);
  }
}

TEST_F(ServerTest, StreamedPiecesLargerThanTheSocketTakesArriveWholeAndInOrder) {
  std::string body = ReadChunked("/stream-big", 3 * kBigAnswer);
  ASSERT_EQ(body.size(), 2 * kBigAnswer + 3) << body.substr(0, 200);
  EXPECT_TRUE(body == PatternedPiece('a') + PatternedPiece('A') + "end") << "bytes lost, repeated or out of order";
}

TEST_F(ServerTest, AnUploadRefusedEarlyStillGetsItsAnswerAndTheConnectionLives) {
  for (int round = 0; round < 2; ++round) {
    auto res = Send(CallHead(Verb::post, "/upload-refused"), std::string(300000, 'u'));
    ASSERT_TRUE(res) << res.error().message;
    EXPECT_EQ(res->result(), StatusCode::forbidden);
    EXPECT_TRUE(res->keep_alive());
  }
  auto res = Send(CallHead(Verb::post, "/upload"), std::string((8 << 20) + 1, 'u'));
  ASSERT_TRUE(res) << res.error().message;
  EXPECT_EQ(res->result(), StatusCode::payload_too_large);
}

TEST_F(ServerTest, ClientReportsUnreachableUpstream) {
  auto dead = ParseBaseUrl("http://127.0.0.1:1").value();
  auto res = asio::co_spawn(io_.First(), client_.Send(dead, CallHead(Verb::get, "/")), asio::use_future).get();
  ASSERT_FALSE(res);
  EXPECT_EQ(res.error().code, Errc::kUpstream);
  EXPECT_FALSE(res.error().sent_unanswered) << "the call never reached it";
}

// An upstream that holds every request until `calls` of them are waiting at once, then answers them
// all, and counts the connections it accepts.
class HoldingUpstream {
 public:
  explicit HoldingUpstream(size_t calls, std::string_view answer = kAnswer) : calls_(calls), answer_(answer) {
    asio::co_spawn(io_, Accept(), asio::detached);
    thread_ = std::thread([this] { io_.run(); });
  }
  ~HoldingUpstream() {
    io_.stop();
    thread_.join();
  }
  Origin Url() const {
    return ParseBaseUrl("http://127.0.0.1:" + std::to_string(acceptor_.local_endpoint().port())).value();
  }
  size_t Accepted() const { return accepted_; }

 private:
  using Socket = asio::ip::tcp::socket;
  asio::awaitable<void> Accept() {
    for (;;) {
      auto socket = std::make_shared<Socket>(co_await acceptor_.async_accept(asio::use_awaitable));
      ++accepted_;
      asio::co_spawn(io_, Serve(std::move(socket)), asio::detached);
    }
  }
  asio::awaitable<void> Serve(std::shared_ptr<Socket> socket) {
    beast::flat_buffer buffer;
    for (;;) {
      bhttp::request<bhttp::string_body> request;
      auto [ec, n] = co_await bhttp::async_read(*socket, buffer, request, asio::as_tuple(asio::use_awaitable));
      if (ec) co_return;
      held_.push_back(socket);
      if (held_.size() < calls_) continue;
      for (auto& held : std::exchange(held_, {}))
        asio::async_write(*held, asio::buffer(answer_), [held](auto, auto) {});
    }
  }
  static constexpr std::string_view kAnswer = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";

  size_t calls_;
  std::string_view answer_;
  asio::io_context io_;
  asio::ip::tcp::acceptor acceptor_{io_, {asio::ip::make_address("127.0.0.1"), 0}};
  std::atomic<size_t> accepted_{0};
  std::vector<std::shared_ptr<Socket>> held_;
  std::thread thread_;
};

// An upstream that answers an upload with a 413 as soon as it has read the call's head, and
// closes without reading the body (as a provider does with an upload over its limit); a call to
// any other path (without a body) it answers 200.
class RefusingUpstream {
 public:
  RefusingUpstream() {
    thread_ = std::thread([this] {
      for (;;) {
        asio::ip::tcp::socket s(io_);
        boost::system::error_code ec;
        acceptor_.accept(s, ec);
        if (ec || stopping_) return;
        ++accepted_;
        std::string in;
        asio::read_until(s, asio::dynamic_buffer(in), "\r\n\r\n", ec);
        if (in.starts_with("POST /up ")) {
          asio::write(s, asio::buffer(std::string_view(kRefusal)), ec);
          continue;  // closed with the body unread: a reset follows the answer
        }
        asio::write(s, asio::buffer(std::string_view("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")), ec);
      }
    });
  }
  ~RefusingUpstream() {
    stopping_ = true;
    asio::ip::tcp::socket wake(io_);
    wake.connect(acceptor_.local_endpoint());
    thread_.join();
  }
  Origin Url() const {
    return ParseBaseUrl("http://127.0.0.1:" + std::to_string(acceptor_.local_endpoint().port())).value();
  }
  size_t Accepted() const { return accepted_; }
  static constexpr std::string_view kRefusal =
      "HTTP/1.1 413 Payload Too Large\r\nContent-Length: 19\r\nConnection: close\r\n\r\n{\"error\":\"too big\"}";

 private:
  asio::io_context io_;
  asio::ip::tcp::acceptor acceptor_{io_, {asio::ip::make_address("127.0.0.1"), 0}};
  std::atomic<bool> stopping_{false};
  std::atomic<size_t> accepted_{0};
  std::thread thread_;
};

// The provider's early answer to an upload it will not take is the call's answer, though writing
// the rest of the upload failed; its connection is not used again.
TEST_F(ServerTest, AnAnswerToAnUploadBeforeItsEndIsTheCallsAnswer) {
  RefusingUpstream upstream;
  Origin origin = upstream.Url();
  constexpr size_t kPiece = 64 << 10, kPieces = 256;  // 16 MB: more than the sockets hold
  auto run = [&]() -> asio::awaitable<std::string> {
    auto piece = std::make_shared<std::string>(kPiece, 'u');
    auto given = std::make_shared<size_t>(0);
    BodySource source = [piece, given]() -> asio::awaitable<Result<std::string_view>> {
      co_return ++*given > kPieces ? std::string_view() : std::string_view(*piece);
    };
    CallHead upload(Verb::post, "/up");  // named: g++ 12 and temporaries in co_await
    CallBody body{{}, source, kPiece * kPieces};
    auto answer = co_await client_.Open(origin, upload, body);
    if (!answer) co_return "error: " + answer.error().message;
    std::string seen = std::to_string((*answer)->Head().result_int()) + " ";
    auto rest = co_await (*answer)->ReadRest(100);
    seen += rest ? *rest : "error: " + rest.error().message;
    if (*given > kPieces) seen += " (the upload was written whole)";
    answer->reset();
    CallHead get(Verb::get, "/after");
    auto next = co_await client_.Send(origin, std::move(get));
    seen += "; then " + (next ? std::to_string(next->result_int()) + " " + next->body() : next.error().message);
    co_return seen + ", accepted " + std::to_string(upstream.Accepted());
  };
  EXPECT_EQ(asio::co_spawn(io_.First(), run(), asio::use_future).get(),
            "413 {\"error\":\"too big\"}; then 200 ok, accepted 2");
}

// A call written whole that gets no answer in time: the upstream has it, and may act on it (the
// relay charges a model call so).
TEST_F(ServerTest, ClientSaysATimedOutCallWasSentWhole) {
  HoldingUpstream silent(2);  // holds a lone call for ever
  ClientOptions options;
  options.request_timeout = std::chrono::seconds(1);
  HttpClient client(options);
  auto res =
      asio::co_spawn(io_.First(), client.Send(silent.Url(), CallHead(Verb::post, "/"), "{}"), asio::use_future).get();
  ASSERT_FALSE(res);
  EXPECT_EQ(res.error().code, Errc::kUpstreamTimeout);
  EXPECT_TRUE(res.error().sent_unanswered);
}

// Every connection that calls in flight at once needed is kept for the next calls: one not kept
// costs a new connection (and a name lookup) later. With 64 kept, 36 of these calls connected anew.
TEST_F(ServerTest, ClientKeepsAConnectionForEachCallThatWasInFlight) {
  constexpr size_t kCalls = 100;
  HoldingUpstream upstream(kCalls);
  auto origin = upstream.Url();
  for (int round = 0; round < 3; ++round) {
    std::vector<std::future<Result<Response>>> answers;
    for (size_t i = 0; i < kCalls; ++i)
      answers.push_back(asio::co_spawn(io_.First(), client_.Send(origin, CallHead(Verb::get, "/")), asio::use_future));
    for (auto& answer : answers) {
      // Bounded: calls that never all reach the upstream fail the test instead of hanging it.
      ASSERT_EQ(answer.wait_for(std::chrono::seconds(10)), std::future_status::ready) << "round " << round;
      auto res = answer.get();
      ASSERT_TRUE(res) << res.error().message;
      EXPECT_EQ(res->body(), "ok");
    }
    EXPECT_EQ(upstream.Accepted(), kCalls) << "round " << round;
  }
}

// A stand-in for one of a broker's I/O threads, running its own io_context.
struct IoThread {
  asio::io_context io;
  asio::executor_work_guard<asio::io_context::executor_type> work{io.get_executor()};
  std::thread thread{[this] { io.run(); }};

  // The body of a call sent on this thread, or why it failed. Bounded: a call that never ends fails
  // the test instead of hanging it.
  std::string Call(HttpClient& client, const Origin& origin) {
    auto done = asio::co_spawn(io, client.Send(origin, CallHead(Verb::get, "/")), asio::use_future);
    if (done.wait_for(std::chrono::seconds(10)) != std::future_status::ready) return "no answer in 10 s";
    auto res = done.get();
    return res ? res->body() : res.error().message;
  }
  void Stop() {
    work.reset();
    if (thread.joinable()) thread.join();
  }
};

// Stops the threads before the client they made calls with goes (whatever the test's outcome):
// its connections' deadlines are theirs.
struct StopsThreads {
  std::vector<std::unique_ptr<IoThread>>& threads;
  ~StopsThreads() {
    for (auto& t : threads) t->Stop();
  }
};

// Each thread keeps its own connections: it reuses its own to each origin it called, never
// another thread's (whose deadlines are that thread's), and past HttpClient::kPoolThreads threads
// none is pooled at all.
TEST(HttpClientPool, AThreadReusesOnlyItsOwnConnectionToEachOrigin) {
  // Some 1,300 descriptors: three for each thread's event loop, two for each connection.
  rlimit files{};
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &files), 0);
  if (files.rlim_max < 2000) GTEST_SKIP() << "needs 2,000 open files (ulimit -Hn is " << files.rlim_max << ")";
  files.rlim_cur = files.rlim_max;
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &files), 0);
  HoldingUpstream a(1), b(1);
  std::vector<std::unique_ptr<IoThread>> threads;
  for (size_t i = 0; i <= HttpClient::kPoolThreads; ++i) threads.push_back(std::make_unique<IoThread>());
  HttpClient client(ClientOptions{});
  StopsThreads stops{threads};
  for (size_t i = 0; i < HttpClient::kPoolThreads; ++i) ASSERT_EQ(threads[i]->Call(client, a.Url()), "ok") << i;
  EXPECT_EQ(a.Accepted(), HttpClient::kPoolThreads);  // a connection each
  EXPECT_EQ(threads[0]->Call(client, a.Url()), "ok");
  EXPECT_EQ(a.Accepted(), HttpClient::kPoolThreads);  // thread 0's own again
  EXPECT_EQ(threads[0]->Call(client, b.Url()), "ok");
  EXPECT_EQ(threads[0]->Call(client, b.Url()), "ok");
  EXPECT_EQ(b.Accepted(), 1u);  // a second origin beside the first
  EXPECT_EQ(threads[1]->Call(client, b.Url()), "ok");
  EXPECT_EQ(b.Accepted(), 2u);  // not thread 0's
  IoThread& past = *threads.back();
  EXPECT_EQ(past.Call(client, a.Url()), "ok");
  EXPECT_EQ(past.Call(client, a.Url()), "ok");
  EXPECT_EQ(a.Accepted(), HttpClient::kPoolThreads + 2);  // a thread past them keeps none
}

// A thread keeps connections to at most 64 origins: a connection to one more is closed after its
// call, until the others have been idle too long, which then make room.
TEST(HttpClientPool, AThreadKeepsConnectionsToAtMost64OriginsAndDropsStaleOnesForMore) {
  constexpr size_t kOrigins = 64;
  std::vector<std::unique_ptr<HoldingUpstream>> upstreams;
  for (size_t i = 0; i <= kOrigins; ++i) upstreams.push_back(std::make_unique<HoldingUpstream>(1));
  std::vector<std::unique_ptr<IoThread>> threads;
  threads.push_back(std::make_unique<IoThread>());
  IoThread& thread = *threads.front();
  ClientOptions options;
  options.idle_timeout = std::chrono::seconds(2);  // longer than the first calls take, under a sanitizer too
  HttpClient client(options);
  StopsThreads stops{threads};
  for (size_t i = 0; i < kOrigins; ++i) ASSERT_EQ(thread.Call(client, upstreams[i]->Url()), "ok") << i;
  HoldingUpstream& more = *upstreams.back();
  EXPECT_EQ(thread.Call(client, more.Url()), "ok");
  EXPECT_EQ(thread.Call(client, more.Url()), "ok");
  EXPECT_EQ(more.Accepted(), 2u);                             // no room: not kept
  EXPECT_EQ(thread.Call(client, upstreams[0]->Url()), "ok");  // the first 64 still are
  EXPECT_EQ(upstreams[0]->Accepted(), 1u);
  std::this_thread::sleep_for(options.idle_timeout + std::chrono::milliseconds(100));
  EXPECT_EQ(thread.Call(client, more.Url()), "ok");
  EXPECT_EQ(thread.Call(client, more.Url()), "ok");
  EXPECT_EQ(more.Accepted(), 3u);  // the stale ones made room for it
}

// A connection idle longer than the client's idle timeout is not reused: the provider may have
// closed it, and an upload streamed as it arrives could not be retried on a fresh one.
TEST_F(ServerTest, ClientDropsConnectionsIdleLongerThanItsIdleTimeout) {
  HoldingUpstream upstream(1);
  auto origin = upstream.Url();
  // The client lives and dies on the I/O thread, as its connections' deadlines must.
  auto run = [&]() -> asio::awaitable<std::string> {
    ClientOptions options;
    options.idle_timeout = std::chrono::milliseconds(200);
    HttpClient client(options);
    std::string accepted;
    for (auto pause : {0, 0, 500, 0}) {
      asio::steady_timer timer(co_await asio::this_coro::executor, std::chrono::milliseconds(pause));
      co_await timer.async_wait(asio::use_awaitable);
      CallHead call(Verb::get, "/");  // named: g++ 12 and temporaries in co_await
      auto res = co_await client.Send(origin, std::move(call));
      if (!res) co_return res.error().message;
      accepted += std::to_string(upstream.Accepted());
    }
    co_return accepted;
  };
  EXPECT_EQ(asio::co_spawn(io_.First(), run(), asio::use_future).get(), "1122");
}

// Whether `bytes` hold a whole request, as its framing says.
bool WholeRequest(std::string_view bytes) {
  bhttp::request_parser<bhttp::string_body> parser;
  parser.eager(true);
  boost::system::error_code ec;
  while (!bytes.empty() && !parser.is_done()) {
    size_t used = parser.put(asio::buffer(bytes.data(), bytes.size()), ec);
    if (ec || used == 0) return false;
    bytes.remove_prefix(used);
  }
  return parser.is_done();
}

// Of an answer's fields the client keeps those its caller reads; it reads Connection whether it is
// kept or not, and a connection the upstream says it closes is not used again.
TEST_F(ServerTest, AnAnswerKeepsTheFieldsReadAndItsConnectionIsNotReusedWhenItSaysClose) {
  HoldingUpstream upstream(1,
                           "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nX-Other: 1\r\nConnection: close\r\n"
                           "Content-Length: 2\r\n\r\nok");
  Origin origin = upstream.Url();
  static const FieldName kRead[] = {FieldName("content-type")};
  auto run = [&]() -> asio::awaitable<std::string> {
    std::string seen;
    for (int call = 0; call < 2; ++call) {
      CallHead get(Verb::get, "/");
      CallBody none;  // named: g++ 12 and temporaries in co_await
      auto answer = co_await client_.Open(origin, get, none, kRead);
      if (!answer) co_return answer.error().message;
      for (const auto& field : (*answer)->Head()) seen += std::string(field.name_string()) + " ";
      auto body = co_await (*answer)->ReadRest(100);
      seen += body ? *body : body.error().message;
      seen += " accepted " + std::to_string(upstream.Accepted()) + "; ";
    }
    co_return seen;
  };
  EXPECT_EQ(asio::co_spawn(io_.First(), run(), asio::use_future).get(),
            "Content-Type ok accepted 1; Content-Type ok accepted 2; ");
}

// Bytes after an answer's end would be read as the start of the next call's answer: a connection
// that has any is not used again. An interim answer (100 Continue) is passed over.
TEST_F(ServerTest, AConnectionWithBytesAfterItsAnswerIsNotReused) {
  HoldingUpstream upstream(
      1, "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 200 OK");
  Origin origin = upstream.Url();
  auto run = [&]() -> asio::awaitable<std::string> {
    std::string seen;
    for (int call = 0; call < 2; ++call) {
      CallHead get(Verb::get, "/");  // named: g++ 12 and temporaries in co_await
      auto res = co_await client_.Send(origin, std::move(get));
      seen += res ? std::to_string(res->result_int()) + " " + res->body() : res.error().message;
      seen += " accepted " + std::to_string(upstream.Accepted()) + "; ";
    }
    co_return seen;
  };
  EXPECT_EQ(asio::co_spawn(io_.First(), run(), asio::use_future).get(), "200 ok accepted 1; 200 ok accepted 2; ");
}

// A connection whose answer was refused part-way (past what its caller would take, the rest not yet
// read) is not used again: the rest of that answer would be read as the next call's. One whose
// answer was read to its end is, even if its caller refused what it held.
TEST_F(ServerTest, AConnectionWhoseAnswerWasRefusedPartWayIsNotReused) {
  static const std::string kLong =
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n186a0\r\n" + std::string(100000, 'x') + "\r\n0\r\n\r\n";
  auto accepted_after = [&](std::string_view answer, std::vector<size_t> limits) {
    HoldingUpstream upstream(1, answer);
    Origin origin = upstream.Url();
    auto run = [&]() -> asio::awaitable<std::string> {
      std::string seen;
      for (size_t limit : limits) {
        CallHead get(Verb::get, "/");  // named: g++ 12 and temporaries in co_await
        auto answer = co_await client_.Open(origin, get);
        if (!answer) co_return seen + answer.error().message;
        auto body = co_await (*answer)->ReadRest(limit);
        seen += (body ? std::to_string(body->size()) + " bytes" : body.error().message) + ", accepted " +
                std::to_string(upstream.Accepted()) + "; ";
      }
      co_return seen;
    };
    return asio::co_spawn(io_.First(), run(), asio::use_future).get();
  };
  EXPECT_EQ(accepted_after(kLong, {1000, 200000}),
            "upstream answer is too large, accepted 1; 100000 bytes, accepted 2; ");
  EXPECT_EQ(accepted_after("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nall\r\n3\r\n of\r\n0\r\n\r\n",
                           {5, 100}),
            "upstream answer is too large, accepted 1; 6 bytes, accepted 1; ")
      << "an answer read to its end leaves nothing behind";
}

// An upstream that answers one request in two writes: `first`, then `rest` once released. It
// reads the whole request first, and keeps its bytes.
class ScriptedUpstream {
 public:
  ScriptedUpstream(std::string first, std::string rest)
      : thread_([this, first = std::move(first), rest = std::move(rest)] {
          boost::system::error_code ec;
          auto socket = acceptor_.accept(ec);
          if (ec) {
            request_.set_value("accept failed: " + ec.message());
            return;
          }
          std::string request;
          char piece[4096];
          while (!ec && !WholeRequest(request)) request.append(piece, socket.read_some(asio::buffer(piece), ec));
          request_.set_value(request);
          asio::write(socket, asio::buffer(first), ec);
          released_.get_future().wait_for(std::chrono::seconds(10));
          asio::write(socket, asio::buffer(rest), ec);
        }) {}
  ~ScriptedUpstream() {
    Release();
    thread_.join();
  }
  Origin Url() const {
    return ParseBaseUrl("http://127.0.0.1:" + std::to_string(acceptor_.local_endpoint().port())).value();
  }
  void Release() {
    std::call_once(once_, [this] { released_.set_value(); });
  }
  // What it read of the request.
  std::string Request() { return request_.get_future().get(); }

 private:
  asio::io_context io_;
  std::promise<std::string> request_;
  asio::ip::tcp::acceptor acceptor_{io_, {asio::ip::make_address("127.0.0.1"), 0}};
  std::promise<void> released_;
  std::once_flag once_;
  std::thread thread_;
};

// What `read(answer, upstream)` makes of the answer to a GET a ScriptedUpstream answers with
// `first`, then `rest` once released; the error, if opening the call met one.
template <class Read>
std::string ReadScriptedAnswer(HttpClient& client, IoPool& io, std::string first, std::string rest, Read read) {
  ScriptedUpstream upstream(std::move(first), std::move(rest));
  Origin origin = upstream.Url();
  auto run = [&]() -> asio::awaitable<std::string> {
    CallHead get(Verb::get, "/");
    auto answer = co_await client.Open(origin, get);
    if (!answer) co_return answer.error().message;
    co_return co_await read(**answer, upstream);
  };
  return asio::co_spawn(io.First(), run(), asio::use_future).get();
}

// A head that comes in two reads is read whole wherever it was cut (inside a line, between a CR and
// its LF, before the blank line), and not taken for whole before its end came; one the upstream
// stopped in the middle of fails the call, which the upstream may have had whole.
TEST_F(ServerTest, AHeadCutAcrossReadsIsReadWholeAndOneLeftUnfinishedFails) {
  const std::string answer = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-Note: one\r\n\r\nok";
  auto read_cut_at = [&](size_t cut, bool finish) {
    ScriptedUpstream upstream(answer.substr(0, cut), finish ? answer.substr(cut) : "");
    Origin origin = upstream.Url();
    std::thread release([&] {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));  // the first part read, alone
      upstream.Release();
    });
    auto run = [&]() -> asio::awaitable<std::string> {
      auto opened = co_await client_.Open(origin, CallHead(Verb::get, "/"));
      if (!opened) co_return opened.error().message + (opened.error().sent_unanswered ? " (sent, unanswered)" : "");
      auto body = co_await (*opened)->ReadRest(100);
      co_return std::string((*opened)->Head()["x-note"]) + " " + (body ? *body : body.error().message);
    };
    std::string read = asio::co_spawn(io_.First(), run(), asio::use_future).get();
    release.join();
    return read;
  };
  size_t first_crlf = answer.find("\r\n"), blank = answer.find("\r\n\r\n");
  for (size_t cut : {size_t{5}, first_crlf + 1, first_crlf + 2, blank, blank + 1, blank + 2, blank + 3})
    EXPECT_EQ(read_cut_at(cut, true), "one ok") << "cut at " << cut;
  for (size_t cut : {size_t{5}, first_crlf + 1, blank + 3})
    EXPECT_EQ(read_cut_at(cut, false), "upstream 127.0.0.1 failed (exchange): End of file (sent, unanswered)")
        << "cut at " << cut;
}

// An answer that could be read two ways fails the call, saying why; one without framing ends when
// the upstream closes.
TEST_F(ServerTest, AnAnswerIsReadAsItsFramingSaysOrRefused) {
  auto send = [&](std::string first, std::string rest) {
    return ReadScriptedAnswer(client_, io_, std::move(first), std::move(rest),
                              [](UpstreamAnswer& answer, ScriptedUpstream& upstream) -> asio::awaitable<std::string> {
                                upstream.Release();
                                auto body = co_await answer.ReadRest(100);
                                co_return body ? *body : body.error().message;
                              });
  };
  EXPECT_EQ(send("HTTP/1.1 200 OK\r\n\r\nall", " of it"), "all of it");
  EXPECT_EQ(send("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nok", ""),
            "upstream 127.0.0.1 sent an answer that cannot be read (exchange): two different Content-Lengths");
  EXPECT_EQ(send("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n", "2\r\nokk\r\n0\r\n\r\n"),
            "upstream 127.0.0.1 sent an answer that cannot be read (reading the answer): a chunk longer than its size");
  EXPECT_EQ(send("HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nok", ""),
            "upstream 127.0.0.1 sent an answer that cannot be read (reading the answer): the connection closed before "
            "the answer's end");
}

// What was read of a body is taken without a wait: all of it when it came with its head, else what
// came, and ReadRest goes on from there, its limit counting what was taken.
TEST_F(ServerTest, WhatWasReadOfABodyIsTakenAtOnceAndReadRestGoesOnFromIt) {
  auto take_then_read = [&](std::string first, std::string rest, size_t limit) {
    auto read = [limit](UpstreamAnswer& answer, ScriptedUpstream& upstream) -> asio::awaitable<std::string> {
      Result<std::string> body = std::string();
      bool whole = answer.TakeRead(limit, body);
      std::string seen = (whole ? "whole: " : "taken: ") + (body ? *body : body.error().message);
      if (whole) co_return seen;
      upstream.Release();
      auto whole_body = co_await answer.ReadRest(limit, std::move(*body));
      co_return seen + "; then: " + (whole_body ? *whole_body : whole_body.error().message);
    };
    return ReadScriptedAnswer(client_, io_, std::move(first), std::move(rest), read);
  };
  EXPECT_EQ(take_then_read("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", "", 100), "whole: ok");
  EXPECT_EQ(take_then_read("HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nall", " of", 100), "taken: all; then: all of");
  constexpr std::string_view kChunked = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nall\r\n";
  EXPECT_EQ(take_then_read(std::string(kChunked), "3\r\n of\r\n0\r\n\r\n", 100), "taken: all; then: all of");
  EXPECT_EQ(take_then_read(std::string(kChunked), "3\r\n of\r\n0\r\n\r\n", 5),
            "taken: all; then: upstream answer is too large");
  EXPECT_EQ(take_then_read("HTTP/1.1 200 OK\r\nContent-Length: 200\r\n\r\nok", "", 100),
            "whole: upstream answer is too large")
      << "a body that says it is too long is refused unread";
  EXPECT_EQ(take_then_read("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", "", 100), "whole: ");
  EXPECT_EQ(take_then_read("HTTP/1.1 204 No Content\r\nContent-Length: 200\r\n\r\n", "", 100), "whole: ")
      << "a 204 has no body, whatever length it says";
  EXPECT_EQ(take_then_read("HTTP/1.1 304 Not Modified\r\nContent-Length: 70000000\r\n\r\n", "", 100), "whole: ");
}

// A call goes out as its head says, with the request line, Host and the body's framing added: the
// length of a whole body, or of a streamed one that has one, else chunks.
TEST_F(ServerTest, ACallGoesOutWithItsFieldsHostAndFraming) {
  constexpr std::string_view kOk = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
  // The request as the upstream read it, Host's value written "*".
  auto call_as_sent = [&](const CallHead& call, const CallBody& body) {
    ScriptedUpstream upstream(std::string(kOk), "");
    Origin origin = upstream.Url();
    auto run = [&]() -> asio::awaitable<std::string> {
      auto answer = co_await client_.Open(origin, call, body);
      if (!answer) co_return "error: " + answer.error().message;
      auto rest = co_await (*answer)->ReadRest(100);
      co_return rest ? *rest : "error: " + rest.error().message;
    };
    EXPECT_EQ(asio::co_spawn(io_.First(), run(), asio::use_future).get(), "ok");
    std::string host = "Host: 127.0.0.1:" + origin.port + "\r\n";
    std::string sent = upstream.Request();
    size_t at = sent.find(host);
    return at == std::string::npos ? sent : sent.replace(at, host.size(), "Host: *\r\n");
  };
  CallHead post(Verb::post, "/v1/chat?x=1");
  post.Add("Content-Type", "application/json");
  EXPECT_FALSE(post.Add("x-note", "a\r\nInjected: 1"));
  std::string_view json = R"({"a":1})";
  EXPECT_EQ(call_as_sent(post, CallBody{json, {}, {}}),
            "POST /v1/chat?x=1 HTTP/1.1\r\nHost: *\r\nContent-Type: application/json\r\nContent-Length: 7\r\n\r\n"
            R"({"a":1})");
  EXPECT_EQ(call_as_sent(CallHead(Verb::get, "/v1/models"), CallBody{}), "GET /v1/models HTTP/1.1\r\nHost: *\r\n\r\n")
      << "a GET without a body says no length";
  EXPECT_EQ(call_as_sent(CallHead(Verb::post, "/empty"), CallBody{}),
            "POST /empty HTTP/1.1\r\nHost: *\r\nContent-Length: 0\r\n\r\n");

  // A source that gives `all` piece by piece, then the end.
  auto pieces = [](std::vector<std::string> all) {
    auto left = std::make_shared<std::deque<std::string>>(all.begin(), all.end());
    auto current = std::make_shared<std::string>();
    return BodySource([left, current]() -> asio::awaitable<Result<std::string_view>> {
      current->clear();
      if (!left->empty()) {
        *current = std::move(left->front());
        left->pop_front();
      }
      co_return std::string_view(*current);
    });
  };
  EXPECT_EQ(call_as_sent(CallHead(Verb::post, "/up"), CallBody{{}, pieces({"ab", "c"}), 3}),
            "POST /up HTTP/1.1\r\nHost: *\r\nContent-Length: 3\r\n\r\nabc");
  EXPECT_EQ(call_as_sent(CallHead(Verb::post, "/up"), CallBody{{}, pieces({"ab", "c"}), std::nullopt}),
            "POST /up HTTP/1.1\r\nHost: *\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\n1\r\nc\r\n0\r\n\r\n");
}

// What the relay decides on: whether the next piece of an answer is already at hand (then what
// came with the head goes out with it, taken without a wait) or must be waited for (then the head
// goes out first).
TEST_F(ServerTest, AnUpstreamAnswerTellsWhetherItsNextPieceMustBeWaitedFor) {
  constexpr std::string_view kHead = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
  auto run = [&](ScriptedUpstream& upstream) -> asio::awaitable<std::string> {
    Origin origin = upstream.Url();  // named: g++ 12 and temporaries in co_await
    CallHead call(Verb::get, "/");
    auto answer = co_await client_.Open(origin, call);
    if (!answer) co_return answer.error().message;
    auto& open = **answer;
    std::string seen;
    for (;;) {
      seen += open.AtEnd() ? "end " : open.MustWait() ? "wait " : "ready ";
      bool must_wait = open.MustWait();
      auto read = open.ReadPieceAtOnce();
      if (read.has_value() == must_wait) co_return seen + "ReadPieceAtOnce and MustWait disagree";
      if (!read) {
        upstream.Release();
        read = co_await open.ReadPiece();
      }
      Result<std::string_view>& piece = *read;
      if (!piece) co_return seen + piece.error().message;
      if (piece->empty()) co_return seen + "done";
      seen += std::string(*piece) + " ";
    }
  };
  {
    ScriptedUpstream upstream(std::string(kHead) + "5\r\nhello\r\n", "0\r\n\r\n");
    EXPECT_EQ(asio::co_spawn(io_.First(), run(upstream), asio::use_future).get(), "ready hello wait done");
  }
  {
    ScriptedUpstream upstream(std::string(kHead), "5\r\nhello\r\n0\r\n\r\n");
    EXPECT_EQ(asio::co_spawn(io_.First(), run(upstream), asio::use_future).get(), "wait hello end done");
  }
  {
    ScriptedUpstream upstream(std::string(kHead) + "5\r\nhello\r\n0\r\n\r\n", "");
    EXPECT_EQ(asio::co_spawn(io_.First(), run(upstream), asio::use_future).get(), "ready hello end done");
  }
  {  // what came before a malformed chunk goes on, then the fault
    ScriptedUpstream upstream(std::string(kHead) + "5\r\nhello\r\nx\r\n", "");
    EXPECT_EQ(asio::co_spawn(io_.First(), run(upstream), asio::use_future).get(),
              "ready hello ready upstream 127.0.0.1 sent an answer that cannot be read (reading the answer): a "
              "malformed chunk size");
  }
  {  // chunks that came together go on together
    ScriptedUpstream upstream(std::string(kHead) + "5\r\nhello\r\n1;x=y\r\n,\r\n6\r\n world\r\n", "0\r\n\r\n");
    EXPECT_EQ(asio::co_spawn(io_.First(), run(upstream), asio::use_future).get(), "ready hello, world wait done");
  }
}

// What the relay counts when the app leaves a stream: what has already arrived of the answer, and
// nothing it would have to wait for.
TEST_F(ServerTest, AnUpstreamAnswerReadsWhatHasArrivedWithoutWaitingForMore) {
  constexpr std::string_view kHead = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
  // `release`: the upstream sends the rest (and then closes) before the reads.
  auto run = [&](ScriptedUpstream& upstream, bool release) -> asio::awaitable<std::string> {
    Origin origin = upstream.Url();  // named: g++ 12 and temporaries in co_await
    CallHead call(Verb::get, "/");
    auto answer = co_await client_.Open(origin, call);
    if (!answer) co_return answer.error().message;
    if (release) {
      upstream.Release();
      asio::steady_timer arrived(co_await asio::this_coro::executor, std::chrono::milliseconds(200));
      co_await arrived.async_wait(asio::use_awaitable);
    }
    std::string seen;
    for (;;) {
      auto piece = co_await (*answer)->ReadArrived(std::chrono::seconds(2));
      if (!piece) co_return seen + "| " + piece.error().message;
      if (piece->empty()) co_return seen + "| nothing more";
      seen += std::string(*piece);
    }
  };
  {  // read with the head, and still in the socket: both, but not the end that came after them
    ScriptedUpstream upstream(std::string(kHead) + "5\r\nhello\r\n", "6\r\n world\r\n");
    EXPECT_EQ(asio::co_spawn(io_.First(), run(upstream, true), asio::use_future).get(), "hello world| nothing more");
  }
  {  // nothing more has arrived: not waited for (a read would wait for the 2 s deadline, and fail)
    ScriptedUpstream upstream(std::string(kHead) + "5\r\nhello\r\n", "0\r\n\r\n");
    EXPECT_EQ(asio::co_spawn(io_.First(), run(upstream, false), asio::use_future).get(), "hello| nothing more");
  }
}

TEST(BearerToken, ParsesOnlyWellFormedHeaders) {
  Request req;
  EXPECT_EQ(BearerToken(req).error().message, "Missing Authorization header");
  req.set(bhttp::field::authorization, "Bearer abc.def");
  EXPECT_EQ(BearerToken(req).value(), "abc.def");
  req.set(bhttp::field::authorization, "bearer abc");
  EXPECT_EQ(BearerToken(req).value(), "abc");
  for (const char* bad : {"Basic abc", "Bearer", "Bearer ", "Bearer a b", "abc"}) {
    req.set(bhttp::field::authorization, bad);
    EXPECT_FALSE(BearerToken(req)) << bad;
  }
}

}  // namespace
}  // namespace ap::http
