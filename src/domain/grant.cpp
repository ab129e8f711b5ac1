#include "domain/grant.hpp"

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

}  // namespace ap::domain
