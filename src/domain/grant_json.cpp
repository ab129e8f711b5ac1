#include "domain/grant_json.hpp"

#include <algorithm>

#include "core/money.hpp"

namespace ap::domain {
namespace {

boost::json::value OptionalTime(const std::optional<UnixSeconds>& t) {
  if (!t) return nullptr;
  return boost::json::string(FormatIso8601(*t));
}

boost::json::value OrNull(const std::optional<int64_t>& v) {
  if (!v) return nullptr;
  return *v;
}

}  // namespace

boost::json::object BudgetToJson(const store::GrantRecord& r) {
  boost::json::value remaining = nullptr;
  if (r.budget_micros) remaining = std::max<int64_t>(0, LeftOf(*r.budget_micros, {r.spent_micros, r.lost_micros}));
  return {{"limitMicros", OrNull(r.budget_micros)},
          {"spentMicros", r.spent_micros},
          {"leasedMicros", r.leased_micros},
          {"lostMicros", r.lost_micros},
          {"remainingMicros", remaining}};
}

boost::json::object RequestsToJson(const store::GrantRecord& r, int64_t in_flight) {
  boost::json::value remaining = nullptr;
  if (r.max_requests) remaining = std::max<int64_t>(0, LeftOf(*r.max_requests, {r.usage_count, r.lost_requests}));
  return {{"limit", OrNull(r.max_requests)},
          {"used", r.usage_count},
          {"inFlight", in_flight},
          {"leased", r.leased_requests},
          {"lost", r.lost_requests},
          {"remaining", remaining}};
}

boost::json::object GrantToJson(const Grant& grant, UnixSeconds now, int64_t in_flight) {
  const auto& r = grant.record;
  boost::json::object o;
  o["id"] = r.id;
  o["requestId"] = r.request_id;
  o["appName"] = r.app_name;
  if (!r.app_url.empty()) o["appUrl"] = r.app_url;
  o["verified"] = r.verified;  // false: the name and home page are only what the app says of itself
  o["scope"] = ScopeToJson(grant.scope);
  o["status"] = store::GrantStatusName(EffectiveStatus(r, now));
  o["createdAt"] = FormatIso8601(r.created_at);
  o["expiresAt"] = OptionalTime(r.expires_at);  // pending: when the request lapses
  if (r.approved_at) o["approvedAt"] = FormatIso8601(*r.approved_at);
  if (r.denied_at) o["deniedAt"] = FormatIso8601(*r.denied_at);
  if (r.revoked_at) o["revokedAt"] = FormatIso8601(*r.revoked_at);
  o["usageCount"] = r.usage_count;
  o["usageBudgetCents"] = (r.spent_micros + 9'999) / 10'000;  // the reference's field, rounded up
  o["budget"] = BudgetToJson(r);
  o["requests"] = RequestsToJson(r, in_flight);
  if (r.notes) o["notes"] = *r.notes;
  if (r.owner_id) o["ownerId"] = *r.owner_id;
  if (r.key_label) o["keyLabel"] = *r.key_label;  // which of the owner's keys it spends
  if (!r.ancestors.empty()) o["parentGrantId"] = r.ancestors.front();  // handed on by that grant's app
  o["version"] = std::to_string(r.version);  // the reference's version is a string
  return o;
}

boost::json::object GrantRequestToJson(const store::GrantRequestRecord& request, const Scope& scope) {
  boost::json::object o{{"id", request.id}, {"appName", request.app_name}};
  if (!request.app_url.empty()) o["appUrl"] = request.app_url;
  o["scope"] = ScopeToJson(scope);
  if (!request.reason.empty()) o["reason"] = request.reason;
  o["createdAt"] = FormatIso8601(request.created_at);
  return o;
}

}  // namespace ap::domain
