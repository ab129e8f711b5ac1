#include "api/grant_changes.hpp"

#include "api/audit_events.hpp"

namespace ap::api {

namespace {

Status MustBePending(const store::GrantRecord& g, UnixSeconds now) {
  auto status = domain::EffectiveStatus(g, now);
  if (status == store::GrantStatus::kPending) return {};
  return WrongStatus(status, "pending");
}

}  // namespace

Error WrongStatus(store::GrantStatus status, std::string_view wanted) {
  return MakeError(Errc::kBadRequest, "Grant is '" + std::string(store::GrantStatusName(status)) + "', must be '" +
                                          std::string(wanted) + "'");
}

GrantChange Approve(std::optional<std::string> owner_id, int64_t seconds, std::optional<domain::Scope> narrowed) {
  return [owner_id, seconds, narrowed](store::GrantRecord& g, UnixSeconds now) -> Status {
    if (auto pending = MustBePending(g, now); !pending) return pending;
    if (narrowed) domain::SetScope(g, *narrowed);
    g.owner_id = owner_id;
    g.status = store::GrantStatus::kApproved;
    g.approved_at = now;
    g.expires_at = now + seconds;
    return {};
  };
}

GrantChange Deny() {
  return [](store::GrantRecord& g, UnixSeconds now) -> Status {
    if (auto pending = MustBePending(g, now); !pending) return pending;
    g.status = store::GrantStatus::kDenied;
    g.denied_at = now;
    return {};
  };
}

GrantChange Revoke() {
  return [](store::GrantRecord& g, UnixSeconds now) -> Status {
    if (g.status == store::GrantStatus::kRevoked) return {};
    g.status = store::GrantStatus::kRevoked;
    g.revoked_at = now;
    return {};
  };
}

GrantChange SetLimits(domain::Scope limits) {
  return [limits](store::GrantRecord& g, UnixSeconds now) -> Status {
    auto status = domain::EffectiveStatus(g, now);
    if (status != store::GrantStatus::kApproved && status != store::GrantStatus::kExhausted)
      return WrongStatus(status, "approved");
    auto scope = domain::ParseScopeText(g.scope_json);
    if (!scope) return scope.error();
    scope->max_budget_cents = limits.max_budget_cents;
    scope->max_requests = limits.max_requests;
    scope->rate_limit = limits.rate_limit;
    scope->max_tokens_per_minute = limits.max_tokens_per_minute;
    scope->max_concurrent = limits.max_concurrent;
    domain::SetScope(g, *scope);
    return {};
  };
}

boost::asio::awaitable<Result<domain::Grant>> ChangeGrant(BrokerContext& ctx, std::string id, Caller caller,
                                                          GrantChange change, std::string actor) {
  struct Changed {
    store::GrantRecord before;
    store::GrantRecord after;
  };
  auto clock = ctx.clock;
  auto apply = [id, caller, change, clock](store::Store& s) -> Result<Changed> {
    auto g = s.GetGrant(id);
    if (!g) return g.error();
    if (!MayManage(caller, *g)) return MakeError(Errc::kNotFound, "Grant not found");
    store::GrantRecord before = *g;
    if (auto ok = change(*g, clock()); !ok) return ok.error();
    if (g->status == before.status && g->scope_json == before.scope_json) return Changed{before, std::move(*g)};
    auto updated = s.UpdateGrant(*g);
    if (!updated) return updated.error();
    return Changed{std::move(before), std::move(*updated)};
  };
  auto changed = co_await OnStore(ctx, std::move(apply));
  if (!changed) co_return changed.error();
  RecordGrantChange(ctx, caller, changed->before, changed->after, std::move(actor));
  auto grant = domain::GrantFromRecord(std::move(changed->after));
  if (!grant) co_return grant.error();
  ctx.grants.Put(*grant);
  co_return std::move(*grant);
}

}  // namespace ap::api
