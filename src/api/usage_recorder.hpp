#pragma once
// Settles answered calls in the store: their usage per day and model, their cost and requests on
// the grant, out of this broker's lease. Writes are behind and grouped: a call adds its row and goes
// on (its answer never waits for the disk); one flush at a time is queued on the store thread and
// writes every row added until it runs in one transaction. Store work queued after a Record sees
// its row (Flush below). The meter has already settled the call in memory, and the store counts
// the lease it came from as used until the row is written, so a crash that loses the last rows
// makes the grant stricter (their reservations count as lost spend), never looser.
// Crossing one of the owner's budget thresholds records an event and hands it to the alert sink.
// Thread-safety: Record may be called from any thread.

#include <functional>
#include <mutex>
#include <string>
#include <vector>

#include "core/time.hpp"
#include "http/executor.hpp"
#include "store/store.hpp"

namespace ap::api {

struct RecorderOptions {
  std::string node_id;
  std::vector<int64_t> alert_percents;  // of the budget, e.g. 50, 80, 100
  // Called on the store thread with each threshold event, after it is recorded.
  std::function<void(const store::EventRecord&)> alert_sink;
  Clock clock;
};

class UsageRecorder {
 public:
  UsageRecorder(store::Store& store, http::BlockingPool& store_pool, RecorderOptions options)
      : store_(store), pool_(store_pool), options_(std::move(options)) {}
  // Queues `row`; a flush is on the store thread's queue when this returns. A failed write keeps
  // the rows for the next flush (the store unreachable for a while loses no usage).
  void Record(store::UsageRecord row);
  // Writes what is waiting; on a store thread. When it returns, every row recorded before the call
  // is written (or kept back by a failure), also when another thread was writing them.
  void Flush();

 private:
  void RecordCrossings(const std::vector<store::SpendChange>& changes);

  store::Store& store_;
  http::BlockingPool& pool_;
  RecorderOptions options_;
  std::mutex writing_;  // held through a flush: one at a time, and a later one waits for it
  std::mutex mutex_;
  std::vector<store::UsageRecord> pending_;
  bool flush_queued_ = false;
};

}  // namespace ap::api
