#include "http/thread_priority.hpp"

#include <pthread.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <latch>
#include <memory>
#include <string>

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

}  // namespace

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
