#include "http/thread_priority.hpp"

#include <gtest/gtest.h>
#include <linux/capability.h>
#include <pthread.h>
#include <sched.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <functional>
#include <future>
#include <latch>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <thread>
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

int PolicyOfThisThread() { return sched_getscheduler(0); }

// The policy a job sees as it starts, given to the pool by `give` (PostWriteBehind or PostBlocking).
template <class Give>
int PolicyOfAJobGivenBy(BlockingPool& pool, Give give) {
  std::promise<int> seen;
  give(pool, [&seen] { seen.set_value(PolicyOfThisThread()); });
  return seen.get_future().get();
}
void GiveWriteBehind(BlockingPool& pool, std::function<void()> job) { PostWriteBehind(pool, std::move(job)); }
void GiveBlocking(BlockingPool& pool, std::function<void()> job) { PostBlocking(pool, std::move(job)); }

std::shared_ptr<const std::atomic<size_t>> NoCalls() { return std::make_shared<std::atomic<size_t>>(0); }

// The thread's policy between jobs, seen by a job the pool does not count (so it raises nothing).
int PolicyBetweenJobs(BlockingPool& pool) {
  std::promise<int> seen;
  boost::asio::post(pool.Pool(), [&seen] { seen.set_value(PolicyOfThisThread()); });
  return seen.get_future().get();
}

TEST(LetWriteBehindGiveWay, AWriteBehindJobAloneRunsAtIdlePriorityAndEveryOtherJobAtTheThreadsOwn) {
  BlockingPool pool(1);
  ASSERT_TRUE(LetWriteBehindGiveWay(pool, NoCalls())) << "this test needs CAP_SYS_NICE or an RLIMIT_NICE of 20";
  EXPECT_EQ(PolicyOfAJobGivenBy(pool, GiveWriteBehind), SCHED_IDLE);
  EXPECT_EQ(PolicyBetweenJobs(pool), SCHED_OTHER) << "raised again as the write-behind ended";
  EXPECT_EQ(PolicyOfAJobGivenBy(pool, GiveBlocking), SCHED_OTHER);

  // RunWriteBehind's job gives way too; RunBlocking's does not. One after the other: either job
  // queued with the other would not give way.
  boost::asio::io_context io;
  std::optional<int> awaited, blocking;
  boost::asio::co_spawn(io, RunWriteBehind(pool, PolicyOfThisThread),
                        [&](std::exception_ptr, int policy) { awaited = policy; });
  io.run();
  io.restart();
  boost::asio::co_spawn(io, RunBlocking(pool, PolicyOfThisThread),
                        [&](std::exception_ptr, int policy) { blocking = policy; });
  io.run();
  EXPECT_EQ(awaited, SCHED_IDLE);
  EXPECT_EQ(blocking, SCHED_OTHER);

  // A write-behind job with another queued behind it does not give way: that one would wait.
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  PostBlocking(pool, [released] { released.wait(); });
  std::promise<int> seen;
  PostWriteBehind(pool, [&seen] { seen.set_value(PolicyOfThisThread()); });
  PostBlocking(pool, [] {});
  release.set_value();
  EXPECT_EQ(seen.get_future().get(), SCHED_OTHER);
  pool.Join();
}

TEST(LetWriteBehindGiveWay, WriteBehindGivesWayOnlyWhileFewCallsAreInFlight) {
  BlockingPool pool(1);
  auto calls = std::make_shared<std::atomic<size_t>>(kFewCalls);
  ASSERT_TRUE(LetWriteBehindGiveWay(pool, calls)) << "this test needs CAP_SYS_NICE or an RLIMIT_NICE of 20";
  EXPECT_EQ(PolicyOfAJobGivenBy(pool, GiveWriteBehind), SCHED_IDLE);
  *calls = kFewCalls + 1;
  EXPECT_EQ(PolicyOfAJobGivenBy(pool, GiveWriteBehind), SCHED_OTHER);
  *calls = 0;
  EXPECT_EQ(PolicyOfAJobGivenBy(pool, GiveWriteBehind), SCHED_IDLE);
  pool.Join();
}

TEST(LetWriteBehindGiveWay, AJobGivenToThePoolRaisesTheWriteBehindItFindsGivingWay) {
  BlockingPool pool(1);
  ASSERT_TRUE(LetWriteBehindGiveWay(pool, NoCalls())) << "this test needs CAP_SYS_NICE or an RLIMIT_NICE of 20";
  std::promise<int> lowered, raised;
  std::promise<void> go_on;
  PostWriteBehind(pool, [&] {
    lowered.set_value(PolicyOfThisThread());
    go_on.get_future().wait();
    raised.set_value(PolicyOfThisThread());  // raised by the thread that gave the pool its next job
  });
  ASSERT_EQ(lowered.get_future().get(), SCHED_IDLE);
  std::promise<int> next;
  PostBlocking(pool, [&next] { next.set_value(PolicyOfThisThread()); });
  go_on.set_value();
  EXPECT_EQ(raised.get_future().get(), SCHED_OTHER);
  EXPECT_EQ(next.get_future().get(), SCHED_OTHER);
  pool.Join();
}

// Capabilities are per thread on Linux, and a new thread starts with its creator's.
bool DropCapSysNiceOfThisThread() {
  __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[2] = {};
  if (syscall(SYS_capget, &header, data) != 0) return false;
  data[CAP_TO_INDEX(CAP_SYS_NICE)].effective &= ~CAP_TO_MASK(CAP_SYS_NICE);
  return syscall(SYS_capset, &header, data) == 0;
}

TEST(LetWriteBehindGiveWay, AProcessThatCouldNotRaiseTheThreadBackLeavesEveryJobAtItsPriority) {
  // An RLIMIT_NICE of 20 would let it: a soft limit of 0 for this test (lowering it needs no
  // privilege, and the hard limit lets it back).
  struct rlimit kept {};
  ASSERT_EQ(getrlimit(RLIMIT_NICE, &kept), 0);
  struct rlimit none = kept;
  none.rlim_cur = 0;
  ASSERT_EQ(setrlimit(RLIMIT_NICE, &none), 0);
  struct Restore {
    const struct rlimit& kept;
    ~Restore() { (void)setrlimit(RLIMIT_NICE, &kept); }
  } restore{kept};
  BlockingPool pool(1);
  bool gave_way = true;
  std::thread([&] {
    ASSERT_TRUE(DropCapSysNiceOfThisThread());
    gave_way = LetWriteBehindGiveWay(pool, NoCalls());
  }).join();
  EXPECT_FALSE(gave_way);
  EXPECT_EQ(PolicyOfAJobGivenBy(pool, GiveWriteBehind), SCHED_OTHER);

  BlockingPool never_asked(1);
  EXPECT_EQ(PolicyOfAJobGivenBy(never_asked, GiveWriteBehind), SCHED_OTHER);
}

}  // namespace
}  // namespace ap::http
