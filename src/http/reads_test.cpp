// What the server and the client rely on from Asio's reads. Kept since a patch that treated a
// short read as draining the socket (as nginx does, which saved a failed recv a call) hung here:
// without EPOLLRDHUP (Asio does not ask for it) nothing says a peer's end came with its last
// bytes, and epoll reports no edge for it later.
#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <chrono>
#include <functional>
#include <string>

namespace ap::http {
namespace {

namespace asio = boost::asio;
using asio::ip::tcp;

TEST(Reads, TheEndThatCameWithTheLastBytesIsSeen) {
  asio::io_context io;
  tcp::socket ours(io), theirs(io);
  tcp::acceptor acceptor(io, {asio::ip::make_address("127.0.0.1"), 0});
  ours.connect(acceptor.local_endpoint());
  theirs = acceptor.accept();
  asio::write(theirs, asio::buffer(std::string_view("ab")));
  theirs.shutdown(tcp::socket::shutdown_send);
  // The reactor sees the bytes and the end arrive before anything reads them.
  asio::steady_timer settled(io, std::chrono::milliseconds(20));
  char buffer[16];
  std::string got;
  boost::system::error_code end;
  std::function<void()> read = [&] {
    ours.async_read_some(asio::buffer(buffer), [&](boost::system::error_code ec, size_t n) {
      got.append(buffer, n);
      if (ec) {
        end = ec;
        return;
      }
      read();
    });
  };
  settled.async_wait([&](auto) { read(); });
  io.run_for(std::chrono::seconds(5));  // bounded: a read left waiting fails, not hangs
  EXPECT_EQ(got, "ab");
  EXPECT_EQ(end, asio::error::eof);
}

}  // namespace
}  // namespace ap::http
