#pragma once
// One call's money: its price, its worst case reserved before it goes upstream, and its actual
// cost settled after, from the provider's own usage figures.
//
// The worst case: the request's size in bytes as its input tokens (a token is at least a byte),
// and as output the app's max_tokens, or the model's output limit when it sets none. A stream
// without max_tokens may start with less than that (what the grant has left, if that pays for its
// input and a few tokens); the provider is then asked to stop where that runs out (OutputCap). A call that
// names its limit, and any answer that is not a stream (it cannot be cut), must fit entirely. Images, speech and
// transcription are priced per image, per character and per second of audio, or for a transcription
// model that bills tokens, by its window (proxy/worst_case.hpp).

#include <boost/asio/awaitable.hpp>
#include <boost/json/fwd.hpp>
#include <optional>
#include <string>

#include "api/broker_context.hpp"
#include "domain/grant.hpp"
#include "http/head_bytes.hpp"
#include "metering/cost.hpp"
#include "metering/meter.hpp"
#include "proxy/usage.hpp"
#include "proxy/worst_case.hpp"

namespace ap::api {

using proxy::WorstCase;

class MeteredCall {
 public:
  // An uncounted call (token counting, model lists) costs nothing and takes no request, but obeys
  // the grant's status, rate and concurrency limits all the same.
  MeteredCall(BrokerContext& ctx, std::shared_ptr<const domain::Grant> grant, std::string model, bool counted = true);

  // Reserves the worst case, or refuses (budget, cap, rate, unknown price of the model or of a
  // server-side tool). `stream` lets a call without an output limit start with what is left. In two
  // steps (metering::Meter::AdmitAtOnce): AdmitAtOnce decides without waiting where it can, else
  // returns nothing, and the caller then awaits AdmitFurther, once.
  std::optional<Status> AdmitAtOnce(const WorstCase& worst, bool stream);
  boost::asio::awaitable<Status> AdmitFurther();
  // The output tokens the reservation pays for, when the call may write more (a stream started
  // with less than its worst case, or a call on a budget whose model's output limit is not known):
  // the provider is asked to stop there, and a stream is ended there.
  int64_t OutputCap() const { return output_cap_; }
  std::string BudgetName() const;
  const metering::RateHeaders& Headers() const { return headers_; }

  // Charges what the call used (the worst case when the provider said nothing of a call that
  // succeeded, or gave a figure no call can have) and queues the usage row (the answer does not wait
  // for the disk; see metering::UsageRecorder). `succeeded`: the provider answered 2xx.
  void Settle(const proxy::Usage& usage, bool succeeded);
  // What Settle charged, its figures only (nothing before it, or for an uncounted call): the call's
  // activity row names the grant and model.
  const store::UsageRecord& Charged() const { return charged_; }

 private:
  BrokerContext& ctx_;
  std::shared_ptr<const domain::Grant> grant_;
  std::string model_;
  bool counted_;
  const metering::Price* price_ = nullptr;
  WorstCase worst_;
  metering::Ask ask_;        // of the meter, once AdmitAtOnce priced the call
  metering::Ticket ticket_;  // what the meter admitted (while admitting, what it took so far)
  metering::RateHeaders headers_;
  int64_t output_cap_ = INT64_MAX;
  bool admitted_ = false;
  store::UsageRecord charged_;

  // What to ask of the meter for the worst case, or the refusal when it cannot be priced.
  Result<metering::Ask> AskFor(const WorstCase& worst, bool stream);
  // The call admitted (`decided`): its reservation's output cap; or refused, with what it took given back.
  Status Admitted(Status decided);
  std::optional<Status> AdmitAtOnceWithAncestors();
  std::string BudgetRefusal() const;  // the message of a refusal for the budget
  metering::Consumption Used(const proxy::Usage& usage) const;
};

// Adds the x-ratelimit-* headers for the grant's per-minute limits.
void AddRateHeaders(http::Response& response, const metering::RateHeaders& headers);
void AddRateHeaders(http::AnswerHead& head, const metering::RateHeaders& headers);

}  // namespace ap::api
