#pragma once
// Settles answered calls in the store: their usage per day and model, their cost and requests on
// the grant, out of this broker's lease. Writes are grouped (group commit): each call adds its row
// and waits on the store thread, where the first waiting call writes every row added so far in one
// transaction and those after it find theirs already written. So an app has its answer only once
// what it cost is on disk, and under load the store sees few transactions. The I/O threads never
// wait on the disk.
// Crossing one of the owner's budget thresholds records an event and hands it to the alert sink.
// Thread-safety: Record may be called from any thread.

#include <boost/asio/awaitable.hpp>
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
  // Returns once a transaction holding `row` has committed, or failed: then the row waits for the
  // next flush (the store unreachable for a while loses no usage).
  boost::asio::awaitable<void> Record(store::UsageRecord row);
  // Writes what is waiting; on the store thread.
  void Flush();

 private:
  void RecordCrossings(const std::vector<store::SpendChange>& changes);

  store::Store& store_;
  http::BlockingPool& pool_;
  RecorderOptions options_;
  std::mutex mutex_;
  std::vector<store::UsageRecord> pending_;
};

}  // namespace ap::api
