#pragma once
// Background threads below the I/O threads.

#include <cstddef>

#include "http/executor.hpp"

namespace ap::http {

// Lowers each of the pool's `threads` threads by 10 nice levels (at most to 19), for work that no
// call waits for (the owner's long reads, password hashing): on a core they share with an I/O
// thread, a call's I/O preempts it instead of waiting for its end. Under full load it gets a few
// percent of the core. Call it before giving the pool work.
void RunBelowIoThreads(BlockingPool& pool, size_t threads);

}  // namespace ap::http
