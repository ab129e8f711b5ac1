#pragma once
// Whether the store takes writes now. A database that refuses them (its disk full, its file or
// file system read-only, PostgreSQL's default_transaction_read_only) would have the broker serve
// calls it cannot record, so while any writer's last write was refused for that reason, proxied
// calls are refused with 503 storage_unavailable before they reach the provider. Each writer retries
// by itself (the usage and activity writers keep their rows for the next flush, the heartbeat beats
// every sixth of the node timeout), so once every one of them has written again the gate opens,
// without a restart. Each writer counts apart: a full disk may still take a small write (the
// heartbeat's, into room the log already has) while refusing the calls' rows. A store that cannot
// be reached at all is another matter (api/call_guard.cpp: calls go on from the leases held until the
// node timeout).
// Thread-safety: all methods may be called from any thread.

#include <atomic>

#include "core/error.hpp"

namespace ap::store {

class StoreWrites {
 public:
  enum class Writer : unsigned { kUsage = 1, kActivity = 2, kHeartbeat = 4 };

  // A refusal for want of space or writability closes the gate for `writer`; its next success
  // opens it; other failures (the database unreachable, a conflict) leave it as it is.
  void Note(Writer writer, const Status& outcome) {
    auto bit = static_cast<unsigned>(writer);
    if (outcome)
      refused_.fetch_and(~bit, std::memory_order_relaxed);
    else if (outcome.error().code == Errc::kStorageUnavailable)
      refused_.fetch_or(bit, std::memory_order_relaxed);
  }
  template <class T>
  void Note(Writer writer, const Result<T>& outcome) {
    Note(writer, outcome ? Status{} : Status(outcome.error()));
  }
  // kStorageUnavailable while the store refuses any writer's writes.
  Status Check() const {
    if (refused_.load(std::memory_order_relaxed) == 0) return {};
    Error e = MakeError(Errc::kStorageUnavailable,
                        "The broker cannot record calls right now (its database refuses writes: disk full or "
                        "read-only); the call was not sent");
    e.retry_after_seconds = 5;
    return e;
  }

 private:
  std::atomic<unsigned> refused_{0};  // Writer bits
};

}  // namespace ap::store
