#include "api/call_activity.hpp"

namespace ap::api {

CallActivity::CallActivity(BrokerContext& ctx, std::string capability)
    : ctx_(ctx), started_(std::chrono::steady_clock::now()) {
  row_.at = SystemNowMillis();
  row_.capability = std::move(capability);
}

void CallActivity::SetGrant(const domain::Grant& grant) {
  known_ = true;
  row_.grant_id = grant.record.id;
  row_.app_name = grant.record.app_name;
  row_.owner_id = grant.record.owner_id.value_or("");
  row_.provider = grant.scope.provider;
}

void CallActivity::Refused(const Error& error) {
  if (row_.refusal.empty()) row_.refusal = ErrcName(error.code);
}

void CallActivity::Streamed(int status) {
  row_.streamed = true;
  stream_status_ = status;
}

void CallActivity::FirstEvent() {
  if (!row_.ttft_ms) row_.ttft_ms = MillisSinceStart();
}

void CallActivity::Charged(const store::UsageRecord& usage) {
  row_.input_tokens = usage.input_tokens;
  row_.output_tokens = usage.output_tokens;
  row_.cached_input_tokens = usage.cached_input_tokens;
  row_.cost_micros = usage.cost_micros;
}

void CallActivity::Finish(int status) {
  if (!known_ || finished_) return;
  finished_ = true;
  row_.status = stream_status_.value_or(status);
  row_.latency_ms = MillisSinceStart();
  ctx_.activity.Record(std::move(row_));
}

int64_t CallActivity::MillisSinceStart() const {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started_).count();
}

}  // namespace ap::api
