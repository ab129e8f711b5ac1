#pragma once
// Deadlines for the connections of one I/O thread, for the price of a clock read. A connection
// arms its deadline while it waits on its peer and disarms it when the wait is over; a timer per
// thread looks over the thread's connections four times a second while any deadline is armed, and
// closes the socket of each one past its deadline, which ends the wait with an error (Passed() then
// says why). With none armed the thread has no timer waiting, and an io_context left without work
// returns from run(). A deadline may also be given a test, asked at each sweep while it is armed:
// once it says the wait is no longer wanted (the call's grant was revoked), the socket is closed
// the same way, and Ended() says why.
// Beast's stream timeouts, which this replaces, arm and cancel a timer around every read and write:
// a heap insertion and removal, and a cancelled handler run through the scheduler, which made the
// thread call epoll_wait twice as often (4 times a call instead of 2, at one connection).
// Thread-safety: a Deadline is used on its socket's thread only (one io_context per thread).

#include <algorithm>
#include <boost/asio/ip/tcp.hpp>
#include <chrono>
#include <functional>

#include "core/time.hpp"

namespace ap::http {

class Watchdog;

class Deadline {
 public:
  using Clock = CoarseClock;  // a deadline is acted on only at a sweep (kSweep)

  // The socket must outlive the Deadline.
  explicit Deadline(boost::asio::ip::tcp::socket& socket);
  ~Deadline();
  Deadline(const Deadline&) = delete;
  Deadline& operator=(const Deadline&) = delete;

  void Arm(Clock::duration timeout);
  // Brings an armed deadline forward to `timeout` from now, if that is sooner.
  void Shorten(Clock::duration timeout) {
    if (Armed()) at_ = std::min(at_, Clock::now() + timeout);
  }
  // Arms the deadline for `idle` until a sweep finds `begun()` true, and from that sweep for `then`:
  // a kept-alive connection waits long for the next request, which once begun has the read timeout,
  // with one read (a read of its own for the first byte costs each request an awaited operation).
  // `begun` is asked on the socket's thread, like EndWhen's test.
  void ArmUntilBegun(Clock::duration idle, Clock::duration then, std::function<bool()> begun) {
    Arm(idle);
    begun_ = std::move(begun);
    then_ = then;
  }
  // The wait ArmUntilBegun armed has begun (a request's head read whole before a sweep saw a byte
  // of it): from now, `then`. Nothing when no such test is pending.
  void Begun() {
    if (begun_ && Armed()) Begin(Clock::now());
  }
  // Disarming also drops the tests EndWhen and ArmUntilBegun gave.
  void Disarm();
  // While armed, the socket is closed at the first sweep at which `unwanted()` returns true. It is
  // asked on the socket's thread, and must not touch the deadline or its socket.
  void EndWhen(std::function<bool()> unwanted) { unwanted_ = std::move(unwanted); }
  // Armed for one wait: disarmed when the guard goes out of scope.
  class [[nodiscard]] Wait {
   public:
    Wait(Deadline& deadline, Clock::duration timeout) : deadline_(deadline) { deadline_.Arm(timeout); }
    ~Wait() { deadline_.Disarm(); }
    Wait(const Wait&) = delete;
    Wait& operator=(const Wait&) = delete;

   private:
    Deadline& deadline_;
  };
  bool Armed() const { return at_ != Clock::time_point::max(); }
  // Whether the socket was closed because the deadline passed.
  bool Passed() const { return passed_; }
  // Whether the socket was closed because the test EndWhen gave said so.
  bool Ended() const { return ended_; }

  // The granularity: a deadline is acted on at most this much after it passes.
  static constexpr std::chrono::milliseconds kSweep{250};

 private:
  friend class Watchdog;
  void Begin(Clock::time_point now) {
    begun_ = nullptr;
    at_ = now + then_;
  }
  // The test's answer; false without one, or when it throws (the sweep goes on for the others).
  bool Unwanted() const;
  Watchdog& watchdog_;
  boost::asio::ip::tcp::socket& socket_;
  Clock::time_point at_ = Clock::time_point::max();
  bool passed_ = false;
  bool ended_ = false;
  std::function<bool()> unwanted_;
  std::function<bool()> begun_;
  Clock::duration then_{};
  Deadline* prev_ = nullptr;
  Deadline* next_ = nullptr;
};

}  // namespace ap::http
