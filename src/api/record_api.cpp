#include "api/record_api.hpp"

#include <boost/json.hpp>
#include <charconv>

#include "api/audit_events.hpp"
#include "api/auth.hpp"
#include "api/call_guard.hpp"
#include "http/cookies.hpp"
#include "http/response.hpp"
#include "record/record_json.hpp"

namespace ap::api {
namespace json = boost::json;
using boost::asio::awaitable;
using http::PathParams;
using http::Request;
using http::Response;

namespace {

constexpr int64_t kDefaultPage = 100;
constexpr int64_t kMaxPage = 1000;

std::optional<std::string> Param(const Request& req, const std::string& name) {
  std::string value = http::QueryValue(req.target(), name);
  if (value.empty()) return std::nullopt;
  return value;
}

Result<std::optional<int64_t>> IntParam(const Request& req, const std::string& name, int64_t low, int64_t high) {
  auto text = Param(req, name);
  if (!text) return std::optional<int64_t>();
  int64_t value = 0;
  auto [end, ec] = std::from_chars(text->data(), text->data() + text->size(), value);
  if (ec != std::errc() || end != text->data() + text->size() || value < low || value > high)
    return FieldInvalid(name, "Expected a whole number from " + std::to_string(low) + " to " + std::to_string(high));
  return std::optional<int64_t>(value);
}

Result<std::optional<UnixMillis>> TimeParam(const Request& req, const std::string& name) {
  auto text = Param(req, name);
  if (!text) return std::optional<UnixMillis>();
  auto at = ParseIso8601Millis(*text);
  if (!at) return FieldInvalid(name, "Expected an ISO 8601 time such as 2026-11-28T10:00:00Z, or a date");
  return std::optional<UnixMillis>(*at);
}

// from, to and limit, common to every listing.
struct Window {
  std::optional<UnixMillis> from, to;
  int64_t limit = kDefaultPage;
};

Result<Window> ReadWindow(const Request& req) {
  // Unread, every filter and the cursor would read as absent: a paging client would be given page
  // one again, unfiltered (as paging.cpp refuses too).
  if (!http::QueryForm(req.target()))
    return FieldInvalid("query", "The query string is malformed (a bad % escape, or more than " +
                                     std::to_string(http::kMaxFormFields) + " parameters)");
  Window w;
  auto from = TimeParam(req, "from");
  if (!from) return from.error();
  auto to = TimeParam(req, "to");
  if (!to) return to.error();
  auto limit = IntParam(req, "limit", 1, kMaxPage);
  if (!limit) return limit.error();
  w.from = *from;
  w.to = *to;
  w.limit = limit->value_or(kDefaultPage);
  return w;
}

class RecordApi {
 public:
  explicit RecordApi(BrokerContext& ctx) : ctx_(ctx) {}

  awaitable<Response> Activity(Request& req, const PathParams&, http::Exchange& exchange) {
    auto caller = co_await RequireOwner(ctx_, req, exchange.PeerAddress());
    if (!caller) co_return http::ErrorResponse(caller.error());
    auto query = ActivityQueryOf(req, *caller);
    if (!query) co_return http::ErrorResponse(query.error());
    query->app_name = Param(req, "app");
    query->model = Param(req, "model");
    auto status = IntParam(req, "status", 100, 599);
    if (!status) co_return http::ErrorResponse(status.error());
    if (*status) query->status = static_cast<int>(**status);
    co_return co_await ActivityPage(std::move(*query));
  }

  awaitable<Response> GrantActivity(Request& req, const PathParams& params, http::Exchange& exchange) {
    auto caller = co_await RequireOwner(ctx_, req, exchange.PeerAddress());
    if (!caller) co_return http::ErrorResponse(caller.error());
    std::string id(params.Get("id"));
    auto grant = co_await LoadGrant(ctx_, id);
    if (grant && !MayManage(*caller, grant->record)) co_return http::ErrorResponse(Errc::kNotFound, "Grant not found");
    if (!grant) co_return http::ErrorResponse(grant.error());
    auto query = ActivityQueryOf(req, *caller);
    if (!query) co_return http::ErrorResponse(query.error());
    query->grant_id = id;
    co_return co_await ActivityPage(std::move(*query));
  }

  awaitable<Response> Audit(Request& req, const PathParams&, http::Exchange& exchange) {
    auto caller = co_await RequireOwner(ctx_, req, exchange.PeerAddress());
    if (!caller) co_return http::ErrorResponse(caller.error());
    auto window = ReadWindow(req);
    if (!window) co_return http::ErrorResponse(window.error());
    auto cursor = IntParam(req, "cursor", 1, INT64_MAX);
    if (!cursor) co_return http::ErrorResponse(FieldInvalid("cursor", "Expected the 'next' of a previous page"));
    store::AuditQuery query;
    if (caller->owner) query.owner_id = caller->owner->id;
    query.kind = Param(req, "kind");
    if (auto known = CheckAuditKind(query.kind.value_or("")); !known) co_return http::ErrorResponse(known.error());
    query.from = window->from;
    query.to = window->to;
    query.before_seq = *cursor;
    query.limit = window->limit;
    auto list = [query](store::Store& s) { return s.Audit().ListAudit(query); };
    auto records = co_await OnStoreRead(ctx_, std::move(list));
    if (!records) co_return http::ErrorResponse(records.error());
    json::array items;
    for (const auto& r : *records) items.push_back(record::AuditToJson(r));
    json::value next = nullptr;
    if (static_cast<int64_t>(records->size()) == query.limit) next = std::to_string(records->back().seq);
    co_return http::JsonResponse(http::StatusCode::ok, json::object{{"items", std::move(items)}, {"next", next}});
  }

 private:
  // The query's owner (a signed-in owner's own only), window and cursor.
  static Result<store::ActivityQuery> ActivityQueryOf(const Request& req, const Caller& caller) {
    auto window = ReadWindow(req);
    if (!window) return window.error();
    store::ActivityQuery query;
    if (caller.owner) query.owner_id = caller.owner->id;
    query.from = window->from;
    query.to = window->to;
    query.limit = window->limit;
    if (auto cursor = Param(req, "cursor")) {
      query.after = record::ParseActivityCursor(*cursor);
      if (!query.after) return FieldInvalid("cursor", "Expected the 'next' of a previous page");
    }
    return query;
  }

  awaitable<Response> ActivityPage(store::ActivityQuery query) {
    auto list = [query](store::Store& s) { return s.Activity().ListActivity(query); };
    auto rows = co_await OnStoreRead(ctx_, std::move(list));
    if (!rows) co_return http::ErrorResponse(rows.error());
    json::array items;
    for (const auto& r : *rows) items.push_back(record::ActivityToJson(r));
    json::value next = nullptr;
    if (static_cast<int64_t>(rows->size()) == query.limit) next = record::ActivityCursor(rows->back());
    co_return http::JsonResponse(http::StatusCode::ok, json::object{{"items", std::move(items)}, {"next", next}});
  }

  BrokerContext& ctx_;
};

}  // namespace

void AddRecordRoutes(http::Router& router, BrokerContext& ctx) {
  auto api = std::make_shared<RecordApi>(ctx);
  router.Add(http::Verb::get, "/activity", http::BindMethod<&RecordApi::Activity>(api));
  router.Add(http::Verb::get, "/grants/:id/activity", http::BindMethod<&RecordApi::GrantActivity>(api));
  router.Add(http::Verb::get, "/audit", http::BindMethod<&RecordApi::Audit>(api));
}

}  // namespace ap::api
