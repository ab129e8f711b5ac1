#pragma once
// Keeps the record: drops activity older than its retention (and OAuth codes and refresh tokens
// that ended before it, and requests nobody decided whose wait ended before it), and writes to the audit trail the
// grants that ended on their own (an approved grant that expired, or whose budget or request cap
// is used up), which no request marks. With the activity, it drops the owners' ended sessions,
// whose cookies nobody presents again. Runs on the store thread.
// Thread-safety: one thread (the store thread).

#include <cstdint>
#include <string>
#include <unordered_map>
#include <unordered_set>

#include "core/time.hpp"
#include "record/record_writers.hpp"
#include "store/store.hpp"

namespace ap::api {

// Deletes the activity older than `before` (and the tokens last used before it), `page` rows a
// statement; returns how many rows went.
Result<int64_t> PruneActivityBefore(store::ActivityStore& activity, UnixMillis before, int64_t page);

class RecordUpkeep {
 public:
  // How often activity is pruned while the broker runs (and once at start).
  static constexpr int64_t kPruneEveryMillis = 3600 * 1000;
  // Activity rows (and token uses) deleted at most in one statement. While the broker serves, each
  // page is a job of the store thread's own (PruneActivityPage): a lease top-up queued meanwhile
  // waits for one page (some 10 ms), not for an hour's rows in one DELETE (360,000 took 1.2 s on
  // an idle core).
  static constexpr int64_t kActivityPage = 2000;
  // Lapsed requests deleted at most in a run, in one transaction.
  static constexpr int64_t kLapsedPage = 500;

  RecordUpkeep(store::Store& store, record::AuditLog& audit, int64_t retention_days,
               int64_t activity_page = kActivityPage)
      : store_(store), audit_(audit), retention_days_(retention_days), activity_page_(activity_page) {}

  // Deletes all the activity older than the retention, a page at a time (at start, before calls
  // come); returns how many rows went.
  Result<int64_t> PruneActivity(UnixMillis now);
  // Deletes the next page of the activity a prune begun by PruneIfDue has left; returns whether
  // there is more after it.
  bool PruneActivityPage(UnixMillis now);
  // Deletes the OAuth codes and refresh tokens that ended more than the retention ago (see
  // store::OAuthStore::PruneEndedTokens); returns how many went.
  Result<int64_t> PruneEndedTokens(UnixSeconds now);
  // Deletes the requests nobody decided whose wait ended more than the retention ago, the oldest
  // kLapsedPage of them (see store::GrantStore::PruneLapsedRequests); returns how many went.
  Result<int64_t> PruneLapsedRequests(UnixSeconds now);
  // Prunes ended sessions, ended tokens and lapsed requests, and begins pruning activity (see
  // PruneActivityPage), when kPruneEveryMillis has passed since the last time.
  void PruneIfDue(UnixMillis now);
  // Deletes the sessions that have ended (api::SessionEnded); returns how many went.
  Result<int64_t> PruneSessions(UnixSeconds now);
  // Notes each approved grant that has expired or is used up, once (again after its limits change).
  void NoteGrantEnds(UnixSeconds now);

 private:
  // Whether the trail already says `kind` of the grant since its limits last changed.
  bool AlreadyNoted(const std::string& grant_id, std::string_view kind);
  UnixMillis RetainedFrom(UnixMillis now) const { return now - retention_days_ * 86400 * 1000; }
  void LogPruned(int64_t rows) const;

  store::Store& store_;
  record::AuditLog& audit_;
  int64_t retention_days_;
  int64_t activity_page_;
  UnixMillis last_prune_ = 0;
  bool activity_left_ = false;  // a prune PruneActivityPage goes on with
  int64_t pruned_rows_ = 0;     // by that prune so far
  std::unordered_set<std::string> expired_noted_;
  std::unordered_map<std::string, int64_t> exhausted_noted_;  // grant -> its version when noted
};

}  // namespace ap::api
