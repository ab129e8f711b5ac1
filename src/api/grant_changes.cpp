#include "api/grant_changes.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/json/object.hpp>

#include "api/audit_events.hpp"

namespace ap::api {
namespace json = boost::json;

namespace {

Status MustBePending(const store::GrantRecord& g, UnixSeconds now) {
  auto status = domain::EffectiveStatus(g, now);
  if (status == store::GrantStatus::kPending) return {};
  return WrongStatus(status, "pending");
}

// What a change of a grant does to the grants handed on below it: revoking it revokes them all, and
// ending it sooner ends them by then too. Budgets and caps are not copied down (a child's leases are
// cut from what each ancestor has left, whatever its own limits say), nor per-minute limits (a
// child keeps the pace it was given; README, Delegation).
store::GrantStore::SubtreeChange CarriedDown(const store::GrantRecord& before, const store::GrantRecord& after,
                                             UnixSeconds now) {
  store::GrantStore::SubtreeChange carry;
  if (after.status == store::GrantStatus::kRevoked && before.status != store::GrantStatus::kRevoked)
    carry.revoked_at = now;
  else if (after.expires_at && (!before.expires_at || *after.expires_at < *before.expires_at))
    carry.ends_by = after.expires_at;
  return carry;
}

void RecordCarried(BrokerContext& ctx, const std::string& actor, const store::GrantRecord& from,
                   std::vector<store::GrantRecord> descendants) {
  for (auto& d : descendants) {
    json::object detail{{"because", "ancestor " + from.id}};
    if (d.status == store::GrantStatus::kRevoked) {
      ctx.audit.Record(GrantEvent(audit_kind::kGrantRevoked, actor, d, std::move(detail)));
    } else {
      if (d.expires_at) detail["expiresAt"] = FormatIso8601(*d.expires_at);
      ctx.audit.Record(GrantEvent(audit_kind::kGrantLimitsChanged, actor, d, std::move(detail)));
    }
    if (auto grant = domain::GrantFromRecord(std::move(d))) ctx.grants.Put(*grant);
  }
}

}  // namespace

Result<bool> NobodyWaits(store::Store& s, const store::GrantRecord& g, UnixSeconds now) {
  if (!g.request_secret_hash.empty()) return false;  // POST /grant-requests: fetched with its secret whenever decided
  auto pending = s.Flows().FindPendingAuthorization(g.id, now);
  if (!pending) return pending.error();
  if (*pending) return false;
  auto device = s.Flows().FindDeviceByGrant(g.id);
  if (!device) return device.error();
  return !(*device && (*device)->expires_at >= now);
}

boost::asio::awaitable<Result<bool>> NobodyWaits(BrokerContext& ctx, const store::GrantRecord& g) {
  auto read = [g, now = ctx.clock()](store::Store& s) { return NobodyWaits(s, g, now); };
  co_return co_await OnStore(ctx, std::move(read));
}

Error WrongStatus(store::GrantStatus status, std::string_view wanted) {
  return MakeError(Errc::kBadRequest, "Grant is '" + std::string(store::GrantStatusName(status)) + "', must be '" +
                                          std::string(wanted) + "'");
}

Result<std::optional<std::string>> ChooseKeyLabel(const BrokerContext& ctx, std::string_view owner_id,
                                                  std::string_view provider, std::string_view asked) {
  const proxy::ProviderEndpoint* endpoint = ctx.upstream.Table().Find(provider);
  if (!endpoint) return MakeError(Errc::kUnavailable, "The broker does not serve provider '" + std::string(provider) + "'");
  if (endpoint->keyless) return std::optional<std::string>();
  std::vector<std::string> labels = ctx.vault.Labels(owner_id, provider);
  if (!asked.empty()) {
    if (std::find(labels.begin(), labels.end(), asked) != labels.end()) return std::optional<std::string>(asked);
    return Error{Errc::kValidation,
                 "You have no " + std::string(provider) + " key labelled '" + std::string(asked) + "'",
                 {{"keyLabel", "Expected one of: " + (labels.empty() ? std::string("(none)") : domain::JoinForHumans(labels))}}};
  }
  if (labels.empty())
    return MakeError(Errc::kKeyMissing, "You have no " + std::string(provider) +
                                            " key: add one (Keys page, POST /keys or aipassport vault add) before "
                                            "approving");
  return std::optional<std::string>(labels.front());
}

GrantChange Approve(const BrokerContext& ctx, std::string owner_id, std::string asked_label, int64_t seconds,
                    std::optional<domain::Scope> narrowed) {
  return [&ctx, owner_id, asked_label, seconds, narrowed](store::GrantRecord& g, UnixSeconds now) -> Status {
    if (auto pending = MustBePending(g, now); !pending) return pending;
    // ChangeGrant runs this on the store thread: its store may be read here.
    auto lapsed = NobodyWaits(ctx.store, g, now);
    if (!lapsed) return lapsed.error();
    if (*lapsed) return MakeError(Errc::kBadRequest, kNobodyWaits);
    auto scope = domain::ParseScopeText(g.scope_json);
    if (!scope) return scope.error();
    // A request an owner's sign-in started stays theirs, with their key, even if the operator decides it.
    std::string owner = g.owner_id.value_or(owner_id);
    auto label = ChooseKeyLabel(ctx, owner, scope->provider, asked_label);
    if (!label) return label.error();
    if (narrowed) domain::SetScope(g, *narrowed);
    g.owner_id = owner;
    g.key_label = *label;
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

GrantChange SetLimits(domain::Scope limits, LimitSet which) {
  return [limits, which](store::GrantRecord& g, UnixSeconds now) -> Status {
    auto status = domain::EffectiveStatus(g, now);
    if (status != store::GrantStatus::kApproved && status != store::GrantStatus::kExhausted)
      return WrongStatus(status, "approved");
    auto scope = domain::ParseScopeText(g.scope_json);
    if (!scope) return scope.error();
    auto set = [which](Limit limit, std::optional<int64_t>& held, const std::optional<int64_t>& asked) {
      if (which & static_cast<LimitSet>(limit)) held = asked;
    };
    set(Limit::kBudget, scope->max_budget_cents, limits.max_budget_cents);
    set(Limit::kRequests, scope->max_requests, limits.max_requests);
    set(Limit::kRate, scope->rate_limit, limits.rate_limit);
    set(Limit::kTokensPerMinute, scope->max_tokens_per_minute, limits.max_tokens_per_minute);
    set(Limit::kConcurrent, scope->max_concurrent, limits.max_concurrent);
    domain::SetScope(g, *scope);
    return {};
  };
}

GrantChange EndSooner(UnixSeconds ends_at) {
  return [ends_at](store::GrantRecord& g, UnixSeconds now) -> Status {
    auto status = domain::EffectiveStatus(g, now);
    if (status != store::GrantStatus::kApproved && status != store::GrantStatus::kExhausted)
      return WrongStatus(status, "approved");
    if (ends_at < now) return MakeError(Errc::kBadRequest, "A grant cannot end in the past");
    if (g.expires_at && ends_at > *g.expires_at) return MakeError(Errc::kBadRequest, "A grant's lifetime can only be shortened");
    g.expires_at = ends_at;
    return {};
  };
}

boost::asio::awaitable<Result<domain::Grant>> ChangeGrant(BrokerContext& ctx, std::string id, Caller caller,
                                                          GrantChange change, std::string actor, std::string because) {
  struct Changed {
    store::GrantRecord before;
    store::GrantRecord after;
    std::vector<store::GrantRecord> descendants;  // changed with it
  };
  auto clock = ctx.clock;
  auto apply = [id, caller, change, clock, &meter = ctx.meter](store::Store& s) -> Result<Changed> {
    auto g = s.Grants().GetGrant(id);
    if (!g) return g.error();
    if (!MayManage(caller, *g)) return MakeError(Errc::kNotFound, "Grant not found");
    store::GrantRecord before = *g;
    UnixSeconds now = clock();
    if (auto ok = change(*g, now); !ok) return ok.error();
    if (g->status == before.status && g->scope_json == before.scope_json && g->expires_at == before.expires_at)
      return Changed{before, std::move(*g), {}};
    auto tree = s.Grants().UpdateGrantTree(*g, CarriedDown(before, *g, now));
    if (!tree) return tree.error();
    meter.ReturnLeasesOf(id);  // its subtree's calls lease again, under the new limits
    return Changed{std::move(before), std::move(tree->grant), std::move(tree->descendants)};
  };
  auto changed = co_await OnStore(ctx, std::move(apply));
  if (!changed) co_return changed.error();
  if (actor.empty()) actor = ActorOf(caller);
  RecordGrantChange(ctx, caller, changed->before, changed->after, actor, std::move(because));
  RecordCarried(ctx, actor, changed->after, std::move(changed->descendants));
  auto grant = domain::GrantFromRecord(std::move(changed->after));
  if (!grant) co_return grant.error();
  ctx.grants.Put(*grant);
  co_return std::move(*grant);
}

boost::asio::awaitable<Result<std::vector<std::string>>> DenyWaiting(BrokerContext& ctx, Caller caller,
                                                                     WaitingSelection selection) {
  auto clock = ctx.clock;
  auto deny = [caller, selection, clock](store::Store& s) -> Result<std::vector<store::GrantRecord>> {
    UnixSeconds now = clock();
    std::vector<store::GrantRecord> denied;
    auto deny_one = [&](store::GrantRecord g) -> Status {
      if (!MayManage(caller, g) || domain::EffectiveStatus(g, now) != store::GrantStatus::kPending) return {};
      if (auto ok = Deny()(g, now); !ok) return {};
      auto updated = s.Grants().UpdateGrant(g);
      if (!updated) {
        if (updated.error().code == Errc::kBadRequest) return {};  // decided concurrently: leave it be
        return updated.error();
      }
      denied.push_back(std::move(*updated));
      return {};
    };
    if (!selection.all_unverified) {
      for (const auto& id : selection.ids) {
        auto g = s.Grants().GetGrant(id);
        if (!g && g.error().code == Errc::kNotFound) continue;
        if (!g) return g.error();
        if (auto done = deny_one(std::move(*g)); !done) return done.error();
      }
      return denied;
    }
    // A page at a time: the requests still waiting (those lapsed are left out by the query).
    store::GrantQuery query;
    if (caller.owner) query.owner_id = caller.owner->id;
    query.waiting_unverified_after = now - domain::kPendingLifetimeSeconds;
    while (true) {
      auto page = s.Grants().ListGrantPage(query);
      if (!page) return page.error();
      if (page->empty()) break;
      query.after = store::GrantCursor{page->back().created_at, page->back().id};
      for (auto& g : *page)
        if (auto done = deny_one(std::move(g)); !done) return done.error();
    }
    return denied;
  };
  auto denied = co_await OnStore(ctx, std::move(deny));
  if (!denied) co_return denied.error();
  std::vector<std::string> ids;
  for (auto& record : *denied) {
    ids.push_back(record.id);
    if (auto grant = domain::GrantFromRecord(std::move(record))) ctx.grants.Put(*grant);
  }
  co_return ids;
}

RevokedPage RevokeGrantsOfClient(store::Store& s, std::string_view client_id, UnixSeconds now) {
  constexpr int kTries = 3;  // a grant changed meanwhile is read again
  RevokedPage page;
  auto ids = s.Grants().ListLiveGrantsOfClient(client_id, RevokedPage::kPage);
  if (!ids) {
    page.error = ids.error();
    return page;
  }
  page.more = static_cast<int64_t>(ids->size()) == RevokedPage::kPage;
  for (const auto& id : *ids) {
    for (int attempt = 1;; ++attempt) {
      auto g = s.Grants().GetGrant(id);
      if (!g) {
        page.error = g.error();
        return page;
      }
      // Decided otherwise since it was listed (denied, revoked): not this removal's to end.
      if (g->status != store::GrantStatus::kPending && g->status != store::GrantStatus::kApproved) break;
      store::GrantRecord before = *g;
      if (auto ok = Revoke()(*g, now); !ok) {
        page.error = ok.error();
        return page;
      }
      auto tree = s.Grants().UpdateGrantTree(*g, CarriedDown(before, *g, now));
      if (tree) {
        page.grants.push_back(std::move(tree->grant));
        for (auto& d : tree->descendants) page.grants.push_back(std::move(d));
        break;
      }
      if (tree.error().code != Errc::kBadRequest || attempt == kTries) {
        page.error = tree.error();
        return page;
      }
    }
  }
  return page;
}

record::AuditEvent RevokedWithClient(const store::GrantRecord& grant, std::string_view client_id, std::string actor) {
  return GrantEvent(audit_kind::kGrantRevoked, std::move(actor), grant,
                    json::object{{"because", "app " + std::string(client_id) + " removed"}});
}

void NoteRevokedGrants(json::object& detail, const std::vector<std::string>& revoked_ids) {
  constexpr size_t kListed = 100;  // a record stays small, however many grants went
  json::array ids;
  for (size_t i = 0; i < revoked_ids.size() && i < kListed; ++i) ids.emplace_back(revoked_ids[i]);
  detail["revokedGrants"] = static_cast<int64_t>(revoked_ids.size());
  detail["revokedGrantIds"] = std::move(ids);
}

json::object RemovedClientDetail(std::string_view client_id, const std::vector<store::GrantRecord>& revoked) {
  std::vector<std::string> ids;
  for (const auto& g : revoked) ids.push_back(g.id);
  json::object detail{{"clientId", client_id}};
  NoteRevokedGrants(detail, ids);
  return detail;
}

boost::asio::awaitable<void> RevokeIfQuoting(BrokerContext& ctx, const store::GrantRecord& grant, int answers) {
  // Copies, named: g++ 12 destroys temporaries inside a co_await expression twice.
  std::string root_id = grant.ancestors.empty() ? grant.id : grant.ancestors.back();
  std::string grant_id = grant.id;
  if (answers == 0) co_return;
  // Calls still running when their tree was revoked are not counted: the guard would hold their
  // root until it filled up, and a full guard revokes at the first quote.
  if (auto root = ctx.grants.Find(root_id); root && root->record.status == store::GrantStatus::kRevoked) co_return;
  if (!ctx.leaks.Quoted(root_id, answers)) co_return;
  if (root_id == grant_id)
    spdlog::warn("grant {}: {} or more provider answers quoted its key; revoked so the app cannot guess the key",
                 root_id, KeyLeakGuard::kMaxQuotedAnswers);
  else
    spdlog::warn(
        "grant {}: {} or more provider answers of its delegation tree quoted its key (the last of grant {}); "
        "revoked with its tree so the apps cannot guess the key",
        root_id, KeyLeakGuard::kMaxQuotedAnswers, grant_id);
  Caller broker;
  GrantChange revoke = Revoke();
  std::string actor = "broker:key-quoted";
  std::string because = std::to_string(KeyLeakGuard::kMaxQuotedAnswers) + " provider answers quoted its key";
  if (root_id != grant_id) because += ", the last one of grant " + grant_id + " below it";
  auto revoked = co_await ChangeGrant(ctx, root_id, broker, revoke, actor, because);
  if (!revoked) spdlog::error("grant {} not revoked: {}", root_id, revoked.error().message);
}

}  // namespace ap::api
