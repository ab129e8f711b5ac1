#pragma once
// Runs blocking work (store calls) on a dedicated thread pool and resumes the calling coroutine on
// its own executor, so I/O threads never wait on the disk.

#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
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

 private:
  boost::asio::thread_pool pool_;
};

template <class Fn, class R = std::invoke_result_t<Fn&>>
boost::asio::awaitable<R> RunBlocking(BlockingPool& pool, Fn fn) {
  auto job = [fn = std::move(fn)]() mutable -> boost::asio::awaitable<R> { co_return fn(); };
  co_return co_await boost::asio::co_spawn(pool.Pool(), std::move(job), boost::asio::use_awaitable);
}

}  // namespace ap::http
