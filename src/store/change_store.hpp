#pragma once
// The change feed: a durable, ordered list of what changed (a grant revoked, approved, denied,
// its limits edited), which every broker on the same database follows to refresh its caches.
// Writers append to it in the transaction that makes the change; followers read what came after
// the last change they saw. Methods block on I/O: call them on the store thread.
// Thread-safety: an implementation is used by one thread at a time.

#include <cstdint>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "core/time.hpp"

namespace ap::store {

struct ChangeRecord {
  int64_t seq = 0;      // increasing in the order the changes were committed
  UnixSeconds at = 0;
  std::string kind;     // "grant"
  std::string subject;  // what changed: the grant's id
};

class ChangeStore {
 public:
  virtual ~ChangeStore() = default;

  // The newest change's seq (0 when there is none): a follower starting now reads after it.
  virtual Result<int64_t> LastChange() = 0;
  // The oldest and the newest change kept (0 when there is none): a follower behind the oldest
  // missed some; one past the newest follows a feed that went back (the database restored from a
  // backup, or failed over to a replica that had not all of it), whose next changes reuse the
  // numbers it has seen. A feed that went back and then on past the follower holds another change
  // under the number of the one it read last (`seen`): `seen_kept` says whether that one is there
  // as it was.
  struct KeptSpan {
    int64_t first = 0;
    int64_t last = 0;
    bool seen_kept = false;
  };
  virtual Result<KeptSpan> KeptChanges(const ChangeRecord& seen) = 0;
  // Oldest first, at most `limit`, those after `after_seq`.
  virtual Result<std::vector<ChangeRecord>> ChangesAfter(int64_t after_seq, int64_t limit) = 0;
  // Forgets the oldest changes, up to the first one made in the last `keep_seconds` (by the
  // database's clock, which stamps them), and never the newest: only ever a run from the start, so
  // KeptChanges tells a follower whether it missed any.
  virtual Status PruneChanges(int64_t keep_seconds) = 0;
};

}  // namespace ap::store
