#include "api/metered_call.hpp"

#include <boost/json.hpp>

namespace ap::api {
namespace json = boost::json;
using boost::asio::awaitable;

namespace {

// What a chat call may write when neither the app nor the price table says.
constexpr int64_t kDefaultOutputLimit = 4096;
// The least output a stream without a limit must be able to pay for to start.
constexpr int64_t kLeastStreamOutput = 16;
// 6 kbit/s: the lowest bitrate speech is usually sent at, so the longest an upload can last.
constexpr size_t kLeastAudioBytesPerSecond = 750;

std::optional<int64_t> PositiveInt(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  if (v && v->is_int64() && v->get_int64() > 0) return v->get_int64();
  if (v && v->is_uint64()) return static_cast<int64_t>(std::min<uint64_t>(v->get_uint64(), INT64_MAX / 4));
  return std::nullopt;
}

std::string StringOr(const json::object& o, std::string_view key, std::string fallback) {
  const json::value* v = o.if_contains(key);
  return v && v->is_string() ? std::string(v->get_string()) : fallback;
}

std::optional<int64_t> OutputLimit(const json::object& body) {
  for (std::string_view key : {"max_tokens", "max_completion_tokens", "max_output_tokens"})
    if (auto n = PositiveInt(body, key)) return n;
  if (const auto* config = body.if_contains("generationConfig"); config && config->is_object())
    return PositiveInt(config->get_object(), "maxOutputTokens");
  return std::nullopt;
}

}  // namespace

WorstCase WorstCaseOf(std::string_view capability, const json::object& body, size_t body_bytes) {
  WorstCase worst;
  if (capability == "images") {
    worst.use.images = PositiveInt(body, "n").value_or(1);
    worst.use.image_kind = StringOr(body, "size", "1024x1024") + "/" + StringOr(body, "quality", "standard");
    return worst;
  }
  if (capability == "audio") {  // speech: priced by the characters of its input
    if (const auto* input = body.if_contains("input"); input && input->is_string())
      worst.use.characters = static_cast<int64_t>(input->get_string().size());
    return worst;
  }
  worst.use.input_tokens = static_cast<int64_t>(body_bytes);
  if (capability == "chat") {
    worst.writes_text = true;
    auto limit = OutputLimit(body);
    worst.output_set_by_app = limit.has_value();
    worst.use.output_tokens = limit.value_or(0);
  }
  return worst;
}

WorstCase WorstCaseOfUpload(size_t bytes) {
  WorstCase worst;
  worst.use.audio_seconds = static_cast<double>(bytes) / kLeastAudioBytesPerSecond;
  return worst;
}

MeteredCall::MeteredCall(BrokerContext& ctx, std::shared_ptr<const domain::Grant> grant, std::string model)
    : ctx_(ctx), grant_(std::move(grant)), model_(std::move(model)) {}

awaitable<Status> MeteredCall::Admit(const WorstCase& worst, bool stream) {
  price_ = ctx_.prices.Find(grant_->scope.provider, model_);
  worst_ = worst;
  metering::Ask ask;
  if (!price_ && grant_->record.budget_micros && ctx_.refuse_unpriced_models)
    co_return MakeError(Errc::kForbidden, "No price is known for model '" + model_ +
                                              "', and this grant has a budget: the broker refuses calls it cannot "
                                              "price (pricing.unknown_models)");
  bool open_ended = worst.writes_text && !worst.output_set_by_app;
  if (open_ended)
    worst_.use.output_tokens =
        price_ && price_->max_output_tokens > 0 ? price_->max_output_tokens : kDefaultOutputLimit;
  if (price_) {
    ask.up_to_micros = metering::CostMicros(*price_, worst_.use);
    ask.need_micros = ask.up_to_micros;
    if (stream && open_ended && worst_.use.output_tokens > 0) {
      metering::Consumption least = worst_.use;
      least.output_tokens = std::min(kLeastStreamOutput, worst_.use.output_tokens);
      ask.need_micros = metering::CostMicros(*price_, least);
    }
  }
  ask.tokens = worst_.use.input_tokens + worst_.use.output_tokens;
  auto ticket = co_await ctx_.meter.Admit(*grant_, ask, headers_);
  if (!ticket) {
    Error e = ticket.error();
    if (e.code == Errc::kBudgetExceeded)
      e.message =
          (ask.need_micros < ask.up_to_micros
               ? "Budget exceeded: this stream needs at least " + metering::FormatUsd(ask.need_micros) + " to start"
               : "Budget exceeded: this call could cost up to " + metering::FormatUsd(ask.need_micros)) +
          " and the grant's budget of " + metering::FormatUsd(grant_->record.budget_micros.value_or(0)) +
          " does not have that much left";
    co_return e;
  }
  ticket_ = std::move(*ticket);
  admitted_ = true;
  if (price_ && ticket_.ReservedMicros() < ask.up_to_micros) {
    metering::Consumption input = worst_.use;
    input.output_tokens = 0;
    output_cap_ = metering::AffordableOutputTokens(*price_, input, ticket_.ReservedMicros());
  }
  co_return Status{};
}

awaitable<void> MeteredCall::Settle(const proxy::Usage& usage, bool succeeded) {
  if (!admitted_) co_return;
  admitted_ = false;
  metering::Consumption used;
  if (succeeded) {
    bool said_nothing = usage.Empty();
    used.input_tokens = said_nothing ? worst_.use.input_tokens : usage.input_tokens;
    used.output_tokens = said_nothing ? std::min(worst_.use.output_tokens, output_cap_) : usage.output_tokens;
    used.cached_input_tokens = usage.cached_input_tokens;
    used.cache_write_tokens = usage.cache_write_tokens;
    used.images = worst_.use.images;
    used.image_kind = worst_.use.image_kind;
    used.characters = worst_.use.characters;
    used.audio_seconds = usage.audio_seconds > 0 ? usage.audio_seconds : worst_.use.audio_seconds;
  }
  int64_t cost = price_ ? metering::CostMicros(*price_, used) : 0;
  ticket_.Settle(cost, used.input_tokens + used.output_tokens);
  store::UsageRecord row{grant_->record.id,
                         FormatIso8601(ctx_.clock()).substr(0, 10),
                         model_,
                         1,
                         used.input_tokens,
                         used.cached_input_tokens,
                         used.output_tokens,
                         std::llround(used.audio_seconds * 1000),
                         cost};
  co_await ctx_.usage.Record(std::move(row));
}

void AddRateHeaders(http::Response& response, const metering::RateHeaders& h) {
  if (h.limit_requests) {
    response.set("x-ratelimit-limit-requests", std::to_string(*h.limit_requests));
    response.set("x-ratelimit-remaining-requests", std::to_string(*h.remaining_requests));
    response.set("x-ratelimit-reset-requests", metering::FormatResetTime(h.reset_requests_ms));
  }
  if (h.limit_tokens) {
    response.set("x-ratelimit-limit-tokens", std::to_string(*h.limit_tokens));
    response.set("x-ratelimit-remaining-tokens", std::to_string(*h.remaining_tokens));
    response.set("x-ratelimit-reset-tokens", metering::FormatResetTime(h.reset_tokens_ms));
  }
}

}  // namespace ap::api
