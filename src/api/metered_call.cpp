#include "api/metered_call.hpp"

#include <algorithm>
#include <array>
#include <charconv>

#include "core/money.hpp"

namespace ap::api {
using boost::asio::awaitable;

namespace {

// What a chat call may write when neither the app nor the price table says.
constexpr int64_t kDefaultOutputLimit = 4096;
// An app whose stream's last write waited this long when it left is charged for the output the
// provider could have written meanwhile: a reader that keeps up never waits that long.
constexpr int64_t kHeldLongEnoughMs = 1000;
// The context window a call reads within: the longer one where it opens it and the model has one.
int64_t ContextWindow(const metering::Price& price, bool wide) {
  return wide && price.wide_context_window > 0 ? price.wide_context_window : price.context_window;
}

// The most input a call reads: the window once, and again for each turn its tools may add (each
// tool's result goes back to the model, which reads the whole conversation again).
// `media_percent`: how many times an image's tokens of the window the model bills (Price::media_token_percent).
int64_t InputBound(int64_t window, int64_t tool_turns, int64_t media_percent) {
  __extension__ using Wide = __int128;
  Wide read = Wide(window) * (Wide(tool_turns) + 1);
  return static_cast<int64_t>(std::min<Wide>(read * std::max<int64_t>(media_percent, 100) / 100, kMaxTokens));
}

// Each tool's uses as `charged`, or as `reserved` where that is more.
std::vector<metering::ToolUses> AtLeastReserved(std::vector<metering::ToolUses> charged,
                                                const std::vector<metering::ToolUses>& reserved) {
  for (const auto& [tool, uses] : reserved) {
    auto it = std::find_if(charged.begin(), charged.end(), [&](const auto& c) { return c.first == tool; });
    if (it == charged.end())
      charged.emplace_back(tool, uses);
    else
      it->second = std::max(it->second, uses);
  }
  return charged;
}

using Geo = proxy::RequestedUse::Geo;
// Anthropic's price of inference kept in one geography, for a model whose entry does not say.
constexpr int64_t kOneGeoPercent = 110;

// The token percent of a call run in one geography.
int64_t OneGeoPercent(const metering::Price& price) {
  return price.geo_inference_percent > 0 ? price.geo_inference_percent : kOneGeoPercent;
}

}  // namespace

MeteredCall::MeteredCall(BrokerContext& ctx, std::shared_ptr<const domain::Grant> grant, std::string model,
                         bool counted)
    : ctx_(ctx), grant_(std::move(grant)), model_(std::move(model)), counted_(counted) {}

std::optional<Status> MeteredCall::AdmitAtOnce(const WorstCase& worst, bool stream) {
  auto ask = AskFor(worst, stream);
  if (!ask) return ask.error();
  ask_ = *ask;
  auto decided = grant_->record.ancestors.empty() ? ctx_.meter.AdmitAtOnce(*grant_, ask_, headers_, ticket_)
                                                  : AdmitAtOnceWithAncestors();
  if (!decided) return std::nullopt;
  return Admitted(std::move(*decided));
}

// A delegated grant's ancestors, as the cache holds them (approved ones always are: it is filled at
// start and told of each change), share their per-minute and at-once limits with it.
std::optional<Status> MeteredCall::AdmitAtOnceWithAncestors() {
  std::array<std::shared_ptr<const domain::Grant>, domain::kMaxDelegationDepth> held;
  std::array<const domain::Grant*, domain::kMaxDelegationDepth> ancestors{};
  size_t known = 0;
  for (const std::string& id : grant_->record.ancestors) {
    if (known == held.size()) break;
    if (auto ancestor = ctx_.grants.Find(id)) {
      ancestors[known] = ancestor.get();
      held[known++] = std::move(ancestor);
    }
  }
  return ctx_.meter.AdmitAtOnce(*grant_, ask_, headers_, ticket_,
                                std::span<const domain::Grant* const>(ancestors.data(), known));
}

awaitable<Status> MeteredCall::AdmitFurther() {
  Status decided = co_await ctx_.meter.AdmitFurther(*grant_, ask_, ticket_);
  co_return Admitted(std::move(decided));
}

Result<metering::Ask> MeteredCall::AskFor(const WorstCase& worst, bool stream) {
  metering::Ask ask;
  ask.counted = counted_;
  if (!counted_) return ask;
  price_ = ctx_.prices.Find(grant_->scope.provider, model_);
  worst_ = worst;
  // A call the workspace's default may keep in one geography is reserved as one.
  if (price_ &&
      (worst.inference_geo == Geo::kOne || (worst.inference_geo == Geo::kUnnamed && price_->geo_inference_percent > 0)))
    worst_.use.token_percent = OneGeoPercent(*price_);
  bool budgeted = grant_->record.SpendsAgainstABudget();
  if (!price_ && budgeted && ctx_.refuse_unpriced_models)
    return MakeError(Errc::kForbidden, "No price is known for model '" + model_ +
                                           "', and this grant has a budget: the broker refuses calls it cannot "
                                           "price (pricing.unknown_models)");
  if (auto tool = price_ ? metering::UnpricedTool(*price_, worst.use.tool_uses) : std::nullopt; tool && budgeted)
    return MakeError(Errc::kForbidden, "No price is known for the server-side tool '" + *tool +
                                           "', and this grant has a budget: the broker refuses calls it cannot "
                                           "price");
  if (worst.unbounded_input && budgeted)
    return MakeError(Errc::kForbidden, "'" + *worst.unbounded_input +
                                           "' makes the provider read input this request does not hold, so its "
                                           "cost has no bound, and this grant has a budget: send the whole input");
  // The rate limits count the body's own tokens; a budget, all the model may read.
  int64_t rate_input = worst.use.input_tokens;
  if (worst.input_beyond_bytes && price_ && budgeted) {
    int64_t window = ContextWindow(*price_, worst.wide_context);
    if (window == 0 && budgeted)
      return MakeError(Errc::kForbidden,
                       *worst.input_beyond_bytes +
                           " makes the provider read more input tokens than this request has bytes, no context "
                           "window is known for model '" +
                           model_ + "' to bound them (pricing: context_window), and this grant has a budget");
    worst_.use.input_tokens =
        std::max(worst.use.input_tokens, InputBound(window, worst.tool_turns, price_->media_token_percent));
  }
  // Audio for a model that bills it by tokens (gpt-4o-transcribe), not by the minute: however long
  // it lasts, the model reads at most its window, and writes a transcript shorter than its audio.
  if (worst.audio_upload && price_ && price_->audio_minute_micros == 0 &&
      (price_->tokens.input > 0 || price_->tokens.output > 0)) {
    if (price_->context_window == 0 && budgeted)
      return MakeError(Errc::kForbidden, "Model '" + model_ +
                                             "' is priced by tokens, not by the minute, and no context window is "
                                             "known to bound an upload's tokens (pricing: context_window), and this "
                                             "grant has a budget");
    worst_.use.audio_seconds = 0;
    worst_.use.input_tokens = worst_.use.output_tokens = price_->context_window;
  }
  // A call that marks its prompt for the cache may have all its input billed as cache writes (for
  // an hour, at twice the input price): it is reserved at that rate.
  if (worst.writes_cache) worst_.use.cache_write_tokens = worst_.use.cache_write_1h_tokens = worst_.use.input_tokens;
  // Input beyond its bytes may all be audio, which some models bill above the rest.
  if (worst.input_beyond_bytes) worst_.use.audio_input_tokens = worst_.use.input_tokens;
  bool open_ended = worst.writes_text && !worst.output_set_by_app;
  bool limit_known = price_ && price_->max_output_tokens > 0;
  if (open_ended)
    worst_.use.output_tokens = (limit_known ? price_->max_output_tokens : kDefaultOutputLimit) * worst.answers;
  worst_.use.output_tokens += worst.predicted_output;
  // Neither the app nor the price names the model's output limit: what is reserved is a guess the
  // model may write past. On a budget the provider is asked to stop there (OutputCap), stream or
  // not, so that no call writes more than it reserved.
  if (open_ended && price_ && !limit_known && budgeted) output_cap_ = worst_.use.output_tokens;
  if (price_) {
    ask.up_to_micros = metering::CostMicros(*price_, worst_.use);
    ask.need_micros = ask.up_to_micros;
    if (stream && open_ended && worst_.use.output_tokens > 0) {
      metering::Consumption least = worst_.use;
      // A prediction's unused tokens are billed with the answer's end, however early it is cut.
      int64_t per_answer = proxy::kLeastStreamOutput + proxy::kStreamEventsBeyondTokens;
      least.output_tokens = std::min(per_answer * std::max<int64_t>(worst.answers, 1),
                                     worst_.use.output_tokens - worst.predicted_output) +
                            worst.predicted_output;
      // One micro-USD more than its cost: the cost rounds up once, what the reservation affords is
      // reckoned after the input's own rounding, and must still reach these tokens.
      ask.need_micros = metering::CostMicros(*price_, least) + 1;
    }
  }
  ask.tokens = std::min(kMaxTokens, rate_input + worst_.use.output_tokens);
  return ask;
}

Status MeteredCall::Admitted(Status decided) {
  if (!decided) {
    ticket_ = metering::Ticket();  // what the first step took goes back now, not when the call ends
    Error e = decided.error();
    if (e.code == Errc::kBudgetExceeded) e.message = BudgetRefusal();
    return e;
  }
  admitted_ = true;
  if (price_ && ticket_.ReservedMicros() < ask_.up_to_micros)
    output_cap_ = metering::AffordableOutputTokens(*price_, worst_.use, ticket_.ReservedMicros());
  return {};
}

std::string MeteredCall::BudgetRefusal() const {
  if (!counted_) return "Budget exceeded: nothing is left of " + BudgetName();
  return (ask_.need_micros < ask_.up_to_micros
              ? "Budget exceeded: this stream needs at least " + metering::FormatUsd(ask_.need_micros) + " to start"
              : "Budget exceeded: this call could cost up to " + metering::FormatUsd(ask_.need_micros)) +
         " and " + BudgetName() + " does not have that much left";
}

// The budget a refusal names: the grant's own, or (a child without one) its ancestors'.
std::string MeteredCall::BudgetName() const {
  if (grant_->record.budget_micros)
    return "the grant's budget of " + metering::FormatUsd(*grant_->record.budget_micros);
  return "the budget it shares with the grants it was delegated from";
}

// What to charge: the provider's figures, or the worst case when it said nothing of a call that
// succeeded or gave a figure no call can have.
metering::Consumption MeteredCall::Used(const proxy::Usage& usage) const {
  bool said_nothing = usage.Empty() || usage.implausible;
  // A stream cut before its closing usage, of a call whose server-side tools may have run (a
  // search, a fetch, code): each turn after a tool's result reads the conversation again with the
  // result in it, and the provider reports those turns' input, and its tools' uses, at the end.
  // What it reported before (Anthropic's message_start) may be the first turn's only: input and
  // tool uses are charged as reserved, or as reported where that is more.
  bool tools_unseen =
      !said_nothing && usage.cut && !usage.closed && (worst_.tool_turns > 0 || !worst_.use.tool_uses.empty());
  bool input_unknown = usage.input_unknown || tools_unseen;
  metering::Consumption used;
  used.input_tokens = said_nothing || usage.input_unknown ? worst_.use.input_tokens : usage.input_tokens;
  if (tools_unseen) used.input_tokens = std::max(used.input_tokens, worst_.use.input_tokens);
  used.output_tokens = said_nothing ? std::min(worst_.use.output_tokens, output_cap_) : usage.output_tokens;
  if (!said_nothing) {
    used.cached_input_tokens = usage.cached_input_tokens;
    used.cache_write_tokens = usage.cache_write_tokens;
    used.cache_write_1h_tokens = usage.cache_write_1h_tokens;
    used.audio_input_tokens = usage.audio_input_tokens;
    used.cached_audio_input_tokens = usage.cached_audio_input_tokens;
  }
  if (said_nothing || input_unknown)
    used.audio_input_tokens = std::max(used.audio_input_tokens, worst_.use.audio_input_tokens);
  if (worst_.writes_cache && (said_nothing || input_unknown))  // what it wrote is unknown too: as reserved
    used.cache_write_tokens = used.cache_write_1h_tokens = used.input_tokens;
  // In one geography where the call asked for one or the answer says so; where nothing said, as reserved.
  if (worst_.inference_geo == Geo::kOne || usage.one_geo == true)
    used.token_percent = price_ ? OneGeoPercent(*price_) : 100;
  else if (said_nothing || !usage.one_geo.has_value())
    used.token_percent = worst_.use.token_percent;
  // A stream cut before the provider's usage: up to a token a byte of the output that went through,
  // within what was reserved (proxy::Usage::output_bound).
  if (!said_nothing && usage.output_unknown)
    used.output_tokens =
        std::max(used.output_tokens, std::min({usage.output_bound, worst_.use.output_tokens, output_cap_}));
  // As fast as the price says the model writes (1,000 tokens a second unless an owner's entry says
  // faster), for `ms`. No overflow: at most 1e9 ms x 1e5 tokens a second x 128 answers.
  auto could_write_in = [&](int64_t ms) {
    int64_t rate = price_ ? price_->tokens_per_second : metering::kDefaultTokensPerSecond;
    return std::min(kMaxTokens, std::min<int64_t>(std::max<int64_t>(ms, 0), kMaxTokens) * rate / 1000 *
                                    std::max<int64_t>(worst_.answers, 1));
  };
  int64_t reserved_output = std::min(worst_.use.output_tokens, output_cap_);
  // A stream cut before the provider's usage, of a model that reasons where no event shows it: as
  // much output as it could have made in the time it ran, within what was reserved.
  bool reasons_unseen = worst_.reasons_unseen || (price_ && price_->reasons_unseen);
  if (!said_nothing && usage.output_unknown && reasons_unseen)
    used.output_tokens = std::min(std::max(used.output_tokens, could_write_in(usage.streamed_ms)), reserved_output);
  // A stream the app left while a write to it waited (it stopped reading, or read slowly): the
  // relay read nothing from the provider meanwhile, which wrote on into buffers on the way, not all
  // of which reached the broker. At least what was counted before that write, and as much as the
  // provider could have written while it waited, within what was reserved.
  if (!said_nothing && !usage.closed && usage.app_held_ms >= kHeldLongEnoughMs)
    used.output_tokens = std::max(
        used.output_tokens, std::min(usage.output_before_hold + could_write_in(usage.app_held_ms), reserved_output));
  used.images = worst_.use.images;
  used.image_kind = worst_.use.image_kind;
  used.partial_images = worst_.use.partial_images;  // as asked: the answer's usage does not count them apart
  used.characters = worst_.use.characters;
  used.audio_seconds = !said_nothing && usage.audio_seconds > 0 ? usage.audio_seconds : worst_.use.audio_seconds;
  if (price_) {
    used.tool_uses =
        said_nothing ? worst_.use.tool_uses : metering::ChargedToolUses(*price_, worst_.use.tool_uses, usage.tool_uses);
    if (tools_unseen) used.tool_uses = AtLeastReserved(std::move(used.tool_uses), worst_.use.tool_uses);
  }
  return used;
}

void MeteredCall::Settle(const proxy::Usage& usage, bool succeeded) {
  if (!admitted_) return;
  admitted_ = false;
  if (!counted_) {
    ticket_.Settle(0, 0);
    return;
  }
  metering::Consumption used = succeeded ? Used(usage) : metering::Consumption{};
  int64_t cost = price_ ? metering::CostMicros(*price_, used) : 0;
  bool budget_leased = ticket_.BudgetLeased(), request_leased = ticket_.RequestLeased();
  ticket_.Settle(cost, std::min(kMaxTokens, used.input_tokens + used.output_tokens));
  // The figures, kept for the activity row; the usage row names its grant, day and model too.
  charged_ = store::UsageRecord{{},
                                {},
                                {},
                                1,
                                used.input_tokens,
                                used.cached_input_tokens,
                                used.output_tokens,
                                std::llround(used.audio_seconds * 1000),
                                cost};
  store::UsageRecord row = charged_;
  row.grant_id = grant_->record.id;
  row.day = FormatDay(ctx_.clock());
  row.model = model_;
  row.unleased_micros = budget_leased ? 0 : cost;
  row.unleased_requests = request_leased ? 0 : 1;
  ctx_.usage.Record(std::move(row));
}

namespace {

// Numbers written into one buffer, not a string each: six fields on every call. A view it gives
// lasts until the next.
class Digits {
 public:
  std::string_view Of(int64_t n) {
    static_assert(sizeof buffer_ >= 20, "INT64_MIN takes 20 characters");
    auto end = std::to_chars(buffer_, buffer_ + sizeof buffer_, n).ptr;
    return {buffer_, static_cast<size_t>(end - buffer_)};
  }

 private:
  char buffer_[24];
};

template <class Add>
void ForEachRateHeader(const metering::RateHeaders& h, Add add) {
  Digits digits;
  if (h.limit_requests) {
    add("x-ratelimit-limit-requests", digits.Of(*h.limit_requests));
    add("x-ratelimit-remaining-requests", digits.Of(*h.remaining_requests));
    add("x-ratelimit-reset-requests", metering::FormatResetTime(h.reset_requests_ms));
  }
  if (h.limit_tokens) {
    add("x-ratelimit-limit-tokens", digits.Of(*h.limit_tokens));
    add("x-ratelimit-remaining-tokens", digits.Of(*h.remaining_tokens));
    add("x-ratelimit-reset-tokens", metering::FormatResetTime(h.reset_tokens_ms));
  }
}

}  // namespace

void AddRateHeaders(http::Response& response, const metering::RateHeaders& h) {
  ForEachRateHeader(h, [&](std::string_view name, std::string_view value) { response.set(name, value); });
}

void AddRateHeaders(http::AnswerHead& head, const metering::RateHeaders& h) {
  ForEachRateHeader(h, [&](std::string_view name, std::string_view value) { head.Add(name, value); });
}

}  // namespace ap::api
