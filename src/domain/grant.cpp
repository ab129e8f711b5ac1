#include "domain/grant.hpp"

#include "core/ids.hpp"

namespace ap::domain {

Result<Grant> GrantFromRecord(store::GrantRecord record) {
  auto scope = ParseScopeText(record.scope_json);
  if (!scope) return MakeError(Errc::kInternal, "grant " + record.id + " has an unreadable scope");
  return Grant{std::move(record), std::move(*scope)};
}

void SetScope(store::GrantRecord& record, const Scope& scope) {
  record.scope_json = ScopeToJsonText(scope);
  record.max_requests = scope.max_requests;
  record.budget_micros =
      scope.max_budget_cents ? std::optional<int64_t>(*scope.max_budget_cents * 10'000) : std::nullopt;
}

bool IsExhausted(const store::GrantRecord& g) {
  bool spent = g.budget_micros && g.spent_micros + g.lost_micros >= *g.budget_micros;
  bool counted = g.max_requests && g.usage_count + g.lost_requests >= *g.max_requests;
  return spent || counted;
}

GrantStatus EffectiveStatus(const store::GrantRecord& grant, UnixSeconds now) {
  bool can_expire = grant.status == GrantStatus::kApproved || grant.status == GrantStatus::kPending;
  if (can_expire && grant.expires_at && *grant.expires_at <= now) return GrantStatus::kExpired;
  if (grant.status == GrantStatus::kApproved && IsExhausted(grant)) return GrantStatus::kExhausted;
  return grant.status;
}

std::optional<Error> UnusableReason(const store::GrantRecord& grant, UnixSeconds now) {
  GrantStatus status = EffectiveStatus(grant, now);
  // An exhausted grant's token stays valid: the meter refuses its calls, saying which limit.
  if (status == GrantStatus::kApproved || status == GrantStatus::kExhausted) return std::nullopt;
  if (status == GrantStatus::kExpired) return MakeError(Errc::kUnauthorized, "Associated grant has expired");
  return MakeError(Errc::kUnauthorized, "Grant status is '" + std::string(store::GrantStatusName(status)) + "'");
}

NewRequest MakeGrantRequest(std::string app_name, std::string app_url, std::string reason, const Scope& scope,
                            std::string request_secret_hash, UnixSeconds now) {
  NewRequest r;
  r.request = store::GrantRequestRecord{RandomUuid(), app_name, app_url, ScopeToJsonText(scope), reason, now, ""};
  store::GrantRecord& g = r.grant;
  g.id = RandomUuid();
  g.request_id = r.request.id;
  g.app_name = std::move(app_name);
  g.app_url = std::move(app_url);
  g.reason = std::move(reason);
  SetScope(g, scope);
  g.created_at = now;
  g.expires_at = now + kPendingLifetimeSeconds;
  g.request_secret_hash = std::move(request_secret_hash);
  return r;
}

}  // namespace ap::domain
