#pragma once
// Settles answered calls in the store: their usage per day and model, their cost and requests on
// the grant, out of this broker's lease. Writes are behind and grouped: a call adds its row and goes
// on (its answer never waits for the disk); the rows are written in one transaction on the store
// thread kFlushDelay after the first of them (sooner once kFlushRows wait), so a busy broker writes
// usage some twenty times a second, not once per call or two (each write is a transaction of
// several statements: on PostgreSQL a round trip each). Every store job an API handler
// runs writes the waiting rows first (OnStore), so what this broker reads after a call includes it.
// The meter has already settled the call in memory, and the store counts the lease it came from as
// used until the row is written, so a crash that loses the last rows makes the grant stricter
// (their reservations count as lost spend), never looser.
// Crossing one of the owner's budget thresholds records an event and hands it to the alert sink.
// Thread-safety: Record may be called from any thread.

#include <atomic>
#include <boost/asio/any_io_executor.hpp>
#include <chrono>
#include <functional>
#include <mutex>
#include <string>
#include <vector>

#include "core/time.hpp"
#include "http/executor.hpp"
#include "store/row_batches.hpp"
#include "store/store.hpp"
#include "store/store_writes.hpp"

namespace ap::metering {

struct RecorderOptions {
  std::string node_id;
  std::vector<int64_t> alert_percents;  // of the budget, e.g. 50, 80, 100
  // Called on the store thread with each threshold event, after it is recorded.
  std::function<void(const store::EventRecord&)> alert_sink;
  Clock clock;
  store::StoreWrites* writes = nullptr;  // told how each flush went
};

// One row per grant, day and model, their figures summed (the cost at most kMaxMicros), in the
// order of that key (several brokers settling the same grants then lock their rows in one order).
// `rows` are sorted and moved from.
std::vector<store::UsageRecord> MergedUsage(std::vector<store::UsageRecord>& rows);

class UsageRecorder {
 public:
  static constexpr std::chrono::milliseconds kFlushDelay{50};
  static constexpr size_t kFlushRows = 1024;

  // `timers`: where the flush delay is timed (an I/O executor).
  UsageRecorder(store::Store& store, http::BlockingPool& store_pool, boost::asio::any_io_executor timers,
                RecorderOptions options)
      : store_(store), pool_(store_pool), timers_(std::move(timers)), options_(std::move(options)) {}
  // Queues `row` and makes sure a flush comes. A failed write keeps its batch for the next flush
  // (the store unreachable for a while loses no usage), which settles it first.
  void Record(store::UsageRecord row);
  // Writes what is waiting; on a store thread. When it returns, every row recorded before the call
  // is written (or kept back by a failure), also when another thread was writing them.
  void Flush();
  // Flush, when rows are waiting: one atomic load otherwise.
  void FlushIfWaiting() {
    if (waiting_.load(std::memory_order_acquire)) Flush();
  }

 private:
  // Merged rows settled in one transaction, under one id.
  struct Batch {
    store::WriteId id = 0;
    std::vector<store::UsageRecord> rows;
  };
  // Whether the store settled `batch` (then emptied); under writing_.
  bool Settle(Batch& batch);
  void RecordCrossings(const std::vector<store::SpendChange>& changes);

  void QueueFlush();

  store::Store& store_;
  http::BlockingPool& pool_;
  boost::asio::any_io_executor timers_;
  RecorderOptions options_;
  std::mutex writing_;  // held through a flush: one at a time, and a later one waits for it
  Batch unsettled_;     // a batch whose settlement failed, settled before any other; under writing_
  std::vector<store::UsageRecord> backlog_;  // merged rows not in a batch yet; under writing_
  std::mutex mutex_;
  store::RowBatches<store::UsageRecord, kFlushRows> rows_;
  bool flush_queued_ = false;
  std::atomic<bool> waiting_{false};
};

}  // namespace ap::metering
