#include "api/reference_api.hpp"

#include <spdlog/spdlog.h>

#include <bit>
#include <boost/json.hpp>
#include <charconv>

#include "api/audit_events.hpp"
#include "api/auth.hpp"
#include "api/call_guard.hpp"
#include "api/grant_changes.hpp"
#include "api/paging.hpp"
#include "api/relayed_call.hpp"
#include "core/base64url.hpp"
#include "core/ids.hpp"
#include "crypto/hash.hpp"
#include "domain/grant_json.hpp"
#include "http/cookies.hpp"
#include "http/json_text.hpp"
#include "http/response.hpp"
#include "http/server.hpp"
#include "http/url.hpp"
#include "metering/cost.hpp"
#include "proxy/relay.hpp"
#include "proxy/translate.hpp"

namespace ap::api {
namespace json = boost::json;
using boost::asio::awaitable;
using http::PathParams;
using http::Request;
using http::Response;
using http::StatusCode;
using store::GrantRecord;
using store::GrantStatus;

namespace {

constexpr size_t kMaxAppName = 200;
constexpr size_t kMaxUrl = 2048;
constexpr size_t kMaxReason = 2000;
constexpr int64_t kDefaultGrantSeconds = 3600;
constexpr size_t kMaxDenyIds = 1000;
constexpr int64_t kMaxGrantSeconds = 366LL * 24 * 3600;

Error Validation(std::vector<FieldError> errors) {
  return Error{Errc::kValidation, "Validation failed", std::move(errors)};
}

// The request body as a JSON object; an empty body counts as {} where `empty_ok`.
Result<json::object> BodyObject(const Request& req, bool empty_ok) {
  if (req.body().empty() && empty_ok) return json::object();
  boost::system::error_code ec;
  json::value v = json::parse(req.body(), ec);
  if (ec) return MakeError(Errc::kBadRequest, "Request body is not valid JSON");
  if (!v.is_object()) return MakeError(Errc::kBadRequest, "Request body must be a JSON object");
  return std::move(v.get_object());
}

// No text the broker stores may hold a NUL character: PostgreSQL's text cannot.
bool HoldsNul(std::string_view text) { return text.find('\0') != std::string_view::npos; }
constexpr const char* kNoNul = "Expected a string without a NUL character";

std::optional<std::string> RequiredString(const json::object& o, std::string_view field, size_t max_len,
                                          std::vector<FieldError>& errors) {
  const auto* v = o.if_contains(field);
  if (!v || v->is_null()) {
    errors.push_back({std::string(field), "Required"});
    return std::nullopt;
  }
  if (!v->is_string() || v->get_string().empty() || v->get_string().size() > max_len) {
    errors.push_back(
        {std::string(field), "Expected a non-empty string of at most " + std::to_string(max_len) + " characters"});
    return std::nullopt;
  }
  if (HoldsNul(v->get_string())) {
    errors.push_back({std::string(field), kNoNul});
    return std::nullopt;
  }
  return std::string(v->get_string());
}

Response Json(StatusCode status, const json::value& body) { return http::JsonResponse(status, body); }

json::object UsageFigures(const store::UsageRecord& u) {
  return {{"requests", u.requests},
          {"inputTokens", u.input_tokens},
          {"cachedInputTokens", u.cached_input_tokens},
          {"outputTokens", u.output_tokens},
          // A whole number of seconds is written as one (Boost.JSON writes the double 0.0 as "0E0").
          {"audioSeconds", u.audio_milliseconds % 1000 == 0
                               ? json::value(u.audio_milliseconds / 1000)
                               : json::value(static_cast<double>(u.audio_milliseconds) / 1000.0)},
          {"costMicros", u.cost_micros},
          {"costUsd", metering::FormatUsd(u.cost_micros).substr(1)}};
}

json::object UsageToJson(const store::GrantRecord& grant, int64_t in_flight, const store::UsageRecord& total,
                         const std::vector<store::UsageRecord>& rows) {
  json::array days;
  for (const auto& row : rows) {
    json::object day = UsageFigures(row);
    day["day"] = row.day;
    day["model"] = row.model;
    days.push_back(std::move(day));
  }
  return {{"grantId", grant.id},
          {"totals", UsageFigures(total)},
          {"budget", domain::BudgetToJson(grant)},
          {"requests", domain::RequestsToJson(grant, in_flight)},
          {"byDayAndModel", std::move(days)}};
}

// Pages of the grant list, and of a grant's usage rows and events.
constexpr int64_t kDefaultPage = 500;
constexpr int64_t kMaxPage = 1000;

// A usage row's cursor: its day (always 10 characters) and model, in base64url.
std::string UsageCursorText(const store::UsageRecord& row) { return Base64UrlEncode(row.day + row.model); }

Result<std::optional<store::UsageRecord>> UsageCursorParam(std::string_view target) {
  std::string text = http::QueryValue(target, "cursor");
  if (text.empty()) return std::optional<store::UsageRecord>();
  auto decoded = Base64UrlDecode(text);
  if (!decoded || decoded->size() < 10)
    return Error{Errc::kValidation, "Validation failed", {{"cursor", "Expected the 'next' of a previous page"}}};
  store::UsageRecord after;
  after.day = decoded->substr(0, 10);
  after.model = decoded->substr(10);
  return std::optional<store::UsageRecord>(std::move(after));
}

Result<int64_t> EventCursorParam(std::string_view target) {
  std::string text = http::QueryValue(target, "cursor");
  if (text.empty()) return int64_t{0};
  int64_t id = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), id);
  if (ec != std::errc() || end != text.data() + text.size() || id < 1)
    return Error{Errc::kValidation, "Validation failed", {{"cursor", "Expected the 'next' of a previous page"}}};
  return id;
}

// The limits an owner may change on a granted grant, in the order of api::Limit's bits.
constexpr std::string_view kLimitFields[] = {"maxBudgetCents", "maxRequests", "rateLimit", "maxTokensPerMinute",
                                             "maxConcurrent"};
static_assert(std::size(kLimitFields) == std::bit_width(api::kEveryLimit));

// Whether an unverified request was stored, or which bound on those waiting refused it.
enum class Waiting { kCreated, kTooMany, kTooManyFromOne };

// The owner has not decided the requests already waiting; more would only bury them. 503 when all
// of them are taken; 429 when the caller's address has its share (the others may still ask).
Response TooManyWaiting(Waiting bound, int64_t max) {
  bool from_one = bound == Waiting::kTooManyFromOne;
  Response res = http::JsonResponse(
      from_one ? StatusCode::too_many_requests : StatusCode::service_unavailable,
      json::object{{"error", std::to_string(max) + " unverified requests " + (from_one ? "from this address " : "") +
                                 "are already waiting for the owner's decision; try again later"},
                   {"type", "too_many_waiting_requests"}});
  res.set(http::bhttp::field::retry_after, "300");
  return res;
}

// What another owner's grant looks like: as if it did not exist.
Error NotFound() { return MakeError(Errc::kNotFound, "Grant not found"); }

class ReferenceApi {
 public:
  explicit ReferenceApi(BrokerContext& ctx) : ctx_(ctx) {}

  // Wraps an owner endpoint: nothing of it runs without the admin's or an owner's credential.
  template <awaitable<Response> (ReferenceApi::*Method)(Request&, const PathParams&, const Caller&)>
  awaitable<Response> OwnerOnly(Request& req, const PathParams& params, http::Exchange& exchange) {
    auto caller = co_await RequireOwner(ctx_, req, exchange.PeerAddress());
    if (!caller) co_return http::ErrorResponse(caller.error());
    co_return co_await (this->*Method)(req, params, *caller);
  }

  awaitable<Response> Health(Request&, const PathParams&) {
    co_return Json(StatusCode::ok, json::object{{"status", "ok"}, {"service", "aipassport-broker"}});
  }

  // Ready to serve behind a balancer: the database answers, its schema is the one this broker
  // knows, and the change feed was read lately (provider keys are loaded before the broker
  // listens). 503 with the reason otherwise.
  awaitable<Response> Ready(Request&, const PathParams&) {
    struct Schema {
      int64_t at = 0;
      int64_t known = 0;
    };
    auto check = [](store::Store& s) -> Result<Schema> {
      auto at = s.SchemaVersion();
      if (!at) return at.error();
      return Schema{*at, s.KnownSchemaVersion()};
    };
    auto schema = co_await OnStore(ctx_, std::move(check));
    if (!schema) {  // the engine's message (hosts, users) goes to the log, not to whoever asks
      spdlog::warn("not ready: {}", schema.error().message);
      co_return Json(StatusCode::service_unavailable,
                     json::object{{"status", "unavailable"}, {"reason", "database: unreachable (see the broker's log)"}});
    }
    if (schema->at != schema->known)
      co_return Json(StatusCode::service_unavailable,
                     json::object{{"status", "unavailable"},
                                  {"reason", "the database is at schema version " + std::to_string(schema->at) +
                                                 " and this broker knows " + std::to_string(schema->known) +
                                                 ": upgrade the brokers or run `aipassport db migrate`"}});
    if (ctx_.follower && !ctx_.follower->CaughtUpWithin(ctx_.follower_max_age))
      co_return Json(StatusCode::service_unavailable,
                     json::object{{"status", "unavailable"},
                                  {"reason", "this broker has not read the change feed lately; it refuses calls"}});
    co_return Json(StatusCode::ok, json::object{{"status", "ready"}, {"schemaVersion", schema->at}});
  }

  awaitable<Response> Jwks(Request&, const PathParams&) {
    Response res = Json(StatusCode::ok, ctx_.tokens.Keys()->Jwks());
    res.set(http::bhttp::field::cache_control, "public, max-age=300");
    co_return res;
  }

  awaitable<Response> CreateGrantRequest(Request& req, const PathParams&, http::Exchange& exchange) {
    if (auto refused = ThrottleAddress(ctx_.throttles.grant_requests_by_address, exchange.PeerAddress(), "grant requests"))
      co_return http::ErrorResponse(*refused);
    auto body = BodyObject(req, false);
    if (!body) co_return http::ErrorResponse(body.error());
    std::vector<FieldError> errors;
    auto app_name = RequiredString(*body, "appName", kMaxAppName, errors);
    auto app_url = RequiredString(*body, "appUrl", kMaxUrl, errors);
    if (app_url && !http::IsWebUrl(*app_url)) errors.push_back({"appUrl", "Expected an http or https URL"});
    std::string reason;
    if (const auto* r = body->if_contains("reason"); r && !r->is_null()) {
      if (!r->is_string() || r->get_string().size() > kMaxReason)
        errors.push_back({"reason", "Expected a string of at most " + std::to_string(kMaxReason) + " characters"});
      else if (HoldsNul(r->get_string()))
        errors.push_back({"reason", kNoNul});
      else
        reason = r->get_string();
    }
    const json::value* scope_value = body->if_contains("scope");
    auto scope =
        domain::ParseScope(scope_value ? *scope_value : json::value(nullptr), "scope", ctx_.upstream.Table().Names());
    if (!scope) {
      Error scope_error = scope.error();  // error() returns a copy: take it once
      errors.insert(errors.end(), scope_error.field_errors.begin(), scope_error.field_errors.end());
    } else if (scope->max_delegation_depth) {
      errors.push_back({"scope.maxDelegationDepth",
                        "Delegation needs an OAuth client: ask for may_delegate in authorization_details"});
    }
    if (!errors.empty()) co_return http::ErrorResponse(Validation(std::move(errors)));

    UnixSeconds now = ctx_.clock();
    std::string secret = RandomToken(32);
    auto [request, grant] =
        domain::MakeGrantRequest(*app_name, *app_url, reason, *scope, crypto::Sha256Hex(secret), now);
    request.requested_from = domain::AddressKey(exchange.PeerAddress());
    // Counted and inserted in one step on the store thread, so concurrent requests to this broker
    // cannot overshoot: at most max_waiting in all, and a tenth of them from one address, which
    // could otherwise fill the whole bound and shut out every other app for a day.
    int64_t max_waiting = ctx_.throttles.max_waiting_grant_requests;
    int64_t max_from_one = api::Throttles::WaitingFromOneAddress(max_waiting);
    UnixSeconds lapsed_before = now - domain::kPendingLifetimeSeconds;
    auto insert = [request, grant, max_waiting, max_from_one, lapsed_before](store::Store& s) -> Result<Waiting> {
      if (!request.requested_from.empty()) {  // empty: the connection is gone already
        auto from_one = s.Grants().CountWaitingUnverifiedFrom(request.requested_from, lapsed_before);
        if (!from_one) return from_one.error();
        if (*from_one >= max_from_one) return Waiting::kTooManyFromOne;
      }
      auto waiting = s.Grants().CountWaitingUnverified(lapsed_before);
      if (!waiting) return waiting.error();
      if (*waiting >= max_waiting) return Waiting::kTooMany;
      if (auto created = s.Grants().CreateGrantRequest(request, grant); !created) return created.error();
      return Waiting::kCreated;
    };
    auto created = co_await OnStore(ctx_, std::move(insert));
    if (!created) co_return http::ErrorResponse(created.error());
    if (*created != Waiting::kCreated)
      co_return TooManyWaiting(*created, *created == Waiting::kTooMany ? max_waiting : max_from_one);
    ctx_.audit.Record(GrantEvent(audit_kind::kGrantRequested, "app:" + grant.id, grant,
                                 json::object{{"flow", "grant_request"}, {"address", exchange.PeerAddress()}}));
    domain::Grant view{grant, *scope};
    co_return Json(StatusCode::created, json::object{{"grantRequest", domain::GrantRequestToJson(request, *scope)},
                                                     {"grant", domain::GrantToJson(view, now, 0)},
                                                     {"requestSecret", secret}});
  }

  // Newest first, a page at a time: an array, as the reference's, with `Link: <...>; rel="next"`
  // while more follow. A signed-in owner's pages hold their grants and the requests waiting for an
  // owner (MayManage), filtered by the query itself so that each page is full.
  awaitable<Response> ListGrants(Request& req, const PathParams&, const Caller& caller) {
    auto limit = PageLimit(req.target(), kDefaultPage, kMaxPage);
    if (!limit) co_return http::ErrorResponse(limit.error());
    auto cursor = GrantCursorParam(req.target());
    if (!cursor) co_return http::ErrorResponse(cursor.error());
    store::GrantQuery query;
    if (caller.owner) query.owner_id = caller.owner->id;
    query.after = std::move(*cursor);
    query.limit = *limit + 1;  // one more says whether a next page exists
    auto list = [query](store::Store& s) { return s.Grants().ListGrantPage(query); };
    auto records = co_await OnStore(ctx_, std::move(list));
    if (!records) co_return http::ErrorResponse(records.error());
    bool more = static_cast<int64_t>(records->size()) > *limit;
    if (more) records->pop_back();
    std::optional<std::string> next;
    if (more) next = GrantCursorText(records->back());
    // Written grant by grant: the answer never holds the page as JSON values besides its text.
    UnixSeconds now = ctx_.clock();
    std::string body = "[";
    for (auto& r : *records) {
      auto grant = domain::GrantFromRecord(std::move(r));
      if (!grant) co_return http::ErrorResponse(grant.error());
      if (body.size() > 1) body += ',';
      body += http::JsonText(domain::GrantToJson(*grant, now, ctx_.meter.InFlight(grant->record.id)));
    }
    body += ']';
    records.value() = {};
    Response res = http::JsonTextResponse(StatusCode::ok, std::move(body));
    if (next) res.set(http::bhttp::field::link, NextLink("/grants", *limit, *next));
    co_return res;
  }

  awaitable<Response> GetGrant(Request&, const PathParams& params, const Caller& caller) {
    auto grant = co_await ManagedGrant(std::string(params.Get("id")), caller);
    if (!grant) co_return http::ErrorResponse(grant.error());
    auto list = [id = grant->record.id](store::Store& s) { return s.Grants().ListChildIds(id, domain::kMaxDescendants); };
    auto children = co_await OnStore(ctx_, std::move(list));
    if (!children) co_return http::ErrorResponse(children.error());
    json::object view = domain::GrantToJson(*grant, ctx_.clock(), ctx_.meter.InFlight(grant->record.id));
    view["children"] = json::array(children->begin(), children->end());
    view["metering"] = MeteringToJson();
    co_return Json(StatusCode::ok, view);
  }

  // What the grant used: totals and a row per day and model (a page of rows; `next` while more
  // follow).
  awaitable<Response> GetUsage(Request& req, const PathParams& params, const Caller& caller) {
    auto limit = PageLimit(req.target(), kDefaultPage, kMaxPage);
    if (!limit) co_return http::ErrorResponse(limit.error());
    auto cursor = UsageCursorParam(req.target());
    if (!cursor) co_return http::ErrorResponse(cursor.error());
    std::string id(params.Get("id"));
    auto grant = co_await ManagedGrant(id, caller);
    if (!grant) co_return http::ErrorResponse(grant.error());
    // The budget and the totals are read in one job on the store thread, where calls settle: a
    // call settling between two reads would show a cost the budget has not yet counted.
    struct Page {
      store::GrantRecord grant;
      store::UsageRecord total;
      std::vector<store::UsageRecord> rows;
    };
    auto read = [id, after = *cursor, want = *limit + 1](store::Store& s) -> Result<Page> {
      auto now = s.Grants().GetGrant(id);
      if (!now) return now.error();
      auto total = s.Metering().TotalUsage(id);
      if (!total) return total.error();
      auto rows = s.Metering().ListUsage(id, after, want);
      if (!rows) return rows.error();
      return Page{std::move(*now), std::move(*total), std::move(*rows)};
    };
    auto page = co_await OnStore(ctx_, std::move(read));
    if (!page) co_return http::ErrorResponse(page.error());
    json::value next = nullptr;
    if (static_cast<int64_t>(page->rows.size()) > *limit) {
      page->rows.pop_back();
      next = UsageCursorText(page->rows.back());
    }
    json::object body = UsageToJson(page->grant, ctx_.meter.InFlight(id), page->total, page->rows);
    body["next"] = std::move(next);
    co_return Json(StatusCode::ok, body);
  }

  // The grant's audit trail: budget thresholds crossed, leases lost to a stopped broker. Oldest
  // first, a page at a time.
  awaitable<Response> GetEvents(Request& req, const PathParams& params, const Caller& caller) {
    auto limit = PageLimit(req.target(), kDefaultPage, kMaxPage);
    if (!limit) co_return http::ErrorResponse(limit.error());
    auto cursor = EventCursorParam(req.target());
    if (!cursor) co_return http::ErrorResponse(cursor.error());
    std::string id(params.Get("id"));
    auto grant = co_await ManagedGrant(id, caller);
    if (!grant) co_return http::ErrorResponse(grant.error());
    auto list = [id, after = *cursor, want = *limit + 1](store::Store& s) { return s.Metering().ListEvents(id, after, want); };
    auto events = co_await OnStore(ctx_, std::move(list));
    if (!events) co_return http::ErrorResponse(events.error());
    json::value next = nullptr;
    if (static_cast<int64_t>(events->size()) > *limit) {
      events->pop_back();
      next = std::to_string(events->back().id);
    }
    json::array out;
    for (const auto& e : *events) {
      boost::system::error_code ec;
      out.push_back({{"type", e.kind}, {"at", FormatIso8601(e.at)}, {"detail", json::parse(e.detail, ec)}});
    }
    co_return Json(StatusCode::ok, json::object{{"grantId", id}, {"events", std::move(out)}, {"next", next}});
  }

  // Changes a granted grant's limits: {"maxBudgetCents": 500, "maxRequests": null, ...}; a field
  // left out keeps its value, null removes the limit.
  awaitable<Response> SetLimits(Request& req, const PathParams& params, const Caller& caller) {
    auto body = BodyObject(req, false);
    if (!body) co_return http::ErrorResponse(body.error());
    std::string id(params.Get("id"));
    auto grant = co_await ManagedGrant(id, caller);
    if (!grant) co_return http::ErrorResponse(grant.error());
    json::object scope = domain::ScopeToJson(grant->scope);
    api::LimitSet given = 0;
    for (const auto& [key, value] : *body) {
      const auto* field = std::find(std::begin(kLimitFields), std::end(kLimitFields), key);
      if (field == std::end(kLimitFields))
        co_return http::ErrorResponse(Validation({{std::string(key),
                                                   "Not a limit; expected one of maxBudgetCents, "
                                                   "maxRequests, rateLimit, maxTokensPerMinute, "
                                                   "maxConcurrent"}}));
      given |= 1u << (field - std::begin(kLimitFields));  // api::Limit's order
      if (value.is_null())
        scope.erase(key);
      else
        scope[key] = value;
    }
    // Checked with the limits read here; only those given are written (see api::SetLimits).
    auto limits = domain::ParseScope(scope, "scope", {grant->scope.provider}, domain::ScopeBy::kOwner);
    if (!limits) co_return http::ErrorResponse(limits.error());
    co_return co_await Transition(std::move(id), caller, api::SetLimits(std::move(*limits), given));
  }

  // What an app may still do with its token: its grant's limits, what is left, and the prices.
  awaitable<Response> Passport(Request& req, const PathParams&, http::Exchange& exchange) {
    TokenFacts token;
    auto grant = co_await AuthorizeBearer(ctx_, req, &token);
    if (!grant) {
      Response refused = http::ErrorResponse(grant.error());
      if (refused.result() == StatusCode::unauthorized)
        SetChallenge(refused, ctx_, req.target(), token.fault, token.dpop, grant.error().message);
      co_return refused;
    }
    exchange.notes.grant_id = (*grant)->record.id;
    auto fresh = co_await LoadGrant(ctx_, (*grant)->record.id);  // the cached copy's figures lag
    if (!fresh) co_return http::ErrorResponse(fresh.error());
    UnixSeconds now = ctx_.clock();
    const store::GrantRecord& r = fresh->record;
    co_return Json(StatusCode::ok, json::object{{"grantId", r.id},
                                                {"status", store::GrantStatusName(domain::EffectiveStatus(r, now))},
                                                {"scope", domain::ScopeToJson(fresh->scope)},
                                                {"expiresAt", r.expires_at ? json::value(FormatIso8601(*r.expires_at))
                                                                           : json::value(nullptr)},
                                                {"budget", domain::BudgetToJson(r)},
                                                {"requests", domain::RequestsToJson(r, ctx_.meter.InFlight(r.id))},
                                                {"metering", MeteringToJson()}});
  }

  awaitable<Response> Approve(Request& req, const PathParams& params, const Caller& caller) {
    auto body = BodyObject(req, true);
    if (!body) co_return http::ErrorResponse(body.error());
    int64_t seconds = kDefaultGrantSeconds;
    if (const auto* v = body->if_contains("expiresInSeconds"); v && !v->is_null()) {
      if (!v->is_int64() || v->get_int64() < 1 || v->get_int64() > kMaxGrantSeconds)
        co_return http::ErrorResponse(
            Validation({{"expiresInSeconds",
                         "Expected a whole number of seconds between 1 and " + std::to_string(kMaxGrantSeconds)}}));
      seconds = v->get_int64();
    }
    std::string label;
    if (const auto* v = body->if_contains("keyLabel"); v && !v->is_null()) {
      if (!v->is_string()) co_return http::ErrorResponse(Validation({{"keyLabel", "Expected a string"}}));
      label = v->get_string();
    }
    std::string owner_id = ActingOwner(ctx_, caller);
    co_return co_await Transition(std::string(params.Get("id")), caller,
                                  api::Approve(ctx_, owner_id, label, seconds));
  }

  awaitable<Response> Deny(Request&, const PathParams& params, const Caller& caller) {
    co_return co_await Transition(std::string(params.Get("id")), caller, api::Deny());
  }

  // Denies waiting requests at once: {"ids": [...]} or {"unverified": true}. 200 {denied: [ids]}.
  awaitable<Response> DenyWaiting(Request& req, const PathParams&, const Caller& caller) {
    auto body = BodyObject(req, false);
    if (!body) co_return http::ErrorResponse(body.error());
    WaitingSelection selection;
    const auto* ids = body->if_contains("ids");
    const auto* unverified = body->if_contains("unverified");
    if (unverified && unverified->is_bool() && unverified->get_bool() && !ids) {
      selection.all_unverified = true;
    } else if (ids && ids->is_array() && !unverified && ids->get_array().size() <= kMaxDenyIds) {
      for (const auto& id : ids->get_array()) {
        if (!id.is_string())
          co_return http::ErrorResponse(Validation({{"ids", "Expected grant ids (strings)"}}));
        selection.ids.emplace_back(id.get_string());
      }
    } else {
      co_return http::ErrorResponse(Validation(
          {{"ids", "Send either {\"ids\": [up to " + std::to_string(kMaxDenyIds) + " grant ids]} or {\"unverified\": true}"}}));
    }
    auto deny = api::DenyWaiting(ctx_, caller, std::move(selection));  // g++ 12: no temporaries inside co_await
    auto denied = co_await std::move(deny);
    if (!denied) co_return http::ErrorResponse(denied.error());
    co_return Json(StatusCode::ok, json::object{{"denied", json::array(denied->begin(), denied->end())}});
  }

  awaitable<Response> Revoke(Request&, const PathParams& params, const Caller& caller) {
    co_return co_await Transition(std::string(params.Get("id")), caller, api::Revoke());
  }

  awaitable<Response> IssueToken(Request& req, const PathParams&) {
    auto body = BodyObject(req, false);
    if (!body) co_return http::ErrorResponse(body.error());
    std::vector<FieldError> errors;
    auto grant_id = RequiredString(*body, "grantId", 200, errors);
    if (!errors.empty()) co_return http::ErrorResponse(Validation(std::move(errors)));
    const auto* secret = body->if_contains("requestSecret");
    if (!secret || !secret->is_string() || secret->get_string().empty())
      co_return http::ErrorResponse(Errc::kUnauthorized,
                                    "requestSecret is required: the one returned by POST /grant-requests");
    auto read = [id = *grant_id](store::Store& s) { return s.Grants().GetGrant(id); };
    auto record = co_await OnStore(ctx_, std::move(read));
    if (!record) co_return http::ErrorResponse(record.error());
    if (!crypto::ConstantTimeEqual(crypto::Sha256Hex(secret->get_string()), record->request_secret_hash))
      co_return http::ErrorResponse(Errc::kUnauthorized, "Invalid requestSecret for this grant");
    UnixSeconds now = ctx_.clock();
    GrantStatus status = domain::EffectiveStatus(*record, now);
    if (status == GrantStatus::kExpired && record->status == GrantStatus::kApproved)
      co_return http::ErrorResponse(Errc::kBadRequest, "Grant has expired");
    if (status != GrantStatus::kApproved) co_return http::ErrorResponse(WrongStatus(status, "approved"));
    if (auto refused = ThrottleGrant(ctx_.throttles.tokens_by_grant, record->id, "tokens"))
      co_return http::ErrorResponse(*refused);
    auto token = ctx_.tokens.Issue(record->id, record->expires_at);
    ctx_.audit.Record(GrantEvent(audit_kind::kTokenIssued, "app:" + record->id, *record));
    co_return Json(StatusCode::created, json::object{{"token", token.token},
                                                     {"grantId", record->id},
                                                     {"tokenType", "Bearer"},
                                                     {"issuedAt", FormatIso8601(token.issued_at)},
                                                     {"expiresAt", FormatIso8601(token.expires_at)},
                                                     {"expiresIn", token.expires_at - token.issued_at}});
  }

  awaitable<Response> InspectToken(Request&, const PathParams& params) {
    auto invalid = [](std::string reason) {
      return Json(StatusCode::ok, json::object{{"valid", false}, {"reason", reason}});
    };
    auto claims = ctx_.tokens.Verify(params.Get("token"));
    if (!claims) co_return invalid(claims.error().message);
    auto grant = co_await LoadGrant(ctx_, (*claims)->grant_id);
    if (!grant && grant.error().code == Errc::kNotFound) co_return invalid("Associated grant not found");
    if (!grant) co_return http::ErrorResponse(grant.error());
    UnixSeconds now = ctx_.clock();
    if (auto unusable = domain::UnusableReason(grant->record, now)) co_return invalid(unusable->message);
    json::object full = domain::GrantToJson(*grant, now, 0);
    json::object view;
    for (const char* key : {"id", "appName", "appUrl", "scope", "status", "createdAt", "expiresAt", "usageCount"})
      if (const auto* v = full.if_contains(key)) view[key] = *v;
    co_return Json(StatusCode::ok, json::object{{"valid", true}, {"grant", std::move(view)}});
  }

  struct BuiltChat {
    const proxy::ProviderEndpoint* endpoint;
    proxy::ChatCall call;
    proxy::WorstCase worst;  // of exactly what goes upstream, after translation
  };

  // The call /proxy/chat's body asks for, checked against the grant (its tools too) and translated
  // for its provider, with its worst case and the key it spends taken. What the body's scan kept
  // (as much as several times the body, for a long conversation) is gone before the call waits on
  // the provider.
  Result<BuiltChat> ChatCallFor(Request& req, const domain::Grant& g, RelayedCall& call) {
    proxy::ChatRequest chat;
    if (auto read = chat.Read(req.body()); !read) return read.error();
    // The grant's scope, its prices and its record see the model the call reaches.
    const proxy::ProviderEndpoint* served = ctx_.upstream.Table().Find(g.scope.provider);
    std::string_view model = served ? chat.ModelCalled(served->wire) : std::string_view(chat.Model());
    call.SetModel(model);
    if (chat.Stream())
      return MakeError(Errc::kBadRequest, "Streaming is not supported on /proxy/chat; send stream: false");
    auto provider = CheckScope(ctx_, g, "chat", model);
    if (!provider) return provider.error();
    if (auto key = call.TakeKey(**provider); !key) return key.error();
    // The worst case of exactly what goes upstream, after translation, bounds the broker adds included.
    auto built = proxy::BuildChatCall((*provider)->wire, chat, std::move(req.body()), g.record.SpendsAgainstABudget(),
                                      (*provider)->declared ? proxy::Server::kDeclared : proxy::Server::kProvider);
    if (!built) return built.error();
    proxy::WorstCase worst = proxy::WorstCaseOf(built->asked, built->upstream.body.size());
    // As on the native paths: a tool may not run a model, or make images, the grant does not allow.
    if (auto tools = CheckToolScope(g, worst); !tools) return tools.error();
    return BuiltChat{*provider, std::move(*built), std::move(worst)};
  }

  // The reference's chat call: `{model, messages}` in OpenAI's shape, translated for the grant's
  // provider and relayed as the native paths are, answered whole. The checks and the relay are in
  // this one coroutine, as on the native paths (RunNative).
  awaitable<Response> ProxyChat(Request& req, const PathParams&, http::Exchange& exchange) {
    CallKind kind{"chat", "", true, std::nullopt, req.version(), req.target()};
    RelayedCall call(ctx_, exchange, kind);
    auto presented = http::AccessToken(req);
    Status permitted = presented ? Status() : Status(presented.error());
    if (permitted) {
      auto authorized = call.AuthorizeAtOnce(req, presented->token, presented->dpop);
      if (!authorized) authorized = co_await call.AuthorizeFurther(req, presented->token, presented->dpop);
      permitted = *authorized;
    }
    auto built = permitted ? ChatCallFor(req, call.Grant(), call) : Result<BuiltChat>(permitted.error());
    proxy::Reply answer;
    if (!built) {
      answer = call.Refusal(built.error());
    } else {
      proxy::Relay relay(ctx_.upstream, *built->endpoint, call.ApiKey(), call.Grant(), exchange, call);
      answer = co_await relay.Chat(std::move(built->call.upstream), built->worst);
      call.AddQuotedKeyAnswers(relay.QuotedKeyAnswers());
    }
    if (!call.Finished()) co_await call.Finish(answer);
    if (!answer) co_return Response{};  // sent: the server sends nothing more
    co_return std::move(*answer);
  }

 private:
  // The grant, if the caller may manage it; another owner's grant is as if it did not exist.
  awaitable<Result<domain::Grant>> ManagedGrant(std::string id, const Caller& caller) {
    auto grant = co_await LoadGrant(ctx_, std::move(id));
    if (grant && !MayManage(caller, grant->record)) co_return NotFound();
    co_return grant;
  }

  // How calls are priced: the table's date, and what happens to a model with no known price.
  json::object MeteringToJson() const {
    return {{"pricesAsOf", ctx_.prices.AsOf()},
            {"unpricedModels", ctx_.refuse_unpriced_models ? "refused when the grant has a budget"
                                                           : "allowed, counted as requests only"}};
  }

  awaitable<Response> Transition(std::string id, const Caller& caller, GrantChange change) {
    auto grant = co_await ChangeGrant(ctx_, std::move(id), caller, std::move(change));
    if (!grant) co_return http::ErrorResponse(grant.error());
    co_return Json(StatusCode::ok,
                   domain::GrantToJson(*grant, ctx_.clock(), ctx_.meter.InFlight(grant->record.id)));
  }

  BrokerContext& ctx_;
};

template <auto Method>
http::RouteHandler Bind(std::shared_ptr<ReferenceApi> api) {
  return [api](Request& req, const PathParams& params, http::Exchange&) { return ((*api).*Method)(req, params); };
}

// An owner endpoint: ReferenceApi::OwnerOnly in front of `Method`.
template <auto Method>
http::RouteHandler BindOwnerOnly(std::shared_ptr<ReferenceApi> api) {
  return [api](Request& req, const PathParams& params, http::Exchange& exchange) {
    return api->OwnerOnly<Method>(req, params, exchange);
  };
}

}  // namespace

void AddReferenceRoutes(http::Router& router, BrokerContext& ctx) {
  auto api = std::make_shared<ReferenceApi>(ctx);
  using V = http::Verb;
  router.Add(V::get, "/health", Bind<&ReferenceApi::Health>(api));
  router.Add(V::get, "/ready", Bind<&ReferenceApi::Ready>(api));
  // Uptime monitors that check with HEAD (some do by default) get the same status, without the
  // body (the server sends an answer to HEAD as its head alone).
  router.Add(V::head, "/health", Bind<&ReferenceApi::Health>(api));
  router.Add(V::head, "/ready", Bind<&ReferenceApi::Ready>(api));
  router.Add(V::get, "/.well-known/jwks.json", Bind<&ReferenceApi::Jwks>(api));
  router.Add(V::post, "/grant-requests", http::BindMethod<&ReferenceApi::CreateGrantRequest>(api));
  router.Add(V::post, "/grant-requests/deny", BindOwnerOnly<&ReferenceApi::DenyWaiting>(api));
  router.Add(V::get, "/grants", BindOwnerOnly<&ReferenceApi::ListGrants>(api));
  router.Add(V::get, "/grants/:id", BindOwnerOnly<&ReferenceApi::GetGrant>(api));
  router.Add(V::get, "/grants/:id/usage", BindOwnerOnly<&ReferenceApi::GetUsage>(api));
  router.Add(V::get, "/grants/:id/events", BindOwnerOnly<&ReferenceApi::GetEvents>(api));
  router.Add(V::patch, "/grants/:id", BindOwnerOnly<&ReferenceApi::SetLimits>(api));
  router.Add(V::get, "/v1/passport", http::BindMethod<&ReferenceApi::Passport>(api));
  router.Add(V::post, "/grants/:id/approve", BindOwnerOnly<&ReferenceApi::Approve>(api));
  router.Add(V::post, "/grants/:id/deny", BindOwnerOnly<&ReferenceApi::Deny>(api));
  router.Add(V::post, "/grants/:id/revoke", BindOwnerOnly<&ReferenceApi::Revoke>(api));
  router.Add(V::post, "/tokens", Bind<&ReferenceApi::IssueToken>(api));
  router.Add(V::get, "/tokens/:token/inspect", Bind<&ReferenceApi::InspectToken>(api));
  router.Add(V::post, "/proxy/chat", http::BindMethod<&ReferenceApi::ProxyChat>(api));
}

}  // namespace ap::api
