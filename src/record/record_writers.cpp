#include "record/record_writers.hpp"

#include <spdlog/spdlog.h>

#include <span>
#include <utility>

#include "domain/grant.hpp"
#include "domain/token_service.hpp"
#include "record/audit_trail.hpp"

namespace ap::record {

store::ActivityRecord CallRow::Whole() && {
  if (grant) {
    row.grant_id = grant->record.id;
    row.app_name = grant->record.app_name;
    row.owner_id = grant->record.owner_id.value_or("");
  }
  if (claims) {
    row.token_id = claims->jti;
    row.client_id = claims->client_id;
  }
  return std::move(row);
}

bool RefusalRows::Keep(const std::string& grant_id, UnixMillis at) {
  int64_t minute = at / 60000;
  if (minute > minute_) {
    LogSkipped();
    counts_.clear();
    minute_ = minute;
  }
  auto it = counts_.find(grant_id);
  if (it == counts_.end()) {
    if (counts_.size() >= kMaxGrants) return false;
    it = counts_.emplace(grant_id, 0).first;
  }
  return ++it->second <= kPerGrantMinute;
}

void RefusalRows::LogSkipped() const {
  size_t grants = 0;
  int64_t skipped = 0;
  for (const auto& [grant_id, count] : counts_) {
    if (count <= kPerGrantMinute) continue;
    skipped += count - kPerGrantMinute;
    if (++grants <= kLoggedGrants)
      spdlog::warn("grant {}: {} calls refused in the minute from {}, of which the record keeps the first {}", grant_id,
                   count, FormatIso8601(minute_ * 60), kPerGrantMinute);
  }
  if (grants > kLoggedGrants)
    spdlog::warn(
        "{} grants had more than {} calls refused in that minute: {} of their calls were not recorded one by one",
        grants, kPerGrantMinute, skipped);
}

namespace {

// A call the broker refused before anything of it reached the provider.
bool IsCostlessRefusal(const CallRow& call) {
  return !call.reached_provider && !call.row.refusal.empty() && call.row.cost_micros == 0;
}

}  // namespace

void ActivityRecorder::Record(CallRow row) {
  {
    std::lock_guard lock(mutex_);
    if (IsCostlessRefusal(row) && !refusals_.Keep(row.grant ? row.grant->record.id : "", row.row.at)) return;
    std::vector<CallRow>& waiting = rows_.Waiting();
    if (waiting.size() >= kMaxWaiting) {
      if (dropped_++ % 10000 == 0)
        spdlog::error("activity not recorded: the store is behind ({} rows dropped)", dropped_);
      return;
    }
    waiting.push_back(std::move(row));
    if (flush_queued_ || backing_off_ || waiting.size() < kBatchRows) return;
    flush_queued_ = true;
  }
  http::PostWriteBehind(pool_, [this] { Flush(); });
}

bool ActivityRecorder::HasWaiting() {
  std::lock_guard lock(mutex_);
  return !rows_.Waiting().empty();
}

void ActivityRecorder::Flush() {
  if (writing_) return;  // the chain writing goes on to these rows (WriteTransaction)
  writing_ = true;
  Continue();
}

void ActivityRecorder::Continue() {
  writing_ = WriteTransaction();
  if (writing_) http::PostWriteBehind(pool_, [this] { Continue(); });  // behind what was queued meanwhile
}

void ActivityRecorder::FlushAll() {
  for (int pass = 0; pass < 2; ++pass)  // the rest of the batch being written, then the rows waiting
    while (WriteTransaction()) {
    }
}

bool ActivityRecorder::WriteTransaction() {
  if (batch_.empty()) TakeBatch();
  if (batch_.empty()) return false;
  size_t count = std::min(chunk_by_chunk_ ? kChunkRows : kBatchRows, batch_.size() - written_);
  auto added = store_.Activity().AddActivityInSlices(std::span(batch_).subspan(written_, count), kChunkRows,
                                                     [this] { return !OthersWaiting(); });
  if (writes_) writes_->Note(store::StoreWrites::Writer::kActivity, added);
  if (!added) {
    Errc code = added.error().code;
    if (code == Errc::kUnavailable || code == Errc::kStorageUnavailable) {
      spdlog::error("{} activity rows not recorded yet, will retry: {}", batch_.size() - written_,
                    added.error().message);
      KeepRestForRetry();
      return false;
    }
    if (count > kChunkRows) {  // again, a chunk a transaction: a row the store can never hold costs only its chunk
      chunk_by_chunk_ = true;
      return true;
    }
    spdlog::error("{} activity rows not recorded: {}", count, added.error().message);
  }
  written_ += added ? *added : count;
  return written_ < batch_.size() || EndBatch();
}

// This job is counted too: it runs in a job of PostWriteBehind or RunWriteBehind.
bool ActivityRecorder::OthersWaiting() const { return pool_.Waiting() > 1; }

void ActivityRecorder::TakeBatch() {
  std::vector<CallRow> taken;
  {
    std::lock_guard lock(mutex_);
    taken = rows_.Take();
    flush_queued_ = false;
    backing_off_ = false;
  }
  batch_.reserve(taken.size());
  for (CallRow& call : taken) batch_.push_back(std::move(call).Whole());
  taken.clear();  // outside the lock: the grants and claims are let go here
  std::lock_guard lock(mutex_);
  rows_.GiveBack(std::move(taken));
}

void ActivityRecorder::ClearBatch() {
  batch_.clear();  // the names filled in by TakeBatch are freed here, on the thread that made them
  if (batch_.capacity() > decltype(rows_)::kKeptCapacity) batch_.shrink_to_fit();  // a backlog's
}

bool ActivityRecorder::EndBatch() {
  ClearBatch();
  written_ = 0;
  chunk_by_chunk_ = false;
  std::lock_guard lock(mutex_);
  return flush_queued_;  // their Flush found the chain writing
}

void ActivityRecorder::KeepRestForRetry() {
  std::vector<CallRow> rows;
  rows.reserve(batch_.size() - written_);
  for (auto it = batch_.begin() + static_cast<ptrdiff_t>(written_); it != batch_.end(); ++it)
    rows.push_back(CallRow{std::move(*it), nullptr, nullptr});
  ClearBatch();
  written_ = 0;
  chunk_by_chunk_ = false;
  std::lock_guard lock(mutex_);
  backing_off_ = true;  // the next try is the periodic flush's, not every call's once the backlog is big
  std::vector<CallRow>& waiting = rows_.Waiting();
  size_t room = kMaxWaiting > waiting.size() ? kMaxWaiting - waiting.size() : 0;
  if (rows.size() > room) {
    dropped_ += static_cast<int64_t>(rows.size() - room);
    rows.resize(room);  // the oldest are kept: they are the calls the owner has waited longest to see
  }
  waiting.insert(waiting.begin(), std::make_move_iterator(rows.begin()), std::make_move_iterator(rows.end()));
}

void AuditLog::Record(AuditEvent event) {
  {
    std::lock_guard lock(mutex_);
    if (!event.at) event.at = SystemNowMillis();  // under the lock: the trail's times in its order
    waiting_.push_back(std::move(event));
    if (flush_queued_) return;
    flush_queued_ = true;
  }
  http::PostWriteBehind(pool_, [this] { Flush(); });
}

void AuditLog::Flush() {
  std::vector<AuditEvent> events;
  {
    std::lock_guard lock(mutex_);
    events.swap(waiting_);
    flush_queued_ = false;
  }
  if (events.empty()) return;
  std::optional<AuditMark> mark;
  if (!mark_.empty()) mark.emplace(mark_);
  auto appended = AppendAudit(store_.Audit(), key_, events, SystemNowMillis(), mark ? &*mark : nullptr);
  if (appended) return;
  std::lock_guard lock(mutex_);
  waiting_.insert(waiting_.begin(), std::make_move_iterator(events.begin()), std::make_move_iterator(events.end()));
  if (waiting_.size() > kMaxWaiting) {  // the newest go: the trail is in the order things happened
    dropped_ += static_cast<int64_t>(waiting_.size() - kMaxWaiting);
    waiting_.resize(kMaxWaiting);
  }
  spdlog::error("{} audit events not recorded yet, kept for the next append ({} dropped in all): {}", waiting_.size(),
                dropped_, appended.error().message);
}

}  // namespace ap::record
