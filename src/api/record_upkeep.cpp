#include "api/record_upkeep.hpp"

#include <spdlog/spdlog.h>

#include <boost/json.hpp>

#include "api/audit_events.hpp"
#include "api/owner_session.hpp"
#include "domain/grant.hpp"

namespace ap::api {

namespace {

// Whether a prune of `page` rows a statement may have left older ones: a full page of either.
bool MayHaveLeft(const store::ActivityStore::Pruned& pruned, int64_t page) {
  return pruned.rows >= page || pruned.token_uses >= page;
}

}  // namespace

Result<int64_t> PruneActivityBefore(store::ActivityStore& activity, UnixMillis before, int64_t page) {
  int64_t rows = 0;
  for (;;) {
    auto pruned = activity.PruneActivity(before, page);
    if (!pruned) return pruned.error();
    rows += pruned->rows;
    if (!MayHaveLeft(*pruned, page)) return rows;
  }
}

void RecordUpkeep::LogPruned(int64_t rows) const {
  if (rows > 0) spdlog::info("pruned {} activity rows older than {} days", rows, retention_days_);
}

Result<int64_t> RecordUpkeep::PruneActivity(UnixMillis now) {
  last_prune_ = now;
  auto pruned = PruneActivityBefore(store_.Activity(), RetainedFrom(now), activity_page_);
  if (pruned) LogPruned(*pruned);
  return pruned;
}

bool RecordUpkeep::PruneActivityPage(UnixMillis now) {
  if (!activity_left_) return false;
  auto pruned = store_.Activity().PruneActivity(RetainedFrom(now), activity_page_);
  if (!pruned) spdlog::error("activity not pruned: {}", pruned.error().message);  // the next prune tries again
  if (pruned) pruned_rows_ += pruned->rows;
  activity_left_ = pruned && MayHaveLeft(*pruned, activity_page_);
  if (activity_left_) return true;
  LogPruned(pruned_rows_);
  pruned_rows_ = 0;
  return false;
}

Result<int64_t> RecordUpkeep::PruneSessions(UnixSeconds now) {
  return store_.Identity().DeleteEndedSessions(now - kIdleSeconds, now - kAbsoluteSeconds);
}

void RecordUpkeep::PruneIfDue(UnixMillis now) {
  if (now - last_prune_ < kPruneEveryMillis) return;
  last_prune_ = now;
  activity_left_ = true;
  if (auto ended = PruneSessions(now / 1000); !ended)
    spdlog::error("ended sessions not deleted: {}", ended.error().message);
  if (auto tokens = PruneEndedTokens(now / 1000); !tokens)
    spdlog::error("ended OAuth codes and refresh tokens not deleted: {}", tokens.error().message);
  if (auto lapsed = PruneLapsedRequests(now / 1000); !lapsed)
    spdlog::error("requests nobody decided not deleted: {}", lapsed.error().message);
}

Result<int64_t> RecordUpkeep::PruneLapsedRequests(UnixSeconds now) {
  // One page a run (hourly): the store thread's other jobs, leases among them, wait for one page,
  // and a backlog goes at kLapsedPage an hour, far more than anyone may ask.
  auto deleted = store_.Grants().PruneLapsedRequests(now - retention_days_ * 86400, kLapsedPage);
  if (deleted && *deleted > 0)
    spdlog::info("deleted {} requests nobody decided, whose wait ended over {} days ago", *deleted, retention_days_);
  return deleted;
}

Result<int64_t> RecordUpkeep::PruneEndedTokens(UnixSeconds now) {
  return store_.OAuth().PruneEndedTokens(now - retention_days_ * 86400);
}

bool RecordUpkeep::AlreadyNoted(const std::string& grant_id, std::string_view kind) {
  auto last_of = [&](std::string_view k) -> int64_t {
    store::AuditQuery q;
    q.grant_id = grant_id;
    q.kind = std::string(k);
    q.limit = 1;
    auto found = store_.Audit().ListAudit(q);
    return found && !found->empty() ? found->front().seq : 0;
  };
  int64_t noted = last_of(kind);
  return noted > 0 && noted > last_of(audit_kind::kGrantLimitsChanged);
}

void RecordUpkeep::NoteGrantEnds(UnixSeconds now) {
  auto grants = store_.Grants().ListApprovedGrants();
  if (!grants) return spdlog::error("grant ends not noted: {}", grants.error().message);
  for (const auto& g : *grants) {
    store::GrantStatus status = domain::EffectiveStatus(g, now);
    if (status == store::GrantStatus::kExpired) {
      if (!expired_noted_.insert(g.id).second || AlreadyNoted(g.id, audit_kind::kGrantExpired)) continue;
      boost::json::object detail{{"expiredAt", FormatIso8601(g.expires_at.value_or(now))}};
      audit_.Record(GrantEvent(audit_kind::kGrantExpired, "broker", g, std::move(detail)));
    } else if (status == store::GrantStatus::kExhausted) {
      auto [it, fresh] = exhausted_noted_.try_emplace(g.id, g.version);
      if (!fresh && it->second == g.version) continue;
      it->second = g.version;
      if (AlreadyNoted(g.id, audit_kind::kGrantExhausted)) continue;
      boost::json::object detail{{"spentMicros", g.spent_micros + g.lost_micros},
                                 {"requests", g.usage_count + g.lost_requests}};
      if (g.budget_micros) detail["budgetMicros"] = *g.budget_micros;
      if (g.max_requests) detail["maxRequests"] = *g.max_requests;
      audit_.Record(GrantEvent(audit_kind::kGrantExhausted, "broker", g, std::move(detail)));
    }
  }
}

}  // namespace ap::api
