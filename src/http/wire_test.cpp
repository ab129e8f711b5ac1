// The head built by AppendHead is byte for byte what Beast's serializer writes; ParseBuffered
// parses what a buffer holds as Beast's read would, and leaves the rest for a read.
#include "http/wire.hpp"

#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/use_future.hpp>
#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <cstring>
#include <sstream>

namespace ap::http {
namespace {

template <class Message>
std::string BeastWrites(const Message& message) {
  std::ostringstream out;
  out << message;
  return out.str();
}

template <class Message>
std::string WeWrite(const Message& message) {
  std::string out;
  AppendHead(message, out);
  return out + message.body();
}

TEST(WireTest, ResponsesAsBeastWritesThem) {
  Response ok(StatusCode::ok, 11);
  ok.set(bhttp::field::content_type, "application/json");
  ok.set(bhttp::field::server, "aipassport");
  ok.insert("X-Repeated", "one");
  ok.insert("X-Repeated", "two");
  ok.insert("x-lower-case-unknown", "");
  ok.body() = "{\"a\":1}";
  ok.prepare_payload();
  EXPECT_EQ(WeWrite(ok), BeastWrites(ok));
  EXPECT_TRUE(WeWrite(ok).starts_with("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n")) << WeWrite(ok);

  Response reasoned(StatusCode::too_many_requests, 10);
  reasoned.reason("Slow Down");
  reasoned.keep_alive(false);
  EXPECT_EQ(WeWrite(reasoned), BeastWrites(reasoned));
  EXPECT_TRUE(WeWrite(reasoned).starts_with("HTTP/1.0 429 Slow Down\r\n"));

  Response unusual(StatusCode::ok, 11);
  unusual.result(299);  // a code without a usual reason
  unusual.set(bhttp::field::content_length, "0");
  EXPECT_EQ(WeWrite(unusual), BeastWrites(unusual));

  Response bare(StatusCode::no_content, 11);
  EXPECT_EQ(WeWrite(bare), "HTTP/1.1 204 No Content\r\n\r\n");
  EXPECT_EQ(WeWrite(bare), BeastWrites(bare));
}

// A connection over loopback: the broker's side writes, the peer's reads.
struct Connection {
  Connection() : acceptor(io, {boost::asio::ip::make_address("127.0.0.1"), 0}), writer(io), reader(io) {
    writer.connect(acceptor.local_endpoint());
    acceptor.accept(reader);
  }
  boost::asio::io_context io;
  boost::asio::ip::tcp::acceptor acceptor;
  boost::asio::ip::tcp::socket writer;
  boost::asio::ip::tcp::socket reader;
};

// WriteWhole on a real connection: what the socket takes at once goes at once, the rest
// asynchronously; the peer reads the message byte for byte, whether it fits the socket's buffers
// (one send) or is far larger than they are (a partial send, then the rest).
TEST(WireTest, WholeMessagesArriveIntactSmallOrLargerThanTheSocketTakes) {
  namespace asio = boost::asio;
  Connection c;
  for (size_t size : {size_t{11}, size_t{8} << 20}) {
    Response message(StatusCode::ok, 11);
    message.body() = std::string(size, 'x');
    message.body().front() = '<';
    message.body().back() = '>';
    message.prepare_payload();
    std::string expected = WeWrite(message);
    if (size < 100) {  // the socket takes a small message at once: no asynchronous write at all
      auto [ec, sent] = SendWithoutWaiting(c.writer, asio::buffer(expected));
      EXPECT_FALSE(ec) << ec.message();
      EXPECT_EQ(sent, expected.size());
      std::string got(expected.size(), '\0');
      EXPECT_EQ(asio::read(c.reader, asio::buffer(got)), expected.size());
      EXPECT_EQ(got, expected);
    }
    auto write = asio::co_spawn(c.io, WriteWhole(c.writer, message), asio::use_future);
    std::string got(expected.size(), '\0');
    auto read = asio::async_read(c.reader, asio::buffer(got), asio::use_future);
    c.io.run();
    c.io.restart();
    auto [ec, written] = write.get();
    EXPECT_FALSE(ec) << ec.message();
    EXPECT_EQ(written, expected.size());
    EXPECT_EQ(read.get(), expected.size());
    EXPECT_TRUE(got == expected) << "message of " << size << " bytes";
  }
}

// A streamed answer's chunks (Beast's buffer sequences of five parts), larger than the socket
// takes, arrive whole, and so does the last chunk.
TEST(WireTest, ChunksArriveIntactWhateverTheSocketTakes) {
  namespace asio = boost::asio;
  Connection c;
  std::string big(size_t{8} << 20, 'y');
  auto chunk = bhttp::make_chunk(asio::buffer(big));
  auto last = bhttp::make_chunk_last();
  auto write = [&]() -> asio::awaitable<boost::system::error_code> {
    auto [ec, n] = co_await WriteAll(c.writer, chunk);
    if (!ec) std::tie(ec, n) = co_await WriteAll(c.writer, last);
    co_return ec;
  };
  std::string expected = "800000\r\n" + big + "\r\n0\r\n\r\n";
  std::string got(expected.size(), '\0');
  auto written = asio::co_spawn(c.io, write(), asio::use_future);
  auto read = asio::async_read(c.reader, asio::buffer(got), asio::use_future);
  c.io.run();
  EXPECT_FALSE(written.get());
  EXPECT_EQ(read.get(), expected.size());
  EXPECT_TRUE(got == expected);
}

// A write to a connection its peer reset fails, and says so (the send that failed is not hidden
// behind the asynchronous write that follows it).
TEST(WireTest, AWholeMessageToAResetConnectionFails) {
  namespace asio = boost::asio;
  Connection c;
  c.reader.set_option(asio::socket_base::linger(true, 0));
  c.reader.close();  // a reset, not an orderly close
  Response message(StatusCode::ok, 11);
  message.body() = "{}";
  message.prepare_payload();
  boost::system::error_code ec;
  for (int attempt = 0; attempt < 3 && !ec; ++attempt) {  // the reset may land after the first send
    auto write = asio::co_spawn(c.io, WriteWhole(c.writer, message), asio::use_future);
    c.io.run();
    c.io.restart();
    ec = std::get<0>(write.get());
  }
  EXPECT_TRUE(ec == asio::error::connection_reset || ec == asio::error::broken_pipe) << ec.message();
}

// A buffer holding `text`, and a parser that has read its head from it (as the server's head read,
// or the client's, leaves them).
template <class Parser = bhttp::request_parser<bhttp::empty_body>>
struct HeadRead {
  explicit HeadRead(std::string_view text) {
    auto into = buffer.prepare(text.size());
    std::memcpy(into.data(), text.data(), text.size());
    buffer.commit(text.size());
    boost::system::error_code ec;
    head.eager(false);
    buffer.consume(head.put(buffer.data(), ec));
    EXPECT_FALSE(ec) << ec.message();
    EXPECT_TRUE(head.is_header_done());
  }
  boost::beast::flat_buffer buffer;
  Parser head;
};
using AnswerHeadRead = HeadRead<bhttp::response_parser<bhttp::buffer_body>>;

TEST(ParseBuffered, ABodyThatCameWithItsHeadIsParsedWithoutARead) {
  HeadRead<> read("POST /v1/x HTTP/1.1\r\nHost: a\r\nContent-Length: 11\r\n\r\n{\"model\":1}GET /next");
  bhttp::request_parser<bhttp::string_body> parser(std::move(read.head));
  EXPECT_FALSE(ParseBuffered(parser, read.buffer));
  ASSERT_TRUE(parser.is_done());
  EXPECT_EQ(parser.get().body(), R"({"model":1})");
  // The next request's bytes stay in the buffer for the next head read.
  EXPECT_EQ(boost::beast::buffers_to_string(read.buffer.data()), "GET /next");
}

TEST(ParseBuffered, APartBodyWaitsForARead) {
  HeadRead<> read("POST /v1/x HTTP/1.1\r\nHost: a\r\nContent-Length: 20\r\n\r\n{\"mod");
  bhttp::request_parser<bhttp::string_body> parser(std::move(read.head));
  EXPECT_FALSE(ParseBuffered(parser, read.buffer));
  EXPECT_FALSE(parser.is_done());
  EXPECT_EQ(read.buffer.size(), 0u);
  HeadRead<> chunked("POST /v1/x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab");
  bhttp::request_parser<bhttp::string_body> chunks(std::move(chunked.head));
  EXPECT_FALSE(ParseBuffered(chunks, chunked.buffer));
  EXPECT_FALSE(chunks.is_done());
  HeadRead<> whole_chunks(
      "POST /v1/x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
      "5\r\nabcde\r\n0\r\n\r\n");
  bhttp::request_parser<bhttp::string_body> done(std::move(whole_chunks.head));
  EXPECT_FALSE(ParseBuffered(done, whole_chunks.buffer));
  ASSERT_TRUE(done.is_done());
  EXPECT_EQ(done.get().body(), "abcde");
}

TEST(ParseBuffered, ABodyOverItsLimitOrMalformedIsRefusedAsBeastsReadRefusesIt) {
  HeadRead<> read("POST /v1/x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n20\r\n" + std::string(32, 'x') +
                  "\r\n0\r\n\r\n");
  bhttp::request_parser<bhttp::string_body> parser(std::move(read.head));
  parser.body_limit(16);
  EXPECT_EQ(ParseBuffered(parser, read.buffer), bhttp::error::body_limit);
  HeadRead<> bad("POST /v1/x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n");
  bhttp::request_parser<bhttp::string_body> malformed(std::move(bad.head));
  EXPECT_EQ(ParseBuffered(malformed, bad.buffer), bhttp::error::bad_chunk);
}

// A streamed answer whose bytes end inside the next chunk's header: the chunk before it is handed
// on at once, and the parser is left as it was (not eager: an eager parser given to Beast's
// async_read_some would wait for the socket with those bytes parsed, holding the event back).
TEST(ParseBuffered, AChunkIsHandedOnThoughTheNextOneHasNotArrived) {
  AnswerHeadRead read("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n5\r");
  auto& [buffer, parser] = read;
  char piece[64];
  parser.get().body().data = piece;
  parser.get().body().size = sizeof piece;
  EXPECT_FALSE(ParseBuffered(parser, buffer));
  EXPECT_EQ(std::string(piece, sizeof piece - parser.get().body().size), "hello");
  EXPECT_FALSE(parser.is_done());
  EXPECT_FALSE(parser.eager());
}

TEST(ParseBuffered, ABufferBodyIsFilledPieceByPiece) {
  AnswerHeadRead read("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n0123456789");
  auto& [buffer, parser] = read;
  boost::system::error_code ec;
  char piece[4];
  std::string got;
  while (!parser.is_done()) {
    parser.get().body().data = piece;
    parser.get().body().size = sizeof piece;
    ec = ParseBuffered(parser, buffer);
    ASSERT_TRUE(!ec || ec == bhttp::error::need_buffer) << ec.message();
    got.append(piece, sizeof piece - parser.get().body().size);
  }
  EXPECT_EQ(got, "0123456789");
  EXPECT_EQ(buffer.size(), 0u);
}

}  // namespace
}  // namespace ap::http
