#include "domain/grant.hpp"

#include "core/ids.hpp"

namespace ap::domain {

Result<Grant> GrantFromRecord(store::GrantRecord record) {
  auto scope = ParseScopeText(record.scope_json);
  if (!scope) return MakeError(Errc::kInternal, "grant " + record.id + " has an unreadable scope");
  return Grant{std::move(record), std::move(*scope)};
}

GrantStatus EffectiveStatus(const store::GrantRecord& grant, UnixSeconds now) {
  bool can_expire = grant.status == GrantStatus::kApproved || grant.status == GrantStatus::kPending;
  if (can_expire && grant.expires_at && *grant.expires_at <= now) return GrantStatus::kExpired;
  return grant.status;
}

std::optional<Error> UnusableReason(const store::GrantRecord& grant, UnixSeconds now) {
  GrantStatus status = EffectiveStatus(grant, now);
  if (status == GrantStatus::kApproved) return std::nullopt;
  if (status == GrantStatus::kExpired) return MakeError(Errc::kUnauthorized, "Associated grant has expired");
  return MakeError(Errc::kUnauthorized, "Grant status is '" + std::string(store::GrantStatusName(status)) + "'");
}

NewRequest MakeGrantRequest(std::string app_name, std::string app_url, std::string reason, const Scope& scope,
                            std::string request_secret_hash, UnixSeconds now) {
  NewRequest r;
  r.request = store::GrantRequestRecord{RandomUuid(), app_name, app_url, ScopeToJsonText(scope), reason, now};
  store::GrantRecord& g = r.grant;
  g.id = RandomUuid();
  g.request_id = r.request.id;
  g.app_name = std::move(app_name);
  g.app_url = std::move(app_url);
  g.reason = std::move(reason);
  g.scope_json = r.request.scope_json;
  g.max_requests = scope.max_requests;
  g.created_at = now;
  g.expires_at = now + kPendingLifetimeSeconds;
  g.request_secret_hash = std::move(request_secret_hash);
  return r;
}

}  // namespace ap::domain
