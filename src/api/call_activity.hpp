#pragma once
// What one proxied call's activity row says, gathered as the call goes and handed to the recorder
// when it ends (never waiting for the disk). A call is recorded once its grant is known, refused or
// not; nothing of its prompt or answer is kept.
// Thread-safety: one per call, used by that call's coroutine only.

#include <chrono>
#include <optional>
#include <string>

#include "api/broker_context.hpp"
#include "domain/grant.hpp"

namespace ap::api {

class CallActivity {
 public:
  // Starts the call's clock. `capability`: what the endpoint does ("chat", "embeddings", "models"...).
  CallActivity(BrokerContext& ctx, std::string capability);

  void SetGrant(const domain::Grant& grant);
  void SetModel(std::string model) { row_.model = std::move(model); }
  // The broker refused the call (or ended its stream) with `error`.
  void Refused(const Error& error);
  // The answer is a stream that started with `status`.
  void Streamed(int status);
  // Something of the stream reached the app (the first time counts).
  void FirstEvent();
  // What the call was charged.
  void Charged(const store::UsageRecord& usage);
  // Records the call, if its grant is known; `status` is what the app got (a stream's status wins).
  void Finish(int status);

 private:
  int64_t MillisSinceStart() const;

  BrokerContext& ctx_;
  std::chrono::steady_clock::time_point started_;
  store::ActivityRecord row_;
  std::optional<int> stream_status_;
  bool known_ = false;
  bool finished_ = false;
};

}  // namespace ap::api
