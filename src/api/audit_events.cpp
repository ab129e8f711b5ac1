#include "api/audit_events.hpp"

#include <algorithm>
#include <boost/json.hpp>

#include "domain/grant.hpp"
#include "domain/grant_json.hpp"
#include "http/executor.hpp"

namespace ap::api {
namespace json = boost::json;

std::string ActorOf(const Caller& caller) {
  return caller.owner ? "owner:" + caller.owner->username : std::string("admin-token");
}

record::AuditEvent GrantEvent(std::string_view kind, std::string actor, const store::GrantRecord& grant,
                              json::object detail) {
  detail.emplace("appName", grant.app_name);
  return record::AuditEvent{std::string(kind), std::move(actor), grant.owner_id.value_or(""), grant.id,
                            json::serialize(detail)};
}

record::AuditEvent KeyEvent(std::string_view kind, std::string actor, const store::ProviderKeyRecord& key) {
  json::object detail{{"keyId", key.id}, {"provider", key.provider}, {"label", key.label}, {"hint", key.hint}};
  return record::AuditEvent{std::string(kind), std::move(actor), key.owner_id, "", json::serialize(detail)};
}

void RecordSignIn(BrokerContext& ctx, const store::OwnerRecord& owner, const std::string& address) {
  ctx.audit.Record(record::AuditEvent{std::string(audit_kind::kOwnerSignedIn), "owner:" + owner.username, owner.id, "",
                                      json::serialize(json::object{{"address", address}})});
}

void RecordSignInFailed(BrokerContext& ctx, const std::string& username, const std::string& address) {
  http::PostBlocking(ctx.store_pool, [&ctx, username, address] {
    auto owner = ctx.store.Identity().GetOwnerByName(username);
    if (!owner) return;  // only against an owner: names nobody has would let anyone grow the record
    json::object detail{{"address", address}, {"username", owner->username}};
    ctx.audit.Record(record::AuditEvent{std::string(audit_kind::kOwnerSignInFailed), "address:" + address, owner->id,
                                        "", json::serialize(detail)});
  });
}

namespace {

json::value ScopeJson(const std::string& scope_json) {
  boost::system::error_code ec;
  json::value v = json::parse(scope_json, ec);
  return ec ? json::value(scope_json) : v;
}

// The members of `granted` that differ from `asked`, with both values.
json::object Narrowed(const json::value& asked, const json::value& granted) {
  json::object out;
  if (!asked.is_object() || !granted.is_object()) return out;
  for (const auto& [key, value] : granted.get_object()) {
    const json::value* was = asked.get_object().if_contains(key);
    if (!was || *was != value) out[key] = json::object{{"asked", was ? *was : json::value(nullptr)}, {"granted", value}};
  }
  for (const auto& [key, value] : asked.get_object())
    if (!granted.get_object().contains(key)) out[key] = json::object{{"asked", value}, {"granted", nullptr}};
  return out;
}

}  // namespace

void RecordGrantChange(BrokerContext& ctx, const Caller& caller, const store::GrantRecord& before,
                       const store::GrantRecord& after, std::string actor, std::string because) {
  if (actor.empty()) actor = ActorOf(caller);
  if (after.status != before.status) {
    switch (after.status) {
      case store::GrantStatus::kApproved: {
        json::value asked = ScopeJson(before.scope_json), granted = ScopeJson(after.scope_json);
        json::object detail{{"asked", asked}, {"granted", granted}, {"narrowed", Narrowed(asked, granted)}};
        if (after.expires_at) detail["expiresAt"] = FormatIso8601(*after.expires_at);
        ctx.audit.Record(GrantEvent(audit_kind::kGrantApproved, actor, after, std::move(detail)));
        return;
      }
      case store::GrantStatus::kDenied:
        ctx.audit.Record(GrantEvent(audit_kind::kGrantDenied, actor, after));
        return;
      case store::GrantStatus::kRevoked:
        ctx.audit.Record(because.empty() ? GrantEvent(audit_kind::kGrantRevoked, actor, after)
                                         : GrantEvent(audit_kind::kGrantRevoked, actor, after,
                                                      json::object{{"because", std::move(because)}}));
        return;
      default:
        break;
    }
  }
  if (after.scope_json != before.scope_json || after.expires_at != before.expires_at) {
    json::value was = ScopeJson(before.scope_json), now = ScopeJson(after.scope_json);
    json::object detail{{"changed", Narrowed(was, now)}};
    if (after.expires_at != before.expires_at && after.expires_at) detail["expiresAt"] = FormatIso8601(*after.expires_at);
    ctx.audit.Record(GrantEvent(audit_kind::kGrantLimitsChanged, actor, after, std::move(detail)));
  }
}

Status CheckAuditKind(std::string_view kind) {
  if (kind.empty() || std::ranges::find(audit_kind::kAll, kind) != std::end(audit_kind::kAll)) return {};
  std::string known;
  for (std::string_view k : audit_kind::kAll) known += (known.empty() ? "" : ", ") + std::string(k);
  return MakeError(Errc::kBadRequest, "Unknown audit kind '" + std::string(kind) + "'; the kinds are " + known);
}

}  // namespace ap::api
