#include "http/thread_priority.hpp"

#include <gtest/gtest.h>
#include <pthread.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <boost/asio/post.hpp>
#include <future>
#include <latch>
#include <memory>
#include <set>
#include <string>
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

std::string NameOfThisThread() {
  char name[16] = {};
  pthread_getname_np(pthread_self(), name, sizeof name);
  return name;
}

TEST(NameThreads, EveryThreadOfThePoolGetsANumberedNameAndAPoolOfOneThePlainName) {
  std::string mine = NameOfThisThread();
  BlockingPool pool(3);
  NameThreads(pool, 3, "ap-read");
  RunBelowIoThreads(pool, 3);  // a second round of one job per thread, after the first
  auto all_started = std::make_shared<std::latch>(3);
  std::vector<std::future<std::string>> seen;
  for (int i = 0; i < 3; ++i) {
    auto job = std::make_shared<std::packaged_task<std::string()>>([all_started] {
      all_started->arrive_and_wait();
      return NameOfThisThread();
    });
    seen.push_back(job->get_future());
    boost::asio::post(pool.Pool(), [job] { (*job)(); });
  }
  std::set<std::string> names;
  for (auto& f : seen) names.insert(f.get());
  pool.Join();
  EXPECT_EQ(names, (std::set<std::string>{"ap-read-1", "ap-read-2", "ap-read-3"}));
  EXPECT_EQ(NameOfThisThread(), mine) << "the caller's own thread keeps its name";

  BlockingPool one(1);
  NameThreads(one, 1, "a-name-longer-than-fifteen-bytes");
  std::promise<std::string> named;
  boost::asio::post(one.Pool(), [&named] { named.set_value(NameOfThisThread()); });
  EXPECT_EQ(named.get_future().get(), "a-name-longer-t") << "cut at Linux's 15 bytes, not refused";
}

}  // namespace
}  // namespace ap::http
