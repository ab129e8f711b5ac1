#pragma once
// Records what answered calls used, off the hot path. Rows wait in memory only while a write is
// running: the first row schedules a write on the store thread, rows that arrive meanwhile go
// together in the next one (group commit, one transaction each). Under load the store sees few
// transactions; at rest each row is written at once. The app never waits for these writes.
// Thread-safety: Add may be called from any thread.

#include <mutex>
#include <vector>

#include "http/executor.hpp"
#include "store/store.hpp"

namespace ap::api {

class UsageRecorder {
 public:
  UsageRecorder(store::Store& store, http::BlockingPool& store_pool) : store_(store), pool_(store_pool) {}
  void Add(store::UsageRecord row);

 private:
  void Flush();  // on the store thread

  store::Store& store_;
  http::BlockingPool& pool_;
  std::mutex mutex_;
  std::vector<store::UsageRecord> pending_;
  bool scheduled_ = false;
};

}  // namespace ap::api
