#include "http/thread_priority.hpp"

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <latch>
#include <memory>

namespace ap::http {

void RunBelowIoThreads(BlockingPool& pool, size_t threads) {
  // One job on each thread: each waits until all have started, so no thread takes two.
  auto started = std::make_shared<std::latch>(static_cast<std::ptrdiff_t>(threads));
  for (size_t i = 0; i < threads; ++i)
    boost::asio::post(pool.Pool(), [started] {
      // The nice value is per thread on Linux; lowering it needs no privilege.
      auto self = static_cast<id_t>(gettid());
      (void)setpriority(PRIO_PROCESS, self, std::min(getpriority(PRIO_PROCESS, self) + 10, 19));
      started->arrive_and_wait();
    });
}

}  // namespace ap::http
