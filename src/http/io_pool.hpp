#pragma once
// One io_context per thread. A connection lives on one thread for its whole life, so its
// handlers need no strand and the upstream connections it takes are used where they were made.
// Thread-safety: Next may be called from any thread; Run once, from the thread that owns the pool.

#include <atomic>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <memory>
#include <vector>

namespace ap::http {

class IoPool {
 public:
  explicit IoPool(size_t threads);
  IoPool(const IoPool&) = delete;
  IoPool& operator=(const IoPool&) = delete;

  boost::asio::io_context& First() { return *contexts_.front(); }
  // Round robin, for spreading new connections over the threads.
  boost::asio::io_context& Next();
  // Runs every context on a thread of its own (the first on the caller's) until Stop.
  void Run();
  void Stop();

 private:
  using WorkGuard = boost::asio::executor_work_guard<boost::asio::io_context::executor_type>;
  std::vector<std::unique_ptr<boost::asio::io_context>> contexts_;
  std::vector<WorkGuard> guards_;
  std::atomic<size_t> next_{0};
};

}  // namespace ap::http
