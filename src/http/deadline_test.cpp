// Deadlines on real loopback connections: a wait past its deadline ends, a disarmed one does not.
#include "http/deadline.hpp"

#include <gtest/gtest.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>

namespace ap::http {
namespace {

namespace asio = boost::asio;
using asio::ip::tcp;

struct Pair {
  asio::io_context io;
  tcp::socket ours{io}, theirs{io};
  Pair() {
    tcp::acceptor acceptor(io, {asio::ip::make_address("127.0.0.1"), 0});
    ours.connect(acceptor.local_endpoint());
    theirs = acceptor.accept();
  }
};

// Whether a read on `pair` gets the byte its peer writes three sweeps later (well after a deadline
// that should no longer act), the deadline as armed; disarmed once the read ends.
bool ReadsAByteWrittenLater(Pair& pair, Deadline& deadline) {
  char byte = 0;
  boost::system::error_code read_ec = asio::error::would_block;
  pair.ours.async_read_some(asio::buffer(&byte, 1), [&](auto ec, size_t) {
    read_ec = ec;
    deadline.Disarm();  // ends the run: no sweep is due any more
  });
  asio::steady_timer later(pair.io, 3 * Deadline::kSweep);
  later.async_wait([&](auto) { asio::write(pair.theirs, asio::buffer("x", 1)); });
  pair.io.run_for(std::chrono::seconds(5));
  bool read = !read_ec && byte == 'x' && pair.ours.is_open();
  pair.ours.cancel();  // a read still waiting ends here, while what it writes to still lives
  pair.io.restart();
  pair.io.run_for(std::chrono::milliseconds(100));
  return read;
}

TEST(Deadline, EndsAWaitThatOutlivesIt) {
  Pair pair;
  Deadline deadline(pair.ours);
  deadline.Arm(std::chrono::milliseconds(100));
  char byte;
  boost::system::error_code read_ec;
  pair.ours.async_read_some(asio::buffer(&byte, 1), [&](auto ec, size_t) { read_ec = ec; });
  auto started = Deadline::Clock::now();
  pair.io.run_for(std::chrono::seconds(5));  // bounded: a sweep that never comes fails, not hangs
  EXPECT_EQ(read_ec, asio::error::operation_aborted);
  EXPECT_TRUE(deadline.Passed());
  EXPECT_FALSE(pair.ours.is_open());
  EXPECT_GE(Deadline::Clock::now() - started, std::chrono::milliseconds(100));
}

TEST(Deadline, LeavesAWaitAloneOnceDisarmed) {
  Pair pair;
  Deadline deadline(pair.ours);
  deadline.Arm(std::chrono::milliseconds(50));
  deadline.Disarm();
  EXPECT_TRUE(ReadsAByteWrittenLater(pair, deadline));
  EXPECT_FALSE(deadline.Passed());
}

TEST(Deadline, AWaitDisarmsItWhenItEnds) {
  Pair pair;
  Deadline deadline(pair.ours);
  {
    Deadline::Wait wait(deadline, std::chrono::milliseconds(50));
    EXPECT_TRUE(deadline.Armed());
  }
  EXPECT_FALSE(deadline.Armed());
  pair.io.run_for(3 * Deadline::kSweep);
  EXPECT_FALSE(deadline.Passed());
  EXPECT_TRUE(pair.ours.is_open());
}

TEST(Deadline, EachConnectionIsCutByItsOwnDeadlineOnly) {
  Pair first;
  asio::io_context& io = first.io;
  tcp::socket other(io);
  {
    tcp::acceptor acceptor(io, {asio::ip::make_address("127.0.0.1"), 0});
    other.connect(acceptor.local_endpoint());
    auto peer = acceptor.accept();
    Deadline soon(first.ours), late(other);
    soon.Arm(std::chrono::milliseconds(50));
    late.Arm(std::chrono::seconds(30));
    char a, b;
    boost::system::error_code a_ec, b_ec = asio::error::would_block;
    first.ours.async_read_some(asio::buffer(&a, 1), [&](auto ec, size_t) {
      a_ec = ec;
      EXPECT_TRUE(other.is_open()) << "closed in the same sweep";
      late.Disarm();  // ends the run: no sweep is due any more
      other.cancel();
    });
    other.async_read_some(asio::buffer(&b, 1), [&](auto ec, size_t) { b_ec = ec; });
    io.run_for(std::chrono::seconds(5));
    EXPECT_TRUE(soon.Passed());
    EXPECT_EQ(a_ec, asio::error::operation_aborted);
    EXPECT_FALSE(late.Passed());
    EXPECT_EQ(b_ec, asio::error::operation_aborted);  // by the cancel, not by its deadline
  }
}

TEST(Deadline, EndsAWaitItsTestNoLongerWants) {
  Pair pair;
  Deadline deadline(pair.ours);
  deadline.Arm(std::chrono::seconds(30));
  bool wanted = true;
  int asked = 0;
  deadline.EndWhen([&] {
    ++asked;
    return !wanted;
  });
  char byte;
  boost::system::error_code read_ec;
  pair.ours.async_read_some(asio::buffer(&byte, 1), [&](auto ec, size_t) { read_ec = ec; });
  asio::steady_timer revoke(pair.io, 2 * Deadline::kSweep + Deadline::kSweep / 2);
  revoke.async_wait([&](auto) { wanted = false; });
  pair.io.run_for(std::chrono::seconds(5));  // bounded: a test never asked fails, not hangs
  EXPECT_EQ(read_ec, asio::error::operation_aborted);
  EXPECT_TRUE(deadline.Ended());
  EXPECT_FALSE(deadline.Passed());
  EXPECT_FALSE(pair.ours.is_open());
  EXPECT_GE(asked, 3) << "asked at each sweep while wanted, then once more";
}

TEST(Deadline, ATestIsDroppedWhenTheDeadlineIsDisarmed) {
  Pair pair;
  Deadline deadline(pair.ours);
  deadline.Arm(std::chrono::seconds(30));
  bool asked = false;
  deadline.EndWhen([&] { return asked = true; });
  deadline.Disarm();
  deadline.Arm(std::chrono::seconds(30));  // the connection's next call, without a test
  EXPECT_TRUE(ReadsAByteWrittenLater(pair, deadline));
  EXPECT_FALSE(asked);
  EXPECT_FALSE(deadline.Ended());
}

// Whether a read on `pair` still waits after `run`, its deadline as armed; disarms it after.
bool StillWaitingAfter(Pair& pair, Deadline& deadline, std::chrono::milliseconds run) {
  char byte;
  boost::system::error_code read_ec = asio::error::would_block;
  pair.ours.async_read_some(asio::buffer(&byte, 1), [&](auto ec, size_t) { read_ec = ec; });
  pair.io.run_for(run);
  deadline.Disarm();
  bool waiting = read_ec == asio::error::would_block && pair.ours.is_open();
  pair.ours.cancel();  // the read ends here, while what it writes to still lives
  pair.io.restart();
  pair.io.run_for(std::chrono::milliseconds(100));
  return waiting;
}

// A kept-alive connection's wait: long while nothing comes, the read timeout once the peer begins.
TEST(Deadline, AWaitThatBegunHasTheReadTimeoutFromTheSweepThatSeesIt) {
  Pair pair;
  Deadline deadline(pair.ours);
  bool begun = false;
  deadline.ArmUntilBegun(std::chrono::seconds(30), std::chrono::milliseconds(100), [&] { return begun; });
  char byte;
  boost::system::error_code read_ec;
  pair.ours.async_read_some(asio::buffer(&byte, 1), [&](auto ec, size_t) { read_ec = ec; });
  asio::steady_timer first_byte(pair.io, 2 * Deadline::kSweep + Deadline::kSweep / 2);
  first_byte.async_wait([&](auto) { begun = true; });
  auto started = Deadline::Clock::now();
  pair.io.run_for(std::chrono::seconds(5));  // the idle 30 s would outlast the run
  EXPECT_EQ(read_ec, asio::error::operation_aborted);
  EXPECT_TRUE(deadline.Passed());
  EXPECT_GE(Deadline::Clock::now() - started, 3 * Deadline::kSweep);
}

// A request that begins late in the idle wait has the whole read timeout, not what the idle
// timeout has left.
TEST(Deadline, AWaitThatBegunLateIsNotCutByWhatWasLeftOfTheIdleTimeout) {
  Pair pair;
  Deadline deadline(pair.ours);
  bool begun = false;
  deadline.ArmUntilBegun(std::chrono::milliseconds(600), std::chrono::seconds(30), [&] { return begun; });
  asio::steady_timer first_byte(pair.io, Deadline::kSweep + Deadline::kSweep / 2);
  first_byte.async_wait([&](auto) { begun = true; });
  EXPECT_TRUE(StillWaitingAfter(pair, deadline, std::chrono::milliseconds(1500)));  // past the idle 600 ms
}

// A head read whole between two sweeps: its body has the read timeout from then.
TEST(Deadline, AWaitToldItBegunHasTheReadTimeoutFromThen) {
  Pair pair;
  Deadline deadline(pair.ours);
  deadline.ArmUntilBegun(std::chrono::milliseconds(300), std::chrono::seconds(30), [] { return false; });
  deadline.Begun();
  EXPECT_TRUE(StillWaitingAfter(pair, deadline, std::chrono::milliseconds(1000)));  // past the idle 300 ms
}

TEST(Deadline, AWaitThatNeverBeginsHasTheIdleTimeout) {
  Pair pair;
  Deadline deadline(pair.ours);
  deadline.ArmUntilBegun(std::chrono::milliseconds(600), std::chrono::milliseconds(1), [] { return false; });
  char byte;
  boost::system::error_code read_ec;
  pair.ours.async_read_some(asio::buffer(&byte, 1), [&](auto ec, size_t) { read_ec = ec; });
  auto started = Deadline::Clock::now();
  pair.io.run_for(std::chrono::seconds(5));
  EXPECT_EQ(read_ec, asio::error::operation_aborted);
  EXPECT_GE(Deadline::Clock::now() - started, std::chrono::milliseconds(600));
}

TEST(Deadline, ABeginningTestIsDroppedWhenTheDeadlineIsArmedAgain) {
  Pair pair;
  Deadline deadline(pair.ours);
  deadline.ArmUntilBegun(std::chrono::seconds(30), std::chrono::milliseconds(1), [] { return true; });
  deadline.Arm(std::chrono::seconds(30));  // the request's head is in: the handler's own wait
  EXPECT_TRUE(ReadsAByteWrittenLater(pair, deadline));
  EXPECT_FALSE(deadline.Passed());
}

}  // namespace
}  // namespace ap::http
