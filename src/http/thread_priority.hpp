#pragma once
// Background threads below the I/O threads.

#include <cstddef>

#include "http/executor.hpp"

namespace ap::http {

// Lowers each of the pool's `threads` threads by 10 nice levels (at most to 19): on a core they
// share with an I/O thread, a call's I/O preempts a batch of store writes instead of waiting for
// its end. Under full load they still get about a tenth of the core, and a call that waits on
// them leaves them the rest. Call it before giving the pool work.
void RunBelowIoThreads(BlockingPool& pool, size_t threads);

}  // namespace ap::http
