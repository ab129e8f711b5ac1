#include "api/native_api.hpp"

#include <spdlog/spdlog.h>

#include <boost/json.hpp>

#include "api/call_activity.hpp"
#include "api/call_guard.hpp"
#include "api/grant_changes.hpp"
#include "api/metered_call.hpp"
#include "http/cookies.hpp"
#include "http/response.hpp"
#include "http/server.hpp"
#include "proxy/endpoints.hpp"
#include "proxy/errors.hpp"
#include "proxy/json_call.hpp"
#include "proxy/multipart.hpp"
#include "proxy/sse.hpp"
#include "proxy/usage.hpp"

namespace ap::api {
namespace json = boost::json;
namespace bhttp = http::bhttp;
using boost::asio::awaitable;
using http::Request;
using http::Response;
using proxy::NativeEndpoint;
using proxy::ProviderEndpoint;

namespace {

constexpr size_t kAnswerLimit = 64 << 20;
// What of the app's request goes upstream besides the body: never its credentials or cookies.
constexpr std::string_view kForwardedHeaders[] = {"content-type",   "accept",      "anthropic-version",
                                                  "anthropic-beta", "openai-beta", "idempotency-key"};

// The delegated token, wherever the app's SDK puts its API key; `dpop` when it came as
// `Authorization: DPoP` (only there can a proof go with it).
struct AppToken {
  std::string token;
  bool dpop = false;
};

Result<AppToken> AppCredential(const Request& req) {
  if (req.find(bhttp::field::authorization) != req.end()) {
    auto presented = http::AccessToken(req);
    if (!presented) return presented.error();
    return AppToken{std::string(presented->token), presented->dpop};
  }
  for (std::string_view header : {"x-api-key", "x-goog-api-key"})
    if (auto it = req.find(header); it != req.end() && !it->value().empty()) return AppToken{std::string(it->value())};
  if (auto key = http::QueryValue(req.target(), "key"); !key.empty()) return AppToken{key};
  return MakeError(Errc::kUnauthorized,
                   "Missing credential: send the delegated token as 'Authorization: Bearer <token>', "
                   "'x-api-key' or 'x-goog-api-key'");
}

// One provider-native call, from the credential to the settled usage.
class NativeCall {
 public:
  NativeCall(BrokerContext& ctx, const NativeEndpoint& ep, const ProviderEndpoint& provider, Request& req,
             http::Exchange& exchange)
      : ctx_(ctx),
        ep_(ep),
        provider_(provider),
        req_(req),
        exchange_(exchange),
        activity_(ctx, ep.capability.empty() ? "models" : std::string(ep.capability), &exchange) {}

  // Hands the call's activity row to the recorder; `answer` is what Run returned.
  int QuotedKeyAnswers() const { return hits_.answers; }
  std::string GrantId() const { return grant_ ? grant_->record.id : std::string(); }

  void RecordActivity(const Response& answer) {
    activity_.SetModel(model_);
    activity_.Finish(static_cast<int>(answer.result_int()));
  }

  // `upstream_path` is the path under the provider's base; `model` is set for Gemini's paths.
  awaitable<Response> Run(std::string upstream_path, std::string model) {
    upstream_path_ = std::move(upstream_path);
    model_ = std::move(model);
    auto query = proxy::ForwardedQuery(req_.target());
    if (!query) co_return Refuse(query.error());
    upstream_query_ = std::move(*query);
    auto credential = AppCredential(req_);
    if (!credential) co_return Refuse(credential.error());
    std::shared_ptr<const domain::Grant> known;
    domain::TokenClaims claims;
    auto grant = co_await AuthorizeToken(ctx_, req_, credential->token, credential->dpop, &known, &claims);
    if (known) activity_.SetGrant(*known);
    if (!claims.jti.empty()) activity_.SetToken(claims);
    if (!grant) co_return Refuse(grant.error());
    grant_ = *grant;
    if (grant_->scope.provider != provider_.name)
      co_return Refuse(MakeError(Errc::kForbidden, "This token is for " + grant_->scope.provider +
                                                       "; it cannot be used on " + provider_.name + "'s paths"));
    auto key = SpendingKey(ctx_, *grant_, provider_);
    if (!key) co_return Refuse(key.error());
    key_ = std::move(*key);
    if (ep_.capability.empty()) co_return co_await ListModels();
    if (ep_.model_in == proxy::ModelIn::kMultipart) co_return co_await RelayUpload();
    auto call = proxy::ReadJsonCall(ep_, std::move(req_.body()), grant_->record.budget_micros.has_value());
    if (!call) co_return Refuse(call.error());
    if (ep_.model_in == proxy::ModelIn::kJsonBody) model_ = call->model;
    if (ep_.streams == proxy::Streams::kAlways && ep_.wire == proxy::Provider::kGoogle &&
        http::QueryValue(req_.target(), "alt") != "sse")
      co_return Refuse(MakeError(Errc::kBadRequest, "Streaming needs alt=sse on this path"));
    bool streams = call->stream || ep_.streams == proxy::Streams::kAlways;
    WorstCase worst = WorstCaseOf(call->asked, call->body.size());
    if (auto allowed = co_await Admit(worst, streams); !allowed) co_return Refuse(allowed.error());
    strip_usage_chunk_ = call->strip_usage_chunk;
    Request upstream = UpstreamRequest();
    request_bytes_ = call->body.size();
    upstream.body() = std::move(call->body);
    upstream.set(bhttp::field::content_type, "application/json");  // as the broker read it, whatever the app said
    upstream.prepare_payload();
    activity_.UpstreamStarted();
    auto answer = co_await ctx_.upstream.Open(provider_, ApiKey(), &hits_, std::move(upstream));
    co_return co_await Answer(std::move(answer));
  }

 private:
  Response Refuse(const Error& e) {
    activity_.Refused(e);
    Response res = proxy::ProviderErrorResponse(ep_.wire, e, req_.version());
    if (metered_) AddRateHeaders(res, metered_->Headers());
    return res;
  }

  // The grant's scope, then its limits (a counted call reserves its worst case).
  awaitable<Status> Admit(const WorstCase& worst, bool stream) {
    auto target = CheckScope(ctx_, *grant_, ep_.capability, model_);
    if (!target) co_return target.error();
    metered_.emplace(ctx_, grant_, model_, ep_.counted);
    co_return co_await metered_->Admit(worst, stream);
  }

  std::string_view ApiKey() const { return key_ ? std::string_view(key_->secret) : std::string_view(); }

  Request UpstreamRequest() const {
    Request out(req_.method(), upstream_path_ + upstream_query_, 11);
    for (std::string_view name : kForwardedHeaders)
      if (auto it = req_.find(name); it != req_.end()) out.set(name, it->value());
    return out;
  }

  // Relays the answer, then settles what it cost before the app sees its end: an app holding a
  // complete answer can count on its cost being on disk.
  awaitable<Response> Answer(Result<proxy::OpenAnswer> answer) {
    if (!answer) co_return Refuse(answer.error());
    if (!answer->open) {  // the provider refused the call: no cost, but it was a request
      co_await Settle(false);
      if (metered_) AddRateHeaders(answer->refusal, metered_->Headers());
      co_return std::move(answer->refusal);
    }
    http::UpstreamAnswer& open = *answer->open;
    bool events = proxy::IsEventStream(open.Head());
    if (!events && proxy::IsTextual(open.Head())) {  // read whole, so a key split across pieces is found
      Response out = co_await RelayWhole(open);
      co_await Settle(true);
      co_return out;
    }
    StreamEnd end = events ? co_await RelayEvents(open) : co_await RelayBytes(open);
    if (end != StreamEnd::kComplete) EstimateCutOffUsage();
    co_await Settle(true);
    if (end == StreamEnd::kComplete || end == StreamEnd::kBudget || end == StreamEnd::kEventTooLong)
      co_await exchange_.EndAnswer();
    co_return Response{};
  }

  enum class StreamEnd { kComplete, kBudget, kEventTooLong, kUpstreamBroke, kAppLeft };

  awaitable<Response> RelayWhole(http::UpstreamAnswer& open) {
    auto body = co_await open.ReadRest(kAnswerLimit);
    if (!body) {
      spdlog::warn("{} answer could not be read: {}", provider_.name, body.error().message);
      co_return Refuse(MakeError(Errc::kUpstream, provider_.name + " could not be reached"));
    }
    proxy::MergeUsageFromJson(*body, usage_);
    Response out = ctx_.upstream.Filter(provider_, ApiKey(), &hits_).Whole(open.Head(), std::move(*body));
    if (metered_) AddRateHeaders(out, metered_->Headers());
    co_return out;
  }

  // Passes each event on as soon as it is complete, reading usage on the way. If the app goes away
  // the relay stops, which closes the upstream connection and so cancels the call there. A stream
  // whose output reaches what the grant could pay for is ended with an event saying so.
  // The caller ends the answer.
  awaitable<StreamEnd> RelayEvents(http::UpstreamAnswer& open) {
    proxy::AnswerFilter filter = ctx_.upstream.Filter(provider_, ApiKey(), &hits_);
    Response head = filter.StreamHead(open.Head());
    if (metered_) AddRateHeaders(head, metered_->Headers());
    activity_.Streamed(static_cast<int>(head.result_int()));
    if (!co_await exchange_.StartAnswer(head)) co_return Abandoned();
    proxy::SseSplitter splitter;
    std::string out;
    for (;;) {
      auto piece = co_await open.ReadPiece();
      if (!piece) {
        spdlog::warn("{} stream broke off: {}", provider_.name, piece.error().message);
        co_return StreamEnd::kUpstreamBroke;  // the app sees the stream cut short
      }
      if (piece->empty()) break;
      splitter.Feed(*piece);
      out.clear();
      bool spent = false;
      while (auto event = splitter.Next()) {
        if (KeepEvent(*event)) filter.AppendEvent(*event, out);
        if ((spent = OutputSoFar() >= OutputCap())) break;
      }
      if (spent) out += proxy::ProviderErrorEvent(ep_.wire, BudgetSpent());
      if (splitter.TooLong()) out += proxy::ProviderErrorEvent(ep_.wire, EventTooLong());
      if (spent) activity_.Refused(BudgetSpent());
      if (!out.empty()) activity_.FirstEvent();
      if (!co_await exchange_.WritePiece(out)) co_return Abandoned();
      if (spent) co_return StreamEnd::kBudget;
      if (splitter.TooLong()) co_return StreamEnd::kEventTooLong;
    }
    out.clear();
    filter.AppendEvent(splitter.Rest(), out);
    if (!co_await exchange_.WritePiece(out)) co_return Abandoned();
    co_return StreamEnd::kComplete;
  }

  Error EventTooLong() const {
    spdlog::warn("{} sent a stream event over {} bytes; stream ended", provider_.name, proxy::SseSplitter::kMaxEvent);
    return MakeError(Errc::kUpstream, "Stream ended: " + provider_.name + " sent an event over 8 MB");
  }

  int64_t OutputSoFar() const { return std::max(usage_.output_tokens, delta_events_); }
  int64_t OutputCap() const { return metered_ ? metered_->OutputCap() : INT64_MAX; }

  Error BudgetSpent() const {
    return MakeError(Errc::kBudgetExceeded,
                     "Stream ended: the grant's budget is spent (" + std::to_string(OutputSoFar()) + " output tokens)");
  }

  // A stream cut off before the provider's closing usage (OpenAI reports usage only at the end;
  // Anthropic's output only at the end) is counted from what went through: one output token per
  // delta event (OpenAI streams about one token a chunk) and the request's size for its input.
  void EstimateCutOffUsage() {
    usage_.output_tokens = std::max(usage_.output_tokens, delta_events_);
    if (usage_.input_tokens == 0) usage_.input_tokens = static_cast<int64_t>(request_bytes_ / 4);
  }

  // Reads the event's usage; false for the usage chunk the app did not ask for.
  bool KeepEvent(std::string_view event) {
    std::string_view data = proxy::EventData(event, event_data_);
    if (data.find("\"delta\"") != std::string_view::npos) ++delta_events_;
    bool usage_only = proxy::MergeUsageFromChunk(data, usage_);
    return !(strip_usage_chunk_ && usage_only);
  }

  StreamEnd Abandoned() {
    spdlog::debug("the app left a {} stream early; cancelled upstream", provider_.name);
    return StreamEnd::kAppLeft;
  }

  // Binary bodies only (audio): relayed as they are (answer_filter.hpp says why).
  awaitable<StreamEnd> RelayBytes(http::UpstreamAnswer& open) {
    Response head = ctx_.upstream.Filter(provider_, ApiKey(), &hits_).StreamHead(open.Head());
    if (metered_) AddRateHeaders(head, metered_->Headers());
    activity_.Streamed(static_cast<int>(head.result_int()));
    if (!co_await exchange_.StartAnswer(head)) co_return Abandoned();
    for (;;) {
      auto piece = co_await open.ReadPiece();
      if (!piece) {
        spdlog::warn("{} answer broke off: {}", provider_.name, piece.error().message);
        co_return StreamEnd::kUpstreamBroke;
      }
      if (piece->empty()) co_return StreamEnd::kComplete;
      activity_.FirstEvent();
      if (!co_await exchange_.WritePiece(*piece)) co_return Abandoned();
    }
  }

  // An upload relayed as it arrives. Its model is read from the form while it streams; the last
  // piece goes upstream only after the grant allowed that model, so a refused upload never reaches
  // the provider whole.
  awaitable<Response> RelayUpload() {
    auto content_type = req_.find(bhttp::field::content_type);
    auto boundary = proxy::MultipartBoundary(content_type == req_.end() ? "" : content_type->value());
    if (!boundary) co_return Refuse(boundary.error());
    form_.emplace(std::move(*boundary), "model");
    Request upstream = UpstreamRequest();
    if (req_.chunked())
      upstream.chunked(true);
    else
      upstream.set(bhttp::field::content_length, req_[bhttp::field::content_length]);
    http::BodySource source = [this]() { return NextUploadPiece(); };
    activity_.UpstreamStarted();
    auto answer = co_await ctx_.upstream.Open(provider_, ApiKey(), &hits_, std::move(upstream), std::move(source));
    if (upload_refusal_) co_return Refuse(*upload_refusal_);
    co_return co_await Answer(std::move(answer));
  }

  awaitable<Result<std::string_view>> NextUploadPiece() {
    for (;;) {
      auto piece = co_await exchange_.ReadBodyPiece();
      if (!piece) co_return Stop(piece.error());
      if (piece->empty()) {
        if (auto whole = form_->Finish(); !whole) co_return Stop(whole.error());
        if (!admitted_) {
          if (!form_->Value()) co_return Stop(MakeError(Errc::kBadRequest, "'model' is required"));
          if (auto admitted = co_await AdmitUpload(); !admitted) co_return Stop(admitted.error());
        }
        sending_ = std::move(held_);
        held_.clear();
        co_return std::string_view(sending_);
      }
      if (auto fed = form_->Feed(*piece); !fed) co_return Stop(fed.error());
      if (form_->Value() && !admitted_)
        if (auto admitted = co_await AdmitUpload(); !admitted) co_return Stop(admitted.error());
      sending_ = std::move(held_);
      held_.assign(*piece);
      if (!sending_.empty()) co_return std::string_view(sending_);
    }
  }

  awaitable<Status> AdmitUpload() {
    model_ = *form_->Value();
    admitted_ = true;
    size_t bytes = http::kStreamedBodyLimit;  // an upload without a length may be as long as that
    if (auto length = req_.find(bhttp::field::content_length); length != req_.end())
      bytes = std::strtoull(std::string(length->value()).c_str(), nullptr, 10);
    WorstCase worst = WorstCaseOfUpload(bytes);
    co_return co_await Admit(worst, false);
  }

  Error Stop(Error e) {
    upload_refusal_ = e;
    return e;
  }

  // Lists the provider's models the grant allows, in the provider's own list format.
  awaitable<Response> ListModels() {
    metered_.emplace(ctx_, grant_, "", false);
    WorstCase free_call;  // g++ 12 frees a temporary inside a co_await expression twice
    if (auto admitted = co_await metered_->Admit(free_call, false); !admitted) co_return Refuse(admitted.error());
    activity_.UpstreamStarted();
    auto answer = co_await ctx_.upstream.Open(provider_, ApiKey(), &hits_, UpstreamRequest());
    if (!answer) co_return Refuse(answer.error());
    if (!answer->open) co_return std::move(answer->refusal);
    auto body = co_await answer->open->ReadRest(kAnswerLimit);
    if (!body) co_return Refuse(MakeError(Errc::kUpstream, provider_.name + " could not be reached"));
    boost::system::error_code ec;
    json::value list = json::parse(*body, ec);
    if (ec || !list.is_object()) co_return Refuse(MakeError(Errc::kUpstream, provider_.name + " sent a broken list"));
    const char* key = ep_.wire == proxy::Provider::kGoogle ? "models" : "data";
    if (auto* items = list.get_object().if_contains(key); items && items->is_array()) {
      json::array kept;
      for (auto& item : items->get_array())
        if (AllowsListedModel(item)) kept.push_back(std::move(item));
      *items = std::move(kept);
    }
    co_return ctx_.upstream.Filter(provider_, ApiKey(), &hits_).Whole(answer->open->Head(), json::serialize(list));
  }

  bool AllowsListedModel(const json::value& item) const {
    if (!item.is_object()) return false;
    const char* field = ep_.wire == proxy::Provider::kGoogle ? "name" : "id";
    const auto* id = item.get_object().if_contains(field);
    if (!id || !id->is_string()) return false;
    std::string_view name = id->get_string();
    if (name.starts_with("models/")) name.remove_prefix(7);
    return grant_->scope.AllowsModel(name);
  }

  awaitable<void> Settle(bool succeeded) {
    if (!metered_) co_return;
    spdlog::debug("grant {} used {} input, {} output tokens on {}", grant_->record.id, usage_.input_tokens,
                  usage_.output_tokens, model_);
    co_await metered_->Settle(usage_, succeeded);
    activity_.Charged(metered_->Charged());
  }

  BrokerContext& ctx_;
  const NativeEndpoint& ep_;
  const ProviderEndpoint& provider_;
  Request& req_;
  http::Exchange& exchange_;
  std::string upstream_path_;
  std::string upstream_query_;
  std::string model_;
  std::shared_ptr<const domain::Grant> grant_;
  vault::KeyRef key_;  // held until the call ends
  proxy::ScrubHits hits_;  // answers of this call that quoted its key
  std::optional<MeteredCall> metered_;
  CallActivity activity_;
  bool strip_usage_chunk_ = false;
  proxy::Usage usage_;
  int64_t delta_events_ = 0;
  std::string event_data_;  // an event's data lines joined
  size_t request_bytes_ = 0;
  // Upload relay
  std::optional<proxy::MultipartField> form_;
  bool admitted_ = false;
  std::optional<Error> upload_refusal_;
  std::string held_;
  std::string sending_;
};

awaitable<Response> RunNative(BrokerContext& ctx, const NativeEndpoint& ep, const ProviderEndpoint& provider,
                              Request& req, http::Exchange& exchange, std::string upstream_path, std::string model) {
  NativeCall call(ctx, ep, provider, req, exchange);
  Response answer = co_await call.Run(std::move(upstream_path), std::move(model));
  call.RecordActivity(answer);
  if (int quoted = call.QuotedKeyAnswers(); quoted > 0) {
    std::string grant_id = call.GrantId();  // named: see RevokeIfQuoting's note on g++ 12
    co_await RevokeIfQuoting(ctx, grant_id, quoted);
  }
  co_return answer;
}

// Letters, digits, '.', '-' and '_': every Gemini model id, and nothing that could change the path.
bool IsPlainModelId(std::string_view id) {
  return !id.empty() && id.size() <= 128 && id.find("..") == std::string_view::npos &&
         std::all_of(id.begin(), id.end(),
                     [](unsigned char c) { return std::isalnum(c) || c == '.' || c == '-' || c == '_'; });
}

// Gemini names the model in the path: "models/{model}:{action}".
awaitable<Response> GeminiModelCall(BrokerContext& ctx, const ProviderEndpoint& provider, std::string version,
                                    Request& req, const http::PathParams& params, http::Exchange& exchange) {
  std::string_view call = params.Get("call");
  size_t colon = call.rfind(':');
  const NativeEndpoint* ep = colon == std::string_view::npos ? nullptr : proxy::GeminiAction(call.substr(colon));
  if (!ep || colon == 0) {
    Error e = MakeError(Errc::kNotFound, "Unknown Gemini method '" + std::string(call) + "'");
    co_return proxy::ProviderErrorResponse(proxy::Provider::kGoogle, e, req.version());
  }
  std::string model(call.substr(0, colon));
  if (!IsPlainModelId(model)) {
    // An escaped '/' or '..' could lead the provider to another of its resources, with the broker's key.
    Error e = MakeError(Errc::kBadRequest, "Invalid model name '" + model + "'");
    co_return proxy::ProviderErrorResponse(proxy::Provider::kGoogle, e, req.version());
  }
  co_return co_await RunNative(ctx, *ep, provider, req, exchange, "/" + version + "/models/" + std::string(call),
                               std::move(model));
}

void AddOpenAIStyle(http::Router& router, BrokerContext& ctx, const ProviderEndpoint& provider, proxy::Provider wire,
                    std::string prefix) {
  for (const NativeEndpoint& ep : proxy::NativeEndpoints()) {
    if (ep.wire != wire) continue;
    auto handler = [&ctx, &ep, &provider](Request& req, const http::PathParams&, http::Exchange& exchange) {
      return RunNative(ctx, ep, provider, req, exchange, std::string(ep.path), "");
    };
    http::Body body = ep.model_in == proxy::ModelIn::kMultipart ? http::Body::kStreamed : http::Body::kWhole;
    router.Add(ep.method, prefix + std::string(ep.path), std::move(handler), body);
  }
}

}  // namespace

void AddNativeRoutes(http::Router& router, BrokerContext& ctx) {
  const proxy::ProviderTable& table = ctx.upstream.Table();
  for (const ProviderEndpoint& provider : table.endpoints) {
    if (provider.wire == proxy::Provider::kGoogle) continue;
    AddOpenAIStyle(router, ctx, provider, provider.wire, "/" + provider.name);
  }
  const ProviderEndpoint& google = table.For(proxy::Provider::kGoogle);
  for (std::string version : {"v1beta", "v1"}) {
    auto model_call = [&ctx, &google, version](Request& req, const http::PathParams& params, http::Exchange& ex) {
      return GeminiModelCall(ctx, google, version, req, params, ex);
    };
    router.Add(http::Verb::post, "/gemini/" + version + "/models/:call", model_call);
    const NativeEndpoint* list = nullptr;
    for (const auto& ep : proxy::NativeEndpoints())
      if (ep.wire == proxy::Provider::kGoogle && ep.method == http::Verb::get) list = &ep;
    auto list_models = [&ctx, &google, list, version](Request& req, const http::PathParams&, http::Exchange& ex) {
      return RunNative(ctx, *list, google, req, ex, "/" + version + "/models", "");
    };
    router.Add(http::Verb::get, "/gemini/" + version + "/models", list_models);
  }
}

}  // namespace ap::api
