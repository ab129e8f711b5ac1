#include "api/relayed_call.hpp"

#include <spdlog/spdlog.h>

#include <cassert>
#include <utility>

#include "api/call_guard.hpp"
#include "api/grant_changes.hpp"
#include "http/response.hpp"
#include "proxy/errors.hpp"

namespace ap::api {
using boost::asio::awaitable;

RelayedCall::RelayedCall(BrokerContext& ctx, http::Exchange& exchange, const CallKind& kind)
    : ctx_(ctx), kind_(kind), activity_(ctx, std::string(kind.capability), &exchange) {}

std::optional<Status> RelayedCall::AuthorizeAtOnce(const http::Request& request, std::string_view token, bool dpop) {
  auto decided = AuthorizeTokenAtOnce(ctx_, request, token, dpop, token_);
  if (!decided) return std::nullopt;
  return Authorized(*decided);
}

awaitable<Status> RelayedCall::AuthorizeFurther(const http::Request& request, std::string_view token, bool dpop) {
  co_return Authorized(co_await AuthorizeTokenFurther(ctx_, request, token, dpop, token_));
}

Status RelayedCall::Authorized(const Result<std::shared_ptr<const domain::Grant>>& decided) {
  if (token_.grant) activity_.SetGrant(token_.grant);
  if (token_.claims) activity_.SetToken(token_.claims);
  if (!decided) return decided.error();
  grant_ = *decided;
  return {};
}

Status RelayedCall::TakeKey(const proxy::ProviderEndpoint& endpoint) {
  auto key = SpendingKey(ctx_, *grant_, endpoint);
  if (!key) return key.error();
  key_ = std::move(*key);
  return {};
}

void RelayedCall::SetModel(std::string_view model) { model_ = model; }

bool RelayedCall::GrantEndedSince() const {
  if (!grant_) return false;
  auto now = ctx_.grants.Find(grant_->record.id);
  return !now || domain::UnusableReason(now->record, ctx_.clock()).has_value();
}

std::optional<Status> RelayedCall::AdmitAtOnce(const proxy::WorstCase& worst, bool stream) {
  if (!kind_.scope_capability.empty()) {
    if (auto target = CheckScope(ctx_, *grant_, kind_.scope_capability, model_); !target) return target.error();
    if (auto tools = CheckToolScope(*grant_, worst); !tools) return tools.error();
  }
  // A call that could not be recorded is not made.
  if (ctx_.store_writes)
    if (auto writable = ctx_.store_writes->Check(); !writable) return writable.error();
  metered_.emplace(ctx_, grant_, model_, kind_.counted);
  auto admitted = metered_->AdmitAtOnce(worst, stream);
  if (admitted) refused_at_admission_ = !*admitted;
  return admitted;
}

awaitable<Status> RelayedCall::AdmitFurther() {
  auto admitted = co_await metered_->AdmitFurther();
  refused_at_admission_ = !admitted;
  co_return admitted;
}

void RelayedCall::AddRateHeaders(http::Response& answer) const {
  if (metered_) api::AddRateHeaders(answer, metered_->Headers());
}

void RelayedCall::AddRateHeaders(http::AnswerHead& answer) const {
  if (metered_) api::AddRateHeaders(answer, metered_->Headers());
}

void RelayedCall::Settle(const proxy::Usage& usage, bool succeeded) {
  if (!metered_) return;
  spdlog::debug("grant {} used {} input, {} output tokens on {}", grant_->record.id, usage.input_tokens,
                usage.output_tokens, model_);
  metered_->Settle(usage, succeeded);
  activity_.Charged(metered_->Charged());
}

http::Response RelayedCall::Refusal(const Error& error) {
  activity_.Refused(error);
  if (kind_.native) {
    http::Response res = proxy::ProviderErrorResponse(*kind_.native, error, kind_.version);
    AddRateHeaders(res);
    Challenge(res, error);
    return res;
  }
  http::Response res = http::ErrorResponse(error, kind_.version);
  Challenge(res, error);
  if (refused_at_admission_) {  // the reference answers 429 for every limit, the budget included
    if (error.code == Errc::kBudgetExceeded) res.result(http::StatusCode::too_many_requests);
    AddRateHeaders(res);
  }
  return res;
}

void RelayedCall::Challenge(http::Response& res, const Error& error) const {
  if (res.result() == http::StatusCode::unauthorized)
    SetChallenge(res, ctx_, kind_.target, token_.fault, token_.dpop, error.message);
}

bool RelayedCall::AnsweredWhole(int status, int quoted_key_answers) {
  quoted_ += quoted_key_answers;
  return Record(status);
}

awaitable<void> RelayedCall::ActOnQuotedKey() {
  if (KeyQuoted()) co_await RevokeIfQuoting(ctx_, grant_->record, quoted_);
}

awaitable<void> RelayedCall::Finish(const http::Response& answer) {
  return FinishWith(static_cast<int>(answer.result_int()));
}

awaitable<void> RelayedCall::Finish(const proxy::Reply& reply) {
  if (reply) return Finish(*reply);
  assert(activity_.StatusKnown());
  return FinishWith(static_cast<int>(http::StatusCode::ok));  // the status recorded wins
}

bool RelayedCall::Record(int status) {
  if (std::exchange(finished_, true)) return false;
  activity_.SetModel(model_);
  activity_.Finish(status);
  return KeyQuoted();
}

awaitable<void> RelayedCall::FinishWith(int status) {
  if (Record(status)) co_await ActOnQuotedKey();
}

}  // namespace ap::api
