#include "oauth/delegation.hpp"

#include <algorithm>

#include "core/money.hpp"

namespace ap::oauth {
namespace {

// What `parent` may still hand on: its scope with its budget and cap cut to what is left (neither
// spent nor lost; leases are still the app's to spend) and one level less of delegation.
domain::Scope WhatIsLeft(const domain::Grant& parent) {
  const store::GrantRecord& r = parent.record;
  domain::Scope left = parent.scope;
  if (r.budget_micros)
    left.max_budget_cents = std::max<int64_t>(0, LeftOf(*r.budget_micros, {r.spent_micros, r.lost_micros})) / 10'000;
  if (r.max_requests)
    left.max_requests = std::max<int64_t>(0, LeftOf(*r.max_requests, {r.usage_count, r.lost_requests}));
  if (left.max_delegation_depth)
    left.max_delegation_depth =
        *left.max_delegation_depth > 1 ? std::optional<int64_t>(*left.max_delegation_depth - 1) : std::nullopt;
  return left;
}

int64_t SecondsLeft(const store::GrantRecord& parent, UnixSeconds now) {
  return parent.expires_at ? std::max<int64_t>(0, *parent.expires_at - now) : kMaxLifetimeSeconds;
}

}  // namespace

AccessRequest WithParentPace(AccessRequest asked, const domain::Grant& parent) {
  domain::Scope& a = asked.scope;
  if (!a.rate_limit) a.rate_limit = parent.scope.rate_limit;
  if (!a.max_tokens_per_minute) a.max_tokens_per_minute = parent.scope.max_tokens_per_minute;
  if (!a.max_concurrent) a.max_concurrent = parent.scope.max_concurrent;
  return asked;
}

std::optional<std::string> BeyondParent(const AccessRequest& asked, const domain::Grant& parent, UnixSeconds now) {
  if (!parent.scope.max_delegation_depth) return "the grant may not delegate: its owner did not allow it";
  if (asked.scope.max_delegation_depth && *parent.scope.max_delegation_depth <= 1)
    return "the grant allows one level of delegation: its children may not delegate";
  if (auto beyond = BeyondGrant(asked, WhatIsLeft(parent), SecondsLeft(parent.record, now)))
    return "the child reaches beyond what its parent has left: " + *beyond;
  return std::nullopt;
}

domain::NewRequest MakeChildGrant(const AccessRequest& asked, const domain::Grant& parent, UnixSeconds now,
                                  UnixSeconds ends_by) {
  const store::GrantRecord& p = parent.record;
  domain::NewRequest made = domain::MakeGrantRequest(p.app_name, p.app_url, asked.reason, asked.scope, "", now);
  store::GrantRecord& child = made.grant;
  child.status = store::GrantStatus::kApproved;
  child.approved_at = now;
  child.expires_at = std::min(now + std::min(asked.lifetime_seconds, SecondsLeft(p, now)), ends_by);
  child.owner_id = p.owner_id;
  child.key_label = p.key_label;
  child.verified = p.verified;
  child.ancestors.push_back(p.id);
  child.ancestors.insert(child.ancestors.end(), p.ancestors.begin(), p.ancestors.end());
  return made;
}

}  // namespace ap::oauth
