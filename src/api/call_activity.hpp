#pragma once
// What one proxied call's activity row says, gathered as the call goes and handed to the recorder
// when it ends (never waiting for the disk). A call is recorded once its grant is known, refused or
// not; nothing of its prompt or answer is kept. Every call, known grant or not, is also counted in
// the metrics (when they are on) and noted for the access log.
// Thread-safety: one per call, used by that call's coroutine only.

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "api/broker_context.hpp"
#include "domain/grant.hpp"
#include "domain/token_service.hpp"
#include "http/exchange.hpp"
#include "record/record_writers.hpp"

namespace ap::api {

class CallActivity {
 public:
  // Starts the call's clock. `capability`: what the endpoint does ("chat", "embeddings", "models"...).
  // `exchange`, when given, gets the grant and the provider's time for the access log.
  CallActivity(BrokerContext& ctx, std::string capability, http::Exchange* exchange = nullptr);
  ~CallActivity();
  CallActivity(const CallActivity&) = delete;
  CallActivity& operator=(const CallActivity&) = delete;

  void SetGrant(std::shared_ptr<const domain::Grant> grant);
  // The access token the call presented; its last use is recorded with the row.
  void SetToken(std::shared_ptr<const domain::TokenClaims> claims);
  // The model the app asked for, as the app sent it when it is a model id; otherwise (the call was
  // refused for it) a printable ASCII copy, at most kMaxModelId bytes, so the store can hold any
  // row: one model name PostgreSQL cannot store (a NUL, bytes that are not UTF-8) would lose the
  // whole batch of rows written with it, other apps' calls included.
  void SetModel(std::string_view model);
  // The broker refused the call (or ended its stream) with `error`.
  void Refused(const Error& error);
  // The call is being sent to the provider now (`at`); its time there runs until Charged or Finish.
  void UpstreamStarted(std::chrono::steady_clock::time_point at);
  // The answer is a stream that started with `status`.
  void Streamed(int status);
  // Something of the stream reached the app (the first time counts).
  void FirstEvent();
  // What the call was charged.
  void Charged(const store::UsageRecord& usage);
  // Records the call, if its grant is known; `status` is what the app got (a stream's status wins).
  void Finish(int status);
  // Whether the status the app got is known already: the call finished, or its stream started.
  bool StatusKnown() const { return finished_ || stream_status_.has_value(); }

 private:
  using Clock = std::chrono::steady_clock;
  int64_t MillisSince(Clock::time_point now) const;  // since the call came in
  void Count(int64_t duration_us) const;

  BrokerContext& ctx_;
  http::Exchange* exchange_;
  Clock::time_point started_;
  std::optional<Clock::time_point> upstream_started_;
  std::optional<Clock::time_point> upstream_ended_;
  std::optional<int64_t> first_event_us_;
  store::ActivityRecord row_;
  // Named in the row when the recorder writes it (record::CallRow).
  std::shared_ptr<const domain::Grant> grant_;
  std::shared_ptr<const domain::TokenClaims> claims_;
  std::optional<int> stream_status_;
  bool finished_ = false;
  bool stream_counted_ = false;
};

}  // namespace ap::api
