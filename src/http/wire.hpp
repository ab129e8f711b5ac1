#pragma once
// A message on the wire, as the server and the upstream client write and read it.
// Writing: the server's answers that handlers return as a Response, their head built into one
// string as Beast's serializer would write it (the status line, each field, a blank line), then
// head and body in one gathered write. Beast's serializer walks a view of many small buffers field
// by field, which cost about 5% of the broker's CPU per call; the bytes on the wire are the same
// (wire_test.cpp compares them). Heads kept as bytes (http/head_bytes.hpp) need no building. Every
// write sends at once what the socket takes (WriteAll), and waits only for the rest.
// Reading: the rest of a message parsed from what the read buffer already holds, before any read.

#include <array>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/buffer_traits.hpp>
#include <boost/beast/core/buffers_suffix.hpp>
#include <boost/beast/http/basic_parser.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/write.hpp>
#include <cstdint>
#include <optional>
#include <string>
#include <tuple>
#include <type_traits>

#include "http/message.hpp"

namespace ap::http {

// Appends the head of `message` to `out`: "HTTP/1.1 200 OK\r\n", each field as "Name: value\r\n",
// then "\r\n".
void AppendHead(const Response& message, std::string& out);
// Appends "HTTP/1.1 200 OK\r\n" (`version` 11, `code` 200, `reason` "OK").
void AppendStatusLine(unsigned version, unsigned code, std::string_view reason, std::string& out);
// Appends the field that frames a body: "Content-Length: n\r\n", or "Transfer-Encoding: chunked\r\n"
// for a body whose length is not known.
void AppendFraming(std::optional<uint64_t> length, std::string& out);

// Sends what a plain TCP socket takes at once, without waiting: an asynchronous write that could
// complete at once still goes through the scheduler (a post, a queue lock, a resumption). Returns
// the error and how much was sent; would_block (the socket takes nothing now) and interrupted
// (the asynchronous write that follows tries again) are no error. Sends nothing on a TLS stream,
// which must write through its own layer. The socket is put in non-blocking mode, so that a
// synchronous write returns rather than waits; nothing else writes or reads it synchronously, and
// Asio's asynchronous operations do not depend on the mode.
template <class Stream, class Buffers>
std::tuple<boost::system::error_code, size_t> SendWithoutWaiting(Stream& stream, const Buffers& buffers) {
  boost::system::error_code ec;
  size_t sent = 0;
  if constexpr (std::is_same_v<Stream, boost::asio::ip::tcp::socket>) {
    if (!stream.non_blocking()) stream.non_blocking(true, ec);
    if (!ec) sent = stream.write_some(buffers, ec);
    if (ec == boost::asio::error::would_block || ec == boost::asio::error::try_again ||
        ec == boost::asio::error::interrupted)
      ec = {};
  }
  return {ec, sent};
}

// Writes what is left of `buffers` once `sent` bytes of them went out (SendWithoutWaiting), and
// returns the error and the bytes sent in all. A caller on the hot path sends at once itself and
// awaits this only when something is left: a coroutine's frame costs more than a write that takes
// no waiting.
template <class Stream, class Buffers>
boost::asio::awaitable<std::tuple<boost::system::error_code, size_t>> WriteRest(Stream& stream, const Buffers& buffers,
                                                                                size_t sent) {
  boost::beast::buffers_suffix rest(buffers);
  rest.consume(sent);
  auto [ec, n] = co_await boost::asio::async_write(stream, rest, boost::asio::as_tuple(boost::asio::use_awaitable));
  co_return std::tuple<boost::system::error_code, size_t>{ec, sent + n};
}

// Writes all of `buffers`: what the socket takes at once is sent at once, the rest asynchronously.
template <class Stream, class Buffers>
boost::asio::awaitable<std::tuple<boost::system::error_code, size_t>> WriteAll(Stream& stream, const Buffers& buffers) {
  auto [error, sent] = SendWithoutWaiting(stream, buffers);
  if (error || sent == boost::beast::buffer_bytes(buffers))
    co_return std::tuple<boost::system::error_code, size_t>{error, sent};
  co_return co_await WriteRest(stream, buffers, sent);
}

// Writes `message` whole, head and body together. A message marked chunked is left to Beast,
// which chunks its body.
template <class Stream, class Message>
boost::asio::awaitable<std::tuple<boost::system::error_code, size_t>> WriteWhole(Stream& stream, Message& message) {
  if (message.chunked())
    co_return co_await bhttp::async_write(stream, message, boost::asio::as_tuple(boost::asio::use_awaitable));
  std::string head;
  head.reserve(512);
  AppendHead(message, head);
  std::array<boost::asio::const_buffer, 2> pieces{boost::asio::buffer(head), boost::asio::buffer(message.body())};
  co_return co_await WriteAll(stream, pieces);
}

// Writes the head of `message` alone, as the answer to a HEAD request: it says the framing its body
// would have had (a length, or chunked) and sends none of it (RFC 9110, 9.3.2).
template <class Stream, class Message>
boost::asio::awaitable<std::tuple<boost::system::error_code, size_t>> WriteHeadOnly(Stream& stream, Message& message) {
  std::string head;
  head.reserve(512);
  AppendHead(message, head);
  std::array<boost::asio::const_buffer, 1> pieces{boost::asio::buffer(head)};
  co_return co_await WriteAll(stream, pieces);
}

// Parses into `parser` what `buffer` already holds (a body that came in the same packets as its
// head, usually all of it), as Beast's read would before reading the socket, but without going
// through the scheduler when nothing is left to wait for. It parses as far as the bytes go, element
// after element, and leaves the parser's eager setting alone: an eager parser given to Beast's
// async_read_some waits for the socket when the bytes end inside a chunk's header, even with body
// bytes already parsed, which would hold a streamed answer's events back. Returns the parser's
// error, or none when it only needs more bytes; with a buffer body, need_buffer says the body's
// buffer is full.
template <bool isRequest, class Buffer>
boost::system::error_code ParseBuffered(bhttp::basic_parser<isRequest>& parser, Buffer& buffer) {
  boost::system::error_code ec;
  while (buffer.size() > 0 && !parser.is_done()) {
    size_t used = parser.put(buffer.data(), ec);
    buffer.consume(used);
    if (ec == bhttp::error::need_more) return {};
    if (ec || used == 0) break;
  }
  return ec;
}

}  // namespace ap::http
