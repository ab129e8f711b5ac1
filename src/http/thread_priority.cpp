#include "http/thread_priority.hpp"

#include <pthread.h>
#include <sched.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <latch>
#include <memory>
#include <string>
#include <thread>

namespace ap::http {

namespace {

// Runs fn(i) once on each of the pool's `threads` threads, i from 1: each job waits until all have
// started, so no thread takes two.
template <class Fn>
void OnEachThread(BlockingPool& pool, size_t threads, Fn fn) {
  auto started = std::make_shared<std::latch>(static_cast<std::ptrdiff_t>(threads));
  auto next = std::make_shared<std::atomic<size_t>>(1);
  for (size_t i = 0; i < threads; ++i)
    boost::asio::post(pool.Pool(), [started, next, fn] {
      fn(next->fetch_add(1));
      started->arrive_and_wait();
    });
}

bool SetPolicy(pid_t thread, int policy) {
  sched_param param{};  // priority 0, as both policies want; the nice value is kept
  return sched_setscheduler(thread, policy, &param) == 0;
}

// Whether a thread of this process may go to SCHED_IDLE and back: tried on a thread of its own,
// since a thread that cannot come back would stay idle.
bool MayRaiseFromIdle() {
  bool may = false;
  std::thread([&may] { may = SetPolicy(0, SCHED_IDLE) && SetPolicy(0, SCHED_OTHER); }).join();
  return may;
}

}  // namespace

bool LetWriteBehindGiveWay(BlockingPool& pool, std::shared_ptr<const std::atomic<size_t>> calls_in_flight) {
  if (!MayRaiseFromIdle()) return false;
  pool.calls_in_flight_ = std::move(calls_in_flight);
  // Before any job given to the pool after this one; RaiseThread reads it only once a job lowered.
  boost::asio::post(pool.Pool(), [&pool] { pool.thread_id_.store(gettid()); });
  return true;
}

bool BlockingPool::MayGiveWay() const {
  return thread_id_.load(std::memory_order_relaxed) != 0 && waiting_.load() == 1 &&
         calls_in_flight_->load() <= kFewCalls;
}

bool BlockingPool::StartWriteBehind() {
  if (!MayGiveWay()) return false;
  lowered_.store(true);
  (void)SetPolicy(0, SCHED_IDLE);
  // A job counted after the check above, whose Count saw lowered_ false, raises nothing: look
  // again. If its Count did see lowered_ true, it may have raised the thread before the line above
  // lowered it, but then its count is seen here.
  if (waiting_.load() == 1) return true;
  lowered_.store(false);
  (void)SetPolicy(0, SCHED_OTHER);
  return false;
}

void BlockingPool::EndWriteBehind(bool lowered) {
  if (!lowered) return;
  // Raised here even if a Count took lowered_ first: its own raise may not have landed yet.
  lowered_.store(false);
  (void)SetPolicy(0, SCHED_OTHER);
}

void BlockingPool::RaiseThread() {
  if (lowered_.exchange(false)) (void)SetPolicy(thread_id_.load(std::memory_order_relaxed), SCHED_OTHER);
}

void NameThisThread(std::string_view name) {
  std::string kept(name.substr(0, 15));  // Linux's limit, without the terminating zero
  (void)pthread_setname_np(pthread_self(), kept.c_str());
}

void NameThreads(BlockingPool& pool, size_t threads, std::string_view name) {
  OnEachThread(pool, threads, [name = std::string(name), threads](size_t i) {
    NameThisThread(threads == 1 ? name : name + "-" + std::to_string(i));
  });
}

void RunBelowIoThreads(BlockingPool& pool, size_t threads) {
  OnEachThread(pool, threads, [](size_t) {
    // The nice value is per thread on Linux; lowering it needs no privilege.
    auto self = static_cast<id_t>(gettid());
    (void)setpriority(PRIO_PROCESS, self, std::min(getpriority(PRIO_PROCESS, self) + 10, 19));
  });
}

}  // namespace ap::http
