// Asio's reads as src/asio_patch changes them: a read that gets less than it asked for marks the
// socket drained, so the next read waits for epoll rather than trying first. Nothing sent may be
// left waiting: bytes that come later, bytes that came between two reads, bytes only peeked at.
#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <string>

#ifndef AIPASSPORT_ASIO_SHORT_READ_DRAINS
#error "the system's reactive_socket_recv_op.hpp is in use, not src/asio_patch's"
#endif

namespace ap::http {
namespace {

namespace asio = boost::asio;
using asio::ip::tcp;

struct Pair {
  asio::io_context io;
  tcp::socket ours{io}, theirs{io};
  char buffer[16] = {};
  Pair() {
    tcp::acceptor acceptor(io, {asio::ip::make_address("127.0.0.1"), 0});
    ours.connect(acceptor.local_endpoint());
    theirs = acceptor.accept();
  }
  void Send(std::string_view bytes) { asio::write(theirs, asio::buffer(bytes)); }
  // Reads once into `buffer` (more than anything sent here), then calls `then` with what came.
  template <class Then>
  void Read(Then then, asio::socket_base::message_flags flags = 0) {
    ours.async_receive(asio::buffer(buffer), flags, [this, then](boost::system::error_code ec, size_t n) {
      ASSERT_FALSE(ec) << ec.message();
      then(std::string(buffer, n));
    });
  }
};

TEST(ShortRead, TheNextReadGetsBytesSentLater) {
  Pair pair;
  pair.Send("ab");
  std::string first, second;
  asio::steady_timer later(pair.io);
  pair.Read([&](std::string got) {
    first = got;
    pair.Read([&](std::string next) { second = next; });
    later.expires_after(std::chrono::milliseconds(20));
    later.async_wait([&](auto) { pair.Send("cd"); });
  });
  pair.io.run_for(std::chrono::seconds(5));  // bounded: a read left waiting fails, not hangs
  EXPECT_EQ(first, "ab");
  EXPECT_EQ(second, "cd");
}

TEST(ShortRead, BytesThatCameBetweenTwoReadsAreRead) {
  Pair pair;
  pair.Send("ab");
  std::string first, second;
  pair.Read([&](std::string got) {
    first = got;
    pair.Send("cd");  // after the short read, before the next read starts
    pair.Read([&](std::string next) { second = next; });
  });
  pair.io.run_for(std::chrono::seconds(5));
  EXPECT_EQ(first, "ab");
  EXPECT_EQ(second, "cd");
}

TEST(ShortRead, APeekLeavesTheBytesToRead) {
  Pair pair;
  pair.Send("ab");
  std::string peeked, read;
  // The reactor sees the bytes arrive first, so no later event would wake a read left waiting.
  asio::steady_timer settled(pair.io, std::chrono::milliseconds(20));
  settled.async_wait([&](auto) {
    pair.Read(
        [&](std::string got) {
          peeked = got;
          pair.Read([&](std::string next) { read = next; });  // nothing more is sent
        },
        asio::socket_base::message_peek);
  });
  pair.io.run_for(std::chrono::seconds(5));
  EXPECT_EQ(peeked, "ab");
  EXPECT_EQ(read, "ab");
}

}  // namespace
}  // namespace ap::http
