#include "api/call_activity.hpp"

#include "domain/scope.hpp"

namespace ap::api {
namespace {

int64_t MicrosBetween(std::chrono::steady_clock::time_point from, std::chrono::steady_clock::time_point to) {
  return std::chrono::duration_cast<std::chrono::microseconds>(to - from).count();
}

}  // namespace

CallActivity::CallActivity(BrokerContext& ctx, std::string capability, http::Exchange* exchange)
    : ctx_(ctx), exchange_(exchange), started_(Clock::now()) {
  row_.at = SystemNowMillis();
  row_.capability = std::move(capability);
}

CallActivity::~CallActivity() {
  if (stream_counted_ && ctx_.metrics) ctx_.metrics->StreamClosed();
}

void CallActivity::SetGrant(std::shared_ptr<const domain::Grant> grant) {
  row_.provider = grant->scope.provider;
  if (exchange_) exchange_->notes.grant_id = grant->record.id;
  grant_ = std::move(grant);
}

void CallActivity::SetToken(std::shared_ptr<const domain::TokenClaims> claims) {
  row_.token_issued_at = claims->issued_at;
  row_.token_expires_at = claims->expires_at;
  claims_ = std::move(claims);
}

void CallActivity::Refused(const Error& error) {
  if (row_.refusal.empty()) row_.refusal = ErrcName(error.code);
}

void CallActivity::UpstreamStarted(Clock::time_point at) {
  if (!upstream_started_) upstream_started_ = at;
}

void CallActivity::Streamed(int status) {
  row_.streamed = true;
  stream_status_ = status;
  if (ctx_.metrics && !stream_counted_) {
    stream_counted_ = true;
    ctx_.metrics->StreamOpened();
  }
}

void CallActivity::FirstEvent() {
  if (row_.ttft_ms) return;
  auto now = Clock::now();
  row_.ttft_ms = MillisSince(now);
  first_event_us_ = MicrosBetween(started_, now);
}

void CallActivity::Charged(const store::UsageRecord& usage) {
  if (upstream_started_ && !upstream_ended_) upstream_ended_ = Clock::now();
  row_.input_tokens = usage.input_tokens;
  row_.output_tokens = usage.output_tokens;
  row_.cached_input_tokens = usage.cached_input_tokens;
  row_.cost_micros = usage.cost_micros;
}

void CallActivity::SetModel(std::string_view model) {
  if (domain::IsModelId(model)) {
    row_.model = model;
    return;
  }
  row_.model.clear();
  for (unsigned char c : model.substr(0, domain::kMaxModelId)) row_.model += c >= 0x20 && c < 0x7f ? char(c) : '?';
}

void CallActivity::Finish(int status) {
  if (finished_) return;
  finished_ = true;
  auto now = Clock::now();
  if (upstream_started_ && !upstream_ended_) upstream_ended_ = now;
  row_.status = stream_status_.value_or(status);
  row_.latency_ms = MillisSince(now);
  if (exchange_ && upstream_started_)
    exchange_->notes.upstream_ms = MicrosBetween(*upstream_started_, *upstream_ended_) / 1000;
  Count(MicrosBetween(started_, now));
  if (grant_)
    ctx_.activity.Record(
        record::CallRow{std::move(row_), std::move(grant_), std::move(claims_), upstream_started_.has_value()});
}

void CallActivity::Count(int64_t duration_us) const {
  if (!ctx_.metrics) return;
  telemetry::CallSample call;
  call.provider = row_.provider;
  call.operation = row_.capability;
  call.model = row_.model;
  if (grant_) call.app = grant_->record.app_name;
  call.status = row_.status;
  call.refusal = row_.refusal;
  call.input_tokens = row_.input_tokens;
  call.output_tokens = row_.output_tokens;
  call.cached_input_tokens = row_.cached_input_tokens;
  call.cost_micros = row_.cost_micros;
  call.duration_us = duration_us;
  if (upstream_started_) call.upstream_us = MicrosBetween(*upstream_started_, *upstream_ended_);
  call.first_token_us = first_event_us_;
  ctx_.metrics->RecordCall(call);
}

int64_t CallActivity::MillisSince(Clock::time_point now) const {
  return std::chrono::duration_cast<std::chrono::milliseconds>(now - started_).count();
}

}  // namespace ap::api
