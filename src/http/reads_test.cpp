// What the server and the client rely on from Asio's reads, with the patched reactor of
// src/asio_patch: a read that gets less than it asked for has emptied the socket, so the next one
// waits for epoll's next edge instead of failing with EAGAIN first. A peer's end (FIN) that came
// with its last bytes raises no edge later, nor do bytes behind urgent data; the reactor knows of
// them from EPOLLRDHUP and EPOLLPRI. An earlier patch without that hung on the first test (the
// server's fuzz target too).
// The test binary links with -Wl,--wrap=recv, so the recv calls Asio makes are counted here.
#include <gtest/gtest.h>
#include <sys/socket.h>

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

namespace {
std::atomic<int> g_recvs{0};
std::atomic<int> g_recvs_that_found_nothing{0};
}  // namespace

extern "C" ssize_t __real_recv(int fd, void* data, size_t size, int flags);
extern "C" ssize_t __wrap_recv(int fd, void* data, size_t size, int flags) {
  ssize_t n = __real_recv(fd, data, size, flags);
  g_recvs.fetch_add(1);
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) g_recvs_that_found_nothing.fetch_add(1);
  return n;
}

namespace ap::http {
namespace {

namespace asio = boost::asio;
using asio::ip::tcp;
using std::chrono::milliseconds;

struct Pair {
  asio::io_context io;
  tcp::socket ours{io}, theirs{io};
  Pair() {
    tcp::acceptor acceptor(io, {asio::ip::make_address("127.0.0.1"), 0});
    ours.connect(acceptor.local_endpoint());
    theirs = acceptor.accept();
  }
  void TheySend(std::string_view bytes) { asio::write(theirs, asio::buffer(bytes)); }
  void TheyEnd() { theirs.shutdown(tcp::socket::shutdown_send); }
  // Lets the reactor see what has arrived before anything reads it.
  void Settle() {
    asio::steady_timer settled(io, milliseconds(20));
    settled.async_wait([](auto) {});
    Run();
  }
  // Reads into a 16-byte buffer until the end, an error or `bytes` bytes; returns what came.
  std::string ReadUntil(boost::system::error_code& end, size_t bytes = SIZE_MAX) {
    char buffer[16];
    std::string got;
    std::function<void()> read = [&] {
      ours.async_read_some(asio::buffer(buffer), [&](boost::system::error_code ec, size_t n) {
        got.append(buffer, n);
        if (ec) {
          end = ec;
          return;
        }
        if (got.size() < bytes) read();
      });
    };
    read();
    Run();
    return got;
  }
  // One read into a 16-byte buffer (a peek with MSG_PEEK); "" if none came.
  std::string ReadOnce(asio::socket_base::message_flags flags = 0) {
    char buffer[16];
    std::string got;
    ours.async_receive(asio::buffer(buffer), flags, [&](boost::system::error_code ec, size_t n) {
      if (!ec) got.assign(buffer, n);
    });
    Run();
    return got;
  }
  // Runs for at most five seconds (a read left waiting fails, not hangs), then cancels what still
  // waits, so that no read outlives the buffer it was given.
  void Run() {
    io.restart();
    io.run_for(std::chrono::seconds(5));
    ours.cancel();
    io.restart();
    io.poll();
  }
};

// Settled: the reactor has seen the bytes and the end before the first read. At once: the first
// read takes the bytes before the reactor has seen anything.
TEST(Reads, TheEndThatCameWithTheLastBytesIsSeen) {
  for (bool settle : {true, false}) {
    Pair pair;
    pair.TheySend("ab");
    pair.TheyEnd();
    if (settle) pair.Settle();
    boost::system::error_code end;
    EXPECT_EQ(pair.ReadUntil(end), "ab") << (settle ? "settled" : "read at once");
    EXPECT_EQ(end, asio::error::eof) << (settle ? "settled" : "read at once");
  }
}

TEST(Reads, TheEndThatComesAfterAShortReadIsSeen) {
  Pair pair;
  pair.TheySend("ab");
  asio::steady_timer later(pair.io, milliseconds(30));
  later.async_wait([&](auto) {
    pair.TheySend("cd");
    pair.TheyEnd();
  });
  boost::system::error_code end;
  EXPECT_EQ(pair.ReadUntil(end), "abcd");
  EXPECT_EQ(end, asio::error::eof);
}

// A read stops at the urgent mark with bytes behind it that raise no edge of their own.
TEST(Reads, BytesBehindUrgentDataAreRead) {
  for (bool settle : {true, false}) {
    Pair pair;
    pair.TheySend("ab");
    pair.theirs.send(asio::buffer(std::string_view("X")), asio::socket_base::message_out_of_band);
    pair.TheySend("cd");
    if (settle) pair.Settle();
    boost::system::error_code end;
    EXPECT_EQ(pair.ReadUntil(end, 4), "abcd") << (settle ? "settled" : "read at once");  // X is out of band
  }
}

TEST(Reads, AReadAfterAShortOneWaitsForTheNextBytesWithoutTryingFirst) {
  Pair pair;
  pair.TheySend("abc");
  ASSERT_EQ(pair.ReadOnce(), "abc");  // 3 of 16 bytes: the socket is empty now
  int recvs = g_recvs.load(), found_nothing = g_recvs_that_found_nothing.load();
  asio::steady_timer later(pair.io, milliseconds(20));
  later.async_wait([&](auto) { pair.TheySend("de"); });
  EXPECT_EQ(pair.ReadOnce(), "de");
  EXPECT_EQ(g_recvs_that_found_nothing.load() - found_nothing, 0);
  EXPECT_EQ(g_recvs.load() - recvs, 1);
}

// The edge these bytes raised is still to be reported when the read starts.
TEST(Reads, BytesThatCameBetweenTwoReadsAreRead) {
  Pair pair;
  pair.TheySend("abc");
  ASSERT_EQ(pair.ReadOnce(), "abc");
  pair.TheySend("de");
  EXPECT_EQ(pair.ReadOnce(), "de");
}

TEST(Reads, AFullReadIsFollowedAtOnceByTheNext) {
  Pair pair;
  pair.TheySend("0123456789abcdefXY");  // 18 bytes: the first read fills its 16
  pair.Settle();                        // no edge is left to report when the second read starts
  EXPECT_EQ(pair.ReadOnce(), "0123456789abcdef");
  int recvs = g_recvs.load();
  EXPECT_EQ(pair.ReadOnce(), "XY");
  EXPECT_EQ(g_recvs.load() - recvs, 1);
}

TEST(Reads, APeekLeavesTheBytesToRead) {
  Pair pair;
  pair.TheySend("abc");
  pair.Settle();
  EXPECT_EQ(pair.ReadOnce(asio::socket_base::message_peek), "abc");
  EXPECT_EQ(pair.ReadOnce(), "abc");
}

}  // namespace
}  // namespace ap::http
