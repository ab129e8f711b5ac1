#include "http/thread_priority.hpp"

#include <gtest/gtest.h>
#include <sys/resource.h>
#include <unistd.h>

#include <boost/asio/post.hpp>
#include <algorithm>
#include <future>
#include <latch>
#include <memory>
#include <set>
#include <vector>

namespace ap::http {
namespace {

int NiceOfThisThread() { return getpriority(PRIO_PROCESS, static_cast<id_t>(gettid())); }

TEST(RunBelowIoThreads, EveryThreadOfThePoolRunsTenNiceLevelsBelowTheCaller) {
  int mine = NiceOfThisThread();
  BlockingPool pool(3);
  RunBelowIoThreads(pool, 3);
  // Jobs that each hold their thread until all three have started: each runs on a thread of its own.
  auto all_started = std::make_shared<std::latch>(3);
  std::vector<std::future<std::pair<pid_t, int>>> seen;
  for (int i = 0; i < 3; ++i) {
    auto job = std::make_shared<std::packaged_task<std::pair<pid_t, int>()>>([all_started] {
      all_started->arrive_and_wait();
      return std::pair{gettid(), NiceOfThisThread()};
    });
    seen.push_back(job->get_future());
    boost::asio::post(pool.Pool(), [job] { (*job)(); });
  }
  std::set<pid_t> threads;
  for (auto& f : seen) {
    auto [tid, nice] = f.get();
    threads.insert(tid);
    EXPECT_EQ(nice, std::min(mine + 10, 19));
  }
  pool.Join();
  EXPECT_EQ(threads.size(), 3u) << "the jobs ran on every thread of the pool";
  EXPECT_EQ(NiceOfThisThread(), mine) << "the caller's own thread is left as it was";
}

}  // namespace
}  // namespace ap::http
