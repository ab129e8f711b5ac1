#include "http/deadline.hpp"

#include <boost/asio/execution_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <optional>

namespace ap::http {

namespace asio = boost::asio;

// One per io_context: the thread's connections, and the timer that sweeps them while there are any.
class Watchdog : public asio::execution_context::service {
 public:
  static inline asio::execution_context::id id;

  explicit Watchdog(asio::execution_context& context) : service(context) {}

  void Add(Deadline& d, const asio::any_io_executor& executor) {
    d.next_ = head_;
    if (head_) head_->prev_ = &d;
    head_ = &d;
    if (!timer_ && !shut_down_) timer_.emplace(executor);
  }

  void Remove(Deadline& d) {
    if (d.Armed()) --armed_;
    (d.prev_ ? d.prev_->next_ : head_) = d.next_;
    if (d.next_) d.next_->prev_ = d.prev_;
  }

  void Armed() {
    ++armed_;
    if (!sweeping_ && timer_) Schedule();
  }
  void Disarmed() { --armed_; }

 private:
  void shutdown() override {
    shut_down_ = true;
    timer_.reset();
  }

  void Schedule() {
    sweeping_ = true;
    timer_->expires_after(Deadline::kSweep);
    timer_->async_wait([this](const boost::system::error_code& ec) {
      if (ec) {
        sweeping_ = false;  // cancelled: the next deadline armed starts it again
        return;
      }
      Sweep();
    });
  }

  void Sweep() {
    auto now = Deadline::Clock::now();
    for (Deadline* d = head_; d; d = d->next_) {
      if (!d->Armed()) continue;
      if (d->begun_ && d->begun_()) d->Begin(now);
      bool passed = d->at_ <= now;
      if (!passed && !d->Unwanted()) continue;
      d->Disarm();
      (passed ? d->passed_ : d->ended_) = true;
      boost::system::error_code ignored;
      d->socket_.close(ignored);
    }
    sweeping_ = false;
    if (armed_ > 0) Schedule();
  }

  Deadline* head_ = nullptr;
  size_t armed_ = 0;
  std::optional<asio::steady_timer> timer_;
  bool sweeping_ = false;
  bool shut_down_ = false;
};

Deadline::Deadline(asio::ip::tcp::socket& socket)
    : watchdog_(asio::use_service<Watchdog>(asio::query(socket.get_executor(), asio::execution::context))),
      socket_(socket) {
  watchdog_.Add(*this, socket.get_executor());
}

Deadline::~Deadline() { watchdog_.Remove(*this); }

void Deadline::Arm(Clock::duration timeout) {
  if (!Armed()) watchdog_.Armed();
  at_ = Clock::now() + timeout;
  begun_ = nullptr;
  passed_ = false;
  ended_ = false;
}

bool Deadline::Unwanted() const {
  try {
    return unwanted_ && unwanted_();
  } catch (...) {
    return false;
  }
}

void Deadline::Disarm() {
  unwanted_ = nullptr;
  begun_ = nullptr;
  if (!Armed()) return;
  at_ = Clock::time_point::max();
  watchdog_.Disarmed();
}

}  // namespace ap::http
