#include "api/usage_recorder.hpp"

#include <spdlog/spdlog.h>

#include <boost/asio/post.hpp>
#include <map>
#include <tuple>

namespace ap::api {

void UsageRecorder::Add(store::UsageRecord row) {
  bool schedule = false;
  {
    std::lock_guard lock(mutex_);
    pending_.push_back(std::move(row));
    schedule = !scheduled_;
    scheduled_ = true;
  }
  if (schedule) boost::asio::post(pool_.Pool(), [this] { Flush(); });
}

namespace {

// One row per grant, day and model.
std::vector<store::UsageRecord> Merged(std::vector<store::UsageRecord> rows) {
  std::map<std::tuple<std::string, std::string, std::string>, store::UsageRecord> by_key;
  for (auto& r : rows) {
    auto [it, fresh] = by_key.try_emplace({r.grant_id, r.day, r.model}, r);
    if (fresh) continue;
    it->second.requests += r.requests;
    it->second.input_tokens += r.input_tokens;
    it->second.cached_input_tokens += r.cached_input_tokens;
    it->second.output_tokens += r.output_tokens;
    it->second.audio_milliseconds += r.audio_milliseconds;
  }
  std::vector<store::UsageRecord> out;
  for (auto& [key, row] : by_key) out.push_back(std::move(row));
  return out;
}

}  // namespace

void UsageRecorder::Flush() {
  std::vector<store::UsageRecord> rows;
  {
    std::lock_guard lock(mutex_);
    rows.swap(pending_);
    scheduled_ = false;
  }
  if (auto added = store_.AddUsage(Merged(std::move(rows))); !added)
    spdlog::error("usage not recorded: {}", added.error().message);
}

}  // namespace ap::api
