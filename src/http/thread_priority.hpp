#pragma once
// The background pools' threads: their names and their priority below the I/O threads.

#include <atomic>
#include <cstddef>
#include <memory>
#include <string_view>

#include "http/executor.hpp"

namespace ap::http {

// Names the pool's `threads` threads `name` (one thread) or `name-1`, `name-2`, ... so that `top -H`,
// `ps -L` and `perf sched` tell them apart (Linux keeps 15 bytes of a name). Call it before giving
// the pool work.
void NameThreads(BlockingPool& pool, size_t threads, std::string_view name);

// Lowers each of the pool's `threads` threads by 10 nice levels (at most to 19), for work that no
// call waits for (the owner's long reads, password hashing): on a core they share with an I/O
// thread, a call's I/O preempts it instead of waiting for its end. Under full load it gets a few
// percent of the core. Call it before giving the pool work.
void RunBelowIoThreads(BlockingPool& pool, size_t threads);

// Write-behind gives way only while at most this many calls are in flight.
inline constexpr size_t kFewCalls = 4;

// Lets the one thread of `pool` (the store's) run write-behind jobs (PostWriteBehind's and
// RunWriteBehind's: usage, activity and audit rows) at SCHED_IDLE while each is the only job it
// has and at most kFewCalls calls are in flight (`calls_in_flight`); a job given to the pool
// meanwhile raises it back to its own priority at once. On a core it shares with an I/O thread, a
// lone call's I/O then preempts the write-behind instead of waiting out the store thread's turn
// (Linux's fair scheduler favours the thread that ran less, the store's). With more calls in
// flight they queue behind each other anyway, and write-behind put off and the moves between
// policies cost more than they save. Raising a thread back from SCHED_IDLE needs CAP_SYS_NICE or
// an RLIMIT_NICE of 20: returns false, and changes nothing, when the process has neither. Call it
// once, for a pool of one thread.
bool LetWriteBehindGiveWay(BlockingPool& pool, std::shared_ptr<const std::atomic<size_t>> calls_in_flight);

// Names the calling thread (see NameThreads).
void NameThisThread(std::string_view name);

}  // namespace ap::http
