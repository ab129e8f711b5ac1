#pragma once
// One proxied call as the broker sees it around the relay (proxy/relay.hpp): the token and grant
// it presented, the key it spends, its limits (MeteredCall), its activity row, and the shape its
// refusals take on the path it came on (the provider's own on native paths, the reference's on
// /proxy/chat).
// Thread-safety: one per call, used by its handler's coroutine.

#include <boost/asio/awaitable.hpp>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "api/broker_context.hpp"
#include "api/call_activity.hpp"
#include "api/call_guard.hpp"
#include "api/metered_call.hpp"
#include "http/exchange.hpp"
#include "proxy/relay.hpp"

namespace ap::api {

struct CallKind {
  std::string_view capability;            // what the endpoint does, for the record ("chat", "models"...)
  std::string_view scope_capability;      // Admit checks the grant allows it with the model; "" when the handler did
  bool counted = true;                    // takes a request from the grant's cap
  std::optional<proxy::Provider> native;  // refusals in this provider's shape; the reference's when unset
  unsigned version = 11;                  // the app's HTTP version
  std::string_view target;                // the request's: its protected resource answers a 401's challenge
};

class RelayedCall final : public proxy::RelayHooks {
 public:
  RelayedCall(BrokerContext& ctx, http::Exchange& exchange, const CallKind& kind);

  // Authorizes the call with `token` (see AuthorizeToken): its grant is then Grant(), and is
  // recorded with the token even when it is not usable. In two steps (AuthorizeTokenAtOnce): the
  // first decides where it can without waiting, else returns nothing, and the caller then awaits
  // the second.
  std::optional<Status> AuthorizeAtOnce(const http::Request& request, std::string_view token, bool dpop);
  boost::asio::awaitable<Status> AuthorizeFurther(const http::Request& request, std::string_view token, bool dpop);
  // The grant, once the call is authorized.
  const domain::Grant& Grant() const { return *grant_; }
  // Takes the key the authorized grant spends on `endpoint` (SpendingKey), held until the call ends.
  Status TakeKey(const proxy::ProviderEndpoint& endpoint);
  // The key taken; empty for a keyless server.
  std::string_view ApiKey() const { return key_ ? std::string_view(key_->secret) : std::string_view(); }
  // `answers` more answers of this call quoted its key.
  void AddQuotedKeyAnswers(int answers) { quoted_ += answers; }
  // Records the call with the status of `answer` (a stream's own wins), then revokes its grant if
  // its answers quoted the key too often. Once: a call finished before (AnsweredWhole) stays so.
  boost::asio::awaitable<void> Finish(const http::Response& answer);
  // Finish for what a relay replied: an answer it sent itself was recorded with its status as it
  // went (AnsweredWhole, Streamed).
  boost::asio::awaitable<void> Finish(const proxy::Reply& reply);
  // Whether the call was finished: a caller then need not await Finish (a coroutine frame a call).
  bool Finished() const { return finished_; }

  void SetModel(std::string_view model) override;
  std::optional<Status> AdmitAtOnce(const proxy::WorstCase& worst, bool stream) override;
  boost::asio::awaitable<Status> AdmitFurther() override;
  int64_t OutputCap() const override { return metered_ ? metered_->OutputCap() : INT64_MAX; }
  void AddRateHeaders(http::Response& answer) const override;
  void AddRateHeaders(http::AnswerHead& answer) const override;
  void Settle(const proxy::Usage& usage, bool succeeded) override;
  http::Response Refusal(const Error& error) override;
  void Refused(const Error& error) override { activity_.Refused(error); }
  void UpstreamStarted(std::chrono::steady_clock::time_point at) override { activity_.UpstreamStarted(at); }
  void Streamed(int status) override { activity_.Streamed(status); }
  bool AnsweredWhole(int status, int quoted_key_answers) override;
  boost::asio::awaitable<void> ActOnQuotedKey() override;
  void FirstEvent() override { activity_.FirstEvent(); }
  bool GrantEndedSince() const override;

 private:
  void Challenge(http::Response& res, const Error& error) const;
  // Records what authorization decided (`decided`) and found.
  Status Authorized(const Result<std::shared_ptr<const domain::Grant>>& decided);
  boost::asio::awaitable<void> FinishWith(int status);
  // Records the call, once; true when its answers quoted the key (ActOnQuotedKey is then due).
  bool Record(int status);
  bool KeyQuoted() const { return quoted_ > 0 && grant_; }  // by an answer of this call's grant

  BrokerContext& ctx_;
  CallKind kind_;
  std::string model_;
  std::shared_ptr<const domain::Grant> grant_;
  TokenFacts token_;
  vault::KeyRef key_;
  std::optional<MeteredCall> metered_;
  bool refused_at_admission_ = false;
  int quoted_ = 0;
  bool finished_ = false;
  CallActivity activity_;
};

}  // namespace ap::api
