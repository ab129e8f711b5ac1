#pragma once
// The background pools' threads: their names and their priority below the I/O threads.

#include <cstddef>
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

// Names the calling thread (see NameThreads).
void NameThisThread(std::string_view name);

}  // namespace ap::http
