#pragma once
// Writes the owner's record off the hot path. A call or an owner action queues its row or event and
// goes on at once. Activity rows are written by the store thread every kFlushInterval (the broker's
// timer calls Flush), or as soon as kBatchRows are waiting, so that under load they cost the store
// thread some ten transactions a second, never one per call. Batches are written one at a time,
// kChunkRows at a time: the transaction takes the next chunk while no other job waits for the store
// thread, and commits as soon as one does; the rest of the batch is then a job queued behind it. So
// a lease top-up queued behind a batch waits for one chunk, not for the whole batch (a store thread
// that gets a small share of a busy core takes some 100 ms over 2,000 rows), and an idle store
// thread writes the batch in one transaction: each commit logs again the last, partly filled page of
// the table and of each index, and 250-row transactions wrote half as many bytes again per row as a
// batch's does (about 630 against 420 a call), in system time on the core the I/O thread shares.
// Audit events are rare: each is appended as soon as the store thread is free, with those queued
// meanwhile. They all go through the one store thread, which keeps the chain one line within a
// broker; the store's write lock keeps it one line across processes.
// Thread-safety: Record may be called from any thread; Flush and FlushAll run on the store thread,
// which must be the pool's only thread (the batch being written is kept for its next transaction),
// in a job the pool counts (http::PostWriteBehind, PostBlocking or RunBlocking), since Waiting()
// less this job is who waits.

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "http/executor.hpp"
#include "record/audit_chain.hpp"
#include "store/row_batches.hpp"
#include "store/store.hpp"
#include "store/store_writes.hpp"

namespace ap::domain {
struct Grant;
struct TokenClaims;
}  // namespace ap::domain

namespace ap::record {

// A call's activity row as the call hands it over. The names of its grant and token (their ids,
// the app's name, the owner, the client) stay the grant's and the claims' own until the store
// thread takes the row: copied on the I/O thread, the longer ones were four allocations a call,
// each freed on the store thread (memory that then goes back to the I/O thread's allocator across
// cores): handing them over this way gained 1-2% in the unpinned lane.
struct CallRow {
  store::ActivityRecord row;  // its grant's and token's names are filled in from `grant` and `claims`
  std::shared_ptr<const domain::Grant> grant;
  std::shared_ptr<const domain::TokenClaims> claims;
  bool reached_provider = false;  // something of the call was sent upstream

  // The row with every name filled in.
  store::ActivityRecord Whole() &&;
};

// The rows one grant's refused calls get a minute: a call the broker refused at no cost (a revoked
// grant's token, an app past its rate limit, a malformed body) is refused before any limit counts
// it, so an app could otherwise write rows, and grow the owner's record, as fast as it can send.
// Past kPerGrantMinute such calls of a grant in a minute are counted, not recorded one by one, and
// the count is logged when the minute is over (at the next refusal after it; kLoggedGrants grants
// by name, the rest in all). Calls that reached the provider are always recorded. A row comes in
// when its call ends, its time being when it began: one of an earlier minute counts in this one.
// Thread-safety: none (the recorder's lock).
class RefusalRows {
 public:
  static constexpr int64_t kPerGrantMinute = 60;
  static constexpr size_t kMaxGrants = 100000;  // grants counted in one minute; past that, none recorded
  static constexpr size_t kLoggedGrants = 10;

  // Whether the refused call of `grant_id` at `at` gets its row.
  bool Keep(const std::string& grant_id, UnixMillis at);

 private:
  void LogSkipped() const;

  int64_t minute_ = 0;
  std::unordered_map<std::string, int64_t> counts_;  // this minute's refusals, per grant
};

class ActivityRecorder {
 public:
  // Rows beyond this many waiting are dropped (with an error in the log) rather than let a stalled
  // disk take the broker's memory.
  static constexpr size_t kMaxWaiting = 100000;
  static constexpr size_t kBatchRows = 2000;
  static constexpr size_t kChunkRows = 250;
  static constexpr std::chrono::milliseconds kFlushInterval{250};

  // `writes`, when given, is told how each flush went.
  ActivityRecorder(store::Store& store, http::BlockingPool& store_pool, store::StoreWrites* writes = nullptr)
      : store_(store), pool_(store_pool), writes_(writes) {}
  // Queues `row`; never waits.
  void Record(CallRow row);
  // Whether rows are waiting (the timer skips the store thread when none are).
  bool HasWaiting();
  // On the store thread: takes the waiting rows as a batch, writes a transaction of it (a chunk, or
  // more while no other job waits) and queues the rest as the next job; nothing while a batch is
  // being written (which goes on to the next batch if kBatchRows came in meanwhile). Rows the store could not take for
  // now (it is unreachable, or refuses writes) wait for the next flush, up to kMaxWaiting.
  void Flush();
  // On the store thread: writes every row waiting (when the broker stops).
  void FlushAll();

 private:
  // Writes the next transaction, and queues the one after if there is more.
  void Continue();
  // Whether another job waits for the store thread.
  bool OthersWaiting() const;
  // Writes the next transaction of the batch being written (at most kBatchRows, in chunks while no
  // other job waits), or else takes the waiting rows as the next batch. Returns whether there is
  // more to write now: the rest of the batch, or the next batch when kBatchRows came in meanwhile.
  // A transaction the store refuses for good (a value it can never hold) is written again a chunk
  // a transaction, so that only the chunks the store still refuses are lost.
  bool WriteTransaction();
  // Takes the waiting rows as the batch, made whole (CallRow::Whole) here on the store thread.
  void TakeBatch();
  // Empties the batch, and keeps its buffer for the next unless a backlog made it larger than
  // store::RowBatches keeps.
  void ClearBatch();
  // Ends the batch (its buffer is kept for the next), and returns whether kBatchRows came in
  // meanwhile.
  bool EndBatch();
  // Ends the batch, putting its unwritten rows back in front of those waiting, for the periodic
  // flush to try again.
  void KeepRestForRetry();

  store::Store& store_;
  http::BlockingPool& pool_;
  store::StoreWrites* writes_;
  std::mutex mutex_;
  store::RowBatches<CallRow, kBatchRows> rows_;
  RefusalRows refusals_;
  // On the store thread only: the batch being written (its rows made whole), how much of it is,
  // and whether a transaction of it (or of the next batch) is queued.
  std::vector<store::ActivityRecord> batch_;
  size_t written_ = 0;
  bool chunk_by_chunk_ = false;  // the store refused a transaction of this batch for good
  bool writing_ = false;
  bool flush_queued_ = false;
  bool backing_off_ = false;  // the last flush failed: only the periodic flush tries again
  int64_t dropped_ = 0;
};

class AuditLog {
 public:
  // Events beyond this many waiting (the store failing appends) are dropped, with an error in the log.
  static constexpr size_t kMaxWaiting = 10000;

  // `key`: the chain's key (vault::AuditChainKey), as bytes. `mark`: where this machine keeps how far
  // it has seen the trail go (record/audit_mark.hpp); none: not kept.
  AuditLog(store::Store& store, http::BlockingPool& store_pool, std::string key, std::filesystem::path mark = {})
      : store_(store), pool_(store_pool), key_(std::move(key)), mark_(std::move(mark)) {}
  // Queues `event`; never waits. It is linked into the chain in the order Record was called.
  void Record(AuditEvent event);
  // Appends what is waiting. Events an append failed for wait for the next one (each Record asks
  // for one, and the broker's heartbeat does), ahead of those recorded since.
  void Flush();
  // The chain's key, for the synchronous AppendAudit on the store thread.
  const std::string& Key() const { return key_; }

 private:
  store::Store& store_;
  http::BlockingPool& pool_;
  std::string key_;
  std::filesystem::path mark_;
  std::mutex mutex_;
  std::vector<AuditEvent> waiting_;
  bool flush_queued_ = false;
  int64_t dropped_ = 0;
};

}  // namespace ap::record
