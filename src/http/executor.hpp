#pragma once
// Runs blocking work (store calls) on a dedicated thread pool and resumes the calling coroutine on
// its own executor, so I/O threads never wait on the disk.

#include <atomic>
#include <boost/asio/awaitable.hpp>
#include <cstdint>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <type_traits>

namespace ap::http {

class BlockingPool {
 public:
  explicit BlockingPool(size_t threads) : pool_(threads) {}
  ~BlockingPool() { Join(); }
  void Join() { pool_.join(); }
  boost::asio::thread_pool& Pool() { return pool_; }
  // Jobs given to RunBlocking that have not finished yet (the store's queue depth).
  int64_t Waiting() const { return waiting_.load(std::memory_order_relaxed); }
  std::atomic<int64_t>& WaitingCounter() { return waiting_; }

 private:
  boost::asio::thread_pool pool_;
  std::atomic<int64_t> waiting_{0};
};

template <class Fn, class R = std::invoke_result_t<Fn&>>
boost::asio::awaitable<R> RunBlocking(BlockingPool& pool, Fn fn) {
  auto& waiting = pool.WaitingCounter();
  waiting.fetch_add(1, std::memory_order_relaxed);
  auto job = [fn = std::move(fn), &waiting]() mutable -> boost::asio::awaitable<R> {
    struct Done {
      std::atomic<int64_t>& w;
      ~Done() { w.fetch_sub(1, std::memory_order_relaxed); }
    } done{waiting};
    co_return fn();
  };
  co_return co_await boost::asio::co_spawn(pool.Pool(), std::move(job), boost::asio::use_awaitable);
}

// Queues `fn` on `pool` without waiting for it (counted in Waiting() until it has run).
template <class Fn>
void PostBlocking(BlockingPool& pool, Fn fn) {
  auto& waiting = pool.WaitingCounter();
  waiting.fetch_add(1, std::memory_order_relaxed);
  boost::asio::post(pool.Pool(), [fn = std::move(fn), &waiting]() mutable {
    fn();
    waiting.fetch_sub(1, std::memory_order_relaxed);
  });
}

}  // namespace ap::http
