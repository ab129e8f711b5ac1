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

class RecordUpkeep {
 public:
  // How often activity is pruned while the broker runs (and once at start).
  static constexpr int64_t kPruneEveryMillis = 3600 * 1000;
  // Lapsed requests deleted at most in a run, in one transaction.
  static constexpr int64_t kLapsedPage = 500;

  RecordUpkeep(store::Store& store, record::AuditLog& audit, int64_t retention_days)
      : store_(store), audit_(audit), retention_days_(retention_days) {}

  // Deletes the activity older than the retention; returns how many rows went.
  Result<int64_t> PruneActivity(UnixMillis now);
  // Deletes the OAuth codes and refresh tokens that ended more than the retention ago (see
  // store::OAuthStore::PruneEndedTokens); returns how many went.
  Result<int64_t> PruneEndedTokens(UnixSeconds now);
  // Deletes the requests nobody decided whose wait ended more than the retention ago, the oldest
  // kLapsedPage of them (see store::GrantStore::PruneLapsedRequests); returns how many went.
  Result<int64_t> PruneLapsedRequests(UnixSeconds now);
  // Prunes activity, ended sessions, ended tokens and lapsed requests when kPruneEveryMillis has
  // passed since the last time.
  void PruneIfDue(UnixMillis now);
  // Deletes the sessions that have ended (api::SessionEnded); returns how many went.
  Result<int64_t> PruneSessions(UnixSeconds now);
  // Notes each approved grant that has expired or is used up, once (again after its limits change).
  void NoteGrantEnds(UnixSeconds now);

 private:
  // Whether the trail already says `kind` of the grant since its limits last changed.
  bool AlreadyNoted(const std::string& grant_id, std::string_view kind);

  store::Store& store_;
  record::AuditLog& audit_;
  int64_t retention_days_;
  UnixMillis last_prune_ = 0;
  std::unordered_set<std::string> expired_noted_;
  std::unordered_map<std::string, int64_t> exhausted_noted_;  // grant -> its version when noted
};

}  // namespace ap::api
