#include "metering/usage_recorder.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/steady_timer.hpp>
#include <tuple>
#include <utility>

#include "core/ids.hpp"
#include "core/money.hpp"

namespace ap::metering {

namespace {

auto KeyOf(const store::UsageRecord& r) { return std::tie(r.grant_id, r.day, r.model); }

// Adds the figures of `row` to `into`, a row of the same grant, day and model.
void AddFigures(store::UsageRecord& into, const store::UsageRecord& row) {
  into.requests += row.requests;
  into.input_tokens += row.input_tokens;
  into.cached_input_tokens += row.cached_input_tokens;
  into.output_tokens += row.output_tokens;
  into.audio_milliseconds += row.audio_milliseconds;
  into.cost_micros = AddMicros(into.cost_micros, row.cost_micros);  // a backlog may hold any number of calls
  into.unleased_micros = AddMicros(into.unleased_micros, row.unleased_micros);
  into.unleased_requests += row.unleased_requests;
}

}  // namespace

void UsageRecorder::Record(store::UsageRecord row) {
  bool start_timer = false;
  bool flush_now = false;
  {
    std::lock_guard lock(mutex_);
    std::vector<store::UsageRecord>& waiting = rows_.Waiting();
    // A busy grant's calls come one after another: they join one row here (its strings freed on
    // this thread), and the store thread has fewer to sort and merge.
    bool joined = !waiting.empty() && KeyOf(waiting.back()) == KeyOf(row);
    if (joined)
      AddFigures(waiting.back(), row);
    else
      waiting.push_back(std::move(row));
    waiting_.store(true, std::memory_order_release);
    start_timer = !std::exchange(flush_queued_, true);
    flush_now = !joined && waiting.size() == kFlushRows;  // once, as the row that fills the batch comes
  }
  if (flush_now) QueueFlush();
  if (!start_timer) return;
  auto timer = std::make_shared<boost::asio::steady_timer>(timers_, kFlushDelay);
  timer->async_wait([this, timer](const boost::system::error_code&) { QueueFlush(); });
}

void UsageRecorder::QueueFlush() {
  http::PostWriteBehind(pool_, [this] { Flush(); });
}

std::vector<store::UsageRecord> MergedUsage(std::vector<store::UsageRecord>& rows) {
  std::sort(rows.begin(), rows.end(), [](const auto& a, const auto& b) { return KeyOf(a) < KeyOf(b); });
  std::vector<store::UsageRecord> out;
  for (auto& r : rows) {
    if (out.empty() || KeyOf(out.back()) != KeyOf(r))
      out.push_back(std::move(r));
    else
      AddFigures(out.back(), r);
  }
  return out;
}

void UsageRecorder::Flush() {
  std::lock_guard writing(writing_);
  std::vector<store::UsageRecord> rows;
  {
    std::lock_guard lock(mutex_);
    rows = rows_.Take();
    flush_queued_ = false;
    waiting_.store(false, std::memory_order_release);
  }
  // Merged with the rows a failed settlement held back, so that a store away for long holds one
  // row per grant, day and model, not one per call.
  if (!rows.empty()) {
    rows.insert(rows.end(), std::make_move_iterator(backlog_.begin()), std::make_move_iterator(backlog_.end()));
    backlog_ = MergedUsage(rows);
    rows.clear();
    std::lock_guard lock(mutex_);
    rows_.GiveBack(std::move(rows));
  }
  if (!unsettled_.rows.empty() && !Settle(unsettled_)) return;
  if (backlog_.empty()) return;
  Batch batch{RandomNumberId(), std::exchange(backlog_, {})};
  if (!Settle(batch)) unsettled_ = std::move(batch);
}

bool UsageRecorder::Settle(Batch& batch) {
  auto changes = store_.Metering().Settle(options_.node_id, batch.id, batch.rows);
  if (options_.writes) options_.writes->Note(store::StoreWrites::Writer::kUsage, changes);
  if (!changes) {
    // Tried again, as it is, at the next flush (the next call's, or the heartbeat's): if its commit
    // went through unseen, the store knows its id and does not apply it twice. Until then the store
    // counts the calls' cost as leased to this broker, so no budget is overspent meanwhile.
    spdlog::error("usage not recorded yet, will retry: {}", changes.error().message);
    waiting_.store(true, std::memory_order_release);  // a store job's FlushIfWaiting tries it again
    return false;
  }
  batch.rows.clear();
  RecordCrossings(*changes);
  return true;
}

void UsageRecorder::RecordCrossings(const std::vector<store::SpendChange>& changes) {
  for (const auto& change : changes) {
    if (!change.budget_micros || *change.budget_micros <= 0) continue;
    for (int64_t percent : options_.alert_percents) {
      int64_t line = PercentOf(*change.budget_micros, percent);
      if (change.before_micros >= line || change.after_micros < line) continue;
      store::EventRecord event{change.grant_id, options_.clock(), "budget_threshold",
                               "{\"percent\":" + std::to_string(percent) +
                                   ",\"spentMicros\":" + std::to_string(change.after_micros) +
                                   ",\"budgetMicros\":" + std::to_string(*change.budget_micros) + "}"};
      if (auto added = store_.Metering().AddEvent(event); !added)
        spdlog::error("budget alert not recorded: {}", added.error().message);
      else if (options_.alert_sink)
        options_.alert_sink(event);
    }
  }
}

}  // namespace ap::metering
