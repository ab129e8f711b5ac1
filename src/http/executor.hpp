#pragma once
// Runs blocking work (store calls) on a dedicated thread pool and resumes the calling coroutine on
// its own executor, so I/O threads never wait on the disk.

#include <atomic>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cstdint>
#include <memory>
#include <type_traits>

namespace ap::http {

class BlockingPool {
 public:
  explicit BlockingPool(size_t threads) : pool_(threads) {}
  ~BlockingPool() { Join(); }
  void Join() { pool_.join(); }
  boost::asio::thread_pool& Pool() { return pool_; }
  // Jobs given to RunBlocking, PostBlocking and PostWriteBehind that have not finished yet (the
  // store's queue depth).
  int64_t Waiting() const { return waiting_.load(std::memory_order_relaxed); }

  // Counts a job given to the pool (in Waiting() until it ends). If the pool's thread is running a
  // write-behind job at SCHED_IDLE (LetWriteBehindGiveWay), raises it back first: the new job must
  // not wait behind a job that a busy core leaves without time.
  void Count() {
    waiting_.fetch_add(1);  // sequentially consistent, as lowered_: see StartWriteBehind
    if (lowered_.load()) RaiseThread();
  }
  void Uncount() { waiting_.fetch_sub(1, std::memory_order_relaxed); }
  // On the pool's thread, around a write-behind job: it runs at SCHED_IDLE if it is the only job the
  // pool has and few calls are in flight (LetWriteBehindGiveWay). Start returns whether it lowered
  // the thread; End, told so, raises it whatever a Count did meanwhile.
  bool StartWriteBehind();
  void EndWriteBehind(bool lowered);

 private:
  friend bool LetWriteBehindGiveWay(BlockingPool& pool, std::shared_ptr<const std::atomic<size_t>> calls_in_flight);
  bool MayGiveWay() const;
  void RaiseThread();

  boost::asio::thread_pool pool_;
  std::atomic<int64_t> waiting_{0};
  std::atomic<int> thread_id_{0};  // the one thread's, once LetWriteBehindGiveWay succeeded
  std::atomic<bool> lowered_{false};
  std::shared_ptr<const std::atomic<size_t>> calls_in_flight_;  // set before thread_id_
};

template <class Fn, class R = std::invoke_result_t<Fn&>>
boost::asio::awaitable<R> RunBlocking(BlockingPool& pool, Fn fn) {
  pool.Count();
  auto job = [fn = std::move(fn), &pool]() mutable -> boost::asio::awaitable<R> {
    struct Done {
      BlockingPool& pool;
      ~Done() { pool.Uncount(); }
    } done{pool};
    co_return fn();
  };
  co_return co_await boost::asio::co_spawn(pool.Pool(), std::move(job), boost::asio::use_awaitable);
}

// Queues `fn` on `pool` without waiting for it (counted in Waiting() until it has run).
template <class Fn>
void PostBlocking(BlockingPool& pool, Fn fn) {
  pool.Count();
  boost::asio::post(pool.Pool(), [fn = std::move(fn), &pool]() mutable {
    fn();
    pool.Uncount();
  });
}

// Marks the job it is made in as write-behind (see BlockingPool::StartWriteBehind).
class WriteBehindJob {
 public:
  explicit WriteBehindJob(BlockingPool& pool) : pool_(pool), lowered_(pool.StartWriteBehind()) {}
  ~WriteBehindJob() { pool_.EndWriteBehind(lowered_); }
  WriteBehindJob(const WriteBehindJob&) = delete;
  WriteBehindJob& operator=(const WriteBehindJob&) = delete;

 private:
  BlockingPool& pool_;
  bool lowered_;
};

// PostBlocking for write-behind: work that neither a call nor the broker will wait for (usage and
// activity rows, audit events). It gives way to the I/O threads while it is all the pool has to do
// (LetWriteBehindGiveWay).
template <class Fn>
void PostWriteBehind(BlockingPool& pool, Fn fn) {
  PostBlocking(pool, [fn = std::move(fn), &pool]() mutable {
    WriteBehindJob job(pool);
    fn();
  });
}

// RunBlocking for write-behind: the broker's timers wait for it, so that they queue one at a time.
template <class Fn, class R = std::invoke_result_t<Fn&>>
boost::asio::awaitable<R> RunWriteBehind(BlockingPool& pool, Fn fn) {
  co_return co_await RunBlocking(pool, [fn = std::move(fn), &pool]() mutable {
    WriteBehindJob job(pool);
    return fn();
  });
}

}  // namespace ap::http
