#include "domain/grant.hpp"

namespace ap::domain {

Result<Grant> GrantFromRecord(store::GrantRecord record) {
  auto scope = ParseScopeText(record.scope_json);
  if (!scope) return MakeError(Errc::kInternal, "grant " + record.id + " has an unreadable scope");
  return Grant{std::move(record), std::move(*scope)};
}

GrantStatus EffectiveStatus(const store::GrantRecord& grant, UnixSeconds now) {
  if (grant.status == GrantStatus::kApproved && grant.expires_at && *grant.expires_at <= now)
    return GrantStatus::kExpired;
  return grant.status;
}

std::optional<Error> UnusableReason(const store::GrantRecord& grant, UnixSeconds now) {
  GrantStatus status = EffectiveStatus(grant, now);
  if (status == GrantStatus::kApproved) return std::nullopt;
  return MakeError(Errc::kUnauthorized, "Grant is " + std::string(store::GrantStatusName(status)));
}

}  // namespace ap::domain
