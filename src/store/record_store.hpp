#pragma once
// Where the owner's record is kept: one row per proxied call (activity) and the hash-chained audit
// trail (the chain itself is computed in record/; the store only keeps it, with its head).
// Methods block on I/O: call them on the store thread.
// Thread-safety: an implementation is used by one thread at a time.

#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.hpp"
#include "core/time.hpp"

namespace ap::store {

// One proxied call as the app saw it: never a prompt or an answer.
struct ActivityRecord {
  int64_t id = 0;  // set by the store
  UnixMillis at = 0;  // when the call came in
  std::string grant_id;
  std::string app_name;
  std::string owner_id;  // empty: the grant has no owner
  std::string provider;
  std::string model;
  std::string capability;
  int status = 0;  // the HTTP status the app got
  int64_t input_tokens = 0;
  int64_t output_tokens = 0;
  int64_t cached_input_tokens = 0;
  int64_t cost_micros = 0;
  int64_t latency_ms = 0;
  std::optional<int64_t> ttft_ms;  // streams: until the first event reached the app
  bool streamed = false;
  std::string refusal;  // the error type when the broker refused the call; empty otherwise
  // The access token the call presented (its jti and lifetime; empty when the call had none). Not
  // kept in the row: AddActivity folds it into the token's last use (TokenUseRecord).
  std::string token_id;
  std::string client_id;
  UnixSeconds token_issued_at = 0;
  UnixSeconds token_expires_at = 0;
};

// One access token's use, as the calls that presented it were recorded.
struct TokenUseRecord {
  std::string token_id;  // the jti
  std::string grant_id;
  std::string client_id;  // empty for tokens of the reference's flow
  UnixSeconds issued_at = 0;
  UnixSeconds expires_at = 0;
  UnixMillis first_used_at = 0;
  UnixMillis last_used_at = 0;
  int64_t calls = 0;
};

// Where a page of records ends: the next page starts after it.
struct RecordCursor {
  UnixMillis at = 0;
  int64_t id = 0;
};

struct ActivityQuery {
  std::optional<std::string> owner_id;  // only this owner's grants' calls
  std::optional<std::string> grant_id;
  std::optional<UnixMillis> from;  // at >= from
  std::optional<UnixMillis> to;    // at < to
  std::optional<std::string> app_name;
  std::optional<std::string> model;
  std::optional<int> status;
  std::optional<RecordCursor> after;  // newest first: rows older than this one
  // Instead of `after`: the `limit` rows just newer than this one, still listed newest first.
  std::optional<RecordCursor> before;
  int64_t limit = 100;
};

// The calls of one app with one model in one time bucket, summed.
struct ActivityTotal {
  UnixMillis bucket = 0;  // where the bucket starts
  std::string app_name;
  std::string model;          // empty when other_models
  bool other_models = false;  // the calls of every model past the named ones, together
  int64_t calls = 0;
  int64_t input_tokens = 0;
  int64_t output_tokens = 0;
  int64_t cost_micros = 0;
};

class ActivityStore {
 public:
  virtual ~ActivityStore() = default;
  // Inserts rows in one transaction, and in it notes each row's token as used at the row's time:
  // `slice` rows at a time, and after each slice but the last, `go_on()` says whether the next one
  // joins the transaction or the rows so far are committed. Returns how many rows it wrote. A grant
  // or owner new to the record is numbered first, in a short transaction of its own.
  virtual Result<size_t> AddActivityInSlices(std::span<const ActivityRecord> rows, size_t slice,
                                             const std::function<bool()>& go_on) = 0;
  // All the rows, in one transaction.
  Status AddActivity(std::span<const ActivityRecord> rows) {
    auto added = AddActivityInSlices(rows, rows.size(), [] { return true; });
    if (!added) return added.error();
    return {};
  }
  Status AddActivity(const std::vector<ActivityRecord>& rows) { return AddActivity(std::span(rows)); }
  // The grant's tokens that made calls, the latest used first, at most `limit`.
  virtual Result<std::vector<TokenUseRecord>> ListTokenUses(std::string_view grant_id, int64_t limit) = 0;
  // Newest first (by `at`, then by id), at most `query.limit` rows.
  virtual Result<std::vector<ActivityRecord>> ListActivity(const ActivityQuery& query) = 0;
  // The rows `query` selects (its cursor and limit aside), summed per app, model and bucket of
  // `bucket_ms` counted from `query.from` (which must be set); for the console's charts. Only the
  // `named_models` models that cost most (then were called most) are told apart: an app can name
  // any model in calls that are refused, and a sum per invented name would have no bound.
  virtual Result<std::vector<ActivityTotal>> SumActivity(const ActivityQuery& query, int64_t bucket_ms,
                                                         int64_t named_models) = 0;
  // What one prune deleted.
  struct Pruned {
    int64_t rows = 0;
    int64_t token_uses = 0;
  };
  // Deletes the `limit` oldest rows older than `before`, and `limit` of the tokens last used before
  // it, each in a statement of its own; fewer than `limit` of either: none older is left of it.
  virtual Result<Pruned> PruneActivity(UnixMillis before, int64_t limit) = 0;
};

// One link of the audit trail, as stored.
struct AuditRecord {
  int64_t seq = 0;
  UnixMillis at = 0;
  std::string owner_id;  // the owner it concerns; empty: none (the operator's broker)
  std::string actor;     // "owner:<name>", "admin-token", "app:<client or grant>", "cli", "broker"
  std::string kind;      // "grant.approved", ...
  std::string grant_id;  // empty: none
  std::string detail;    // JSON text
  std::string prev_hash;  // hex
  std::string hash;       // hex
};

// The last link's seq and hash, kept outside the audit table so that cutting its end shows;
// `mac` authenticates the pair (see record/audit_chain.hpp).
struct AuditHead {
  int64_t seq = 0;
  std::string hash;
  std::string mac;
};

struct AuditQuery {
  std::optional<std::string> owner_id;
  std::optional<std::string> kind;
  std::optional<std::string> grant_id;
  std::optional<UnixMillis> from;
  std::optional<UnixMillis> to;
  std::optional<int64_t> before_seq;  // newest first: records before this one
  std::optional<int64_t> after_seq;   // oldest first: records after this one
  int64_t limit = 100;                // 0: no limit
  bool oldest_first = false;
};

// Given the current head (none for an empty trail), the records that follow it and the new head.
using AuditLinker =
    std::function<Result<std::pair<std::vector<AuditRecord>, AuditHead>>(const std::optional<AuditHead>& head)>;

class AuditStore {
 public:
  virtual ~AuditStore() = default;
  // In one write transaction (so appends from several processes stay one chain): reads the head,
  // asks `link` for what follows it, writes the records and the new head.
  virtual Status AppendAudit(const AuditLinker& link) = 0;
  // By seq (newest first unless `oldest_first`).
  virtual Result<std::vector<AuditRecord>> ListAudit(const AuditQuery& query) = 0;
  virtual Result<std::optional<AuditHead>> GetAuditHead() = 0;
  // The whole trail, oldest first, and its head, as one consistent snapshot (appends made
  // meanwhile by a broker are in both or in neither).
  struct Trail {
    std::vector<AuditRecord> records;
    std::optional<AuditHead> head;
  };
  virtual Result<Trail> ReadTrail() = 0;
};

}  // namespace ap::store
