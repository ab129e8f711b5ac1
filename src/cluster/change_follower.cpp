#include "cluster/change_follower.hpp"

#include <spdlog/spdlog.h>
#include <time.h>

#include <set>
#include <unordered_set>

#include "domain/grant.hpp"

namespace ap::cluster {
namespace {

constexpr int64_t kBatch = 1000;

constexpr int64_t kPruneEveryPolls = 300;

}  // namespace

int64_t ChangeFollower::BootNanos() {
  timespec now{};
  ::clock_gettime(CLOCK_BOOTTIME, &now);
  return int64_t{now.tv_sec} * 1000000000 + now.tv_nsec;
}

Status ChangeFollower::Start() {
  auto last = store_.Changes().LastChange();
  if (!last) return last.error();
  last_ = store::ChangeRecord{*last, 0, "", ""};
  // The change itself, so that the first poll can tell whether it is still there as it was.
  auto latest = store_.Changes().ChangesAfter(*last - 1, 1);
  if (!latest) return latest.error();
  if (!latest->empty() && latest->front().seq == *last) last_ = latest->front();
  caught_up_at_ = clock_();
  return {};
}

std::chrono::nanoseconds ChangeFollower::Behind() const {
  return std::chrono::nanoseconds(clock_() - caught_up_at_.load());
}

Status ChangeFollower::Apply(const store::ChangeRecord& change) {
  if (change.kind != "grant") return {};  // a kind this broker does not cache
  auto record = store_.Grants().GetGrant(change.subject);
  if (!record && record.error().code != Errc::kNotFound) return record.error();
  // What was leased under the old limits goes back before a call can see the new ones.
  if (on_grant_) on_grant_(change.subject);
  if (record)
    Keep(std::move(*record));
  else
    grants_.Forget(change.subject);  // a grant deleted is not served from memory
  return {};
}

void ChangeFollower::Keep(store::GrantRecord record) {
  std::string id = record.id;
  auto grant = domain::GrantFromRecord(std::move(record));
  if (grant)
    grants_.Put(std::move(*grant));
  else
    grants_.Forget(id);  // a grant that no longer parses is not served from memory
}

// Every grant the cache holds is read again: the approved ones in one query, the others one by one
// but for those revoked or denied, which stay so. None is dropped while it can be read, as a call
// in flight on a grant the cache does not hold is ended.
Status ChangeFollower::ReloadCached() {
  auto approved = store_.Grants().ListApprovedGrants();
  if (!approved) return approved.error();
  std::unordered_set<std::string> read;
  for (auto& record : *approved) {
    read.insert(record.id);
    Keep(std::move(record));
  }
  for (const auto& id : grants_.Ids()) {
    if (read.contains(id)) continue;
    if (auto cached = grants_.Find(id); cached && (cached->record.status == store::GrantStatus::kRevoked ||
                                                   cached->record.status == store::GrantStatus::kDenied))
      continue;
    auto record = store_.Grants().GetGrant(id);
    if (record)
      Keep(std::move(*record));
    else if (record.error().code == Errc::kNotFound)
      grants_.Forget(id);
    else
      return record.error();
  }
  return {};
}

Result<int64_t> ChangeFollower::Poll() {
  store::ChangeRecord seen_before = last_;
  std::set<std::string, std::less<>> hooked;
  int64_t applied = 0;
  auto run_hooks = [&] {
    for (const auto& kind : hooked) hooks_.find(kind)->second();
  };
  for (;;) {
    auto changes = store_.Changes().ChangesAfter(last_.seq, kBatch);
    if (!changes) {
      run_hooks();  // for the changes read before (a signing key dropped), not at the next poll
      return changes.error();
    }
    for (const auto& change : *changes) {
      if (auto done = Apply(change); !done) {
        run_hooks();
        return done.error();
      }
      if (hooks_.contains(change.kind)) hooked.insert(change.kind);
      last_ = change;
      ++applied;
    }
    if (static_cast<int64_t>(changes->size()) < kBatch) break;
  }
  // Read after the changes, so a prune by another broker in between cannot hide a gap.
  auto kept = store_.Changes().KeptChanges(seen_before);
  if (!kept) {
    run_hooks();
    return kept.error();
  }
  // Changes this broker never saw were pruned, or the feed went back (the database restored, or
  // failed over to a replica behind it): the next changes would reuse numbers it has seen, and be
  // skipped; or had reused them already, past the last one it saw, whose number now names another
  // change. Either way whatever it holds may be stale.
  bool missed = kept->first > seen_before.seq + 1;
  bool replaced = !seen_before.kind.empty() && seen_before.seq >= kept->first && !kept->seen_kept;
  bool went_back = kept->last < last_.seq || replaced;
  if (went_back) {
    spdlog::warn("the change feed went back from {} to {} (the database restored?): every grant held is read again",
                 last_.seq, kept->last);
    last_ = store::ChangeRecord{kept->last, 0, "", ""};
    grants_.NewTimeline();  // the grants' versions went back too
  }
  if (missed || went_back) {
    reload_pending_ = true;
    for (const auto& [kind, hook] : hooks_) hooked.insert(kind);
  }
  run_hooks();
  // Until its cache is read again (each poll tries), the broker is not caught up (CaughtUpWithin),
  // and its calls are refused.
  if (reload_pending_) {
    if (on_grant_) on_grant_({});  // what was leased under limits since changed goes back
    if (auto reloaded = ReloadCached(); !reloaded) return reloaded.error();
    reload_pending_ = false;
  }
  caught_up_at_ = clock_();
  // After the changes are read: a prune that fails (the change table held) holds up nothing.
  if (++polls_ % kPruneEveryPolls == 0)
    if (auto pruned = store_.Changes().PruneChanges(kKeepSeconds); !pruned)
      spdlog::warn("old changes not pruned: {}", pruned.error().message);
  return applied;
}

}  // namespace ap::cluster
