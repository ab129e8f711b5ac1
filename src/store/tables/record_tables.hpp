#pragma once
// The SQLite ActivityStore and AuditStore: the activity and audit tables, and the audit head kept
// in the settings table.
// Thread-safety: one thread at a time (the store worker).

#include <functional>
#include <optional>
#include <string>
#include <unordered_map>

#include "store/record_store.hpp"
#include "store/sql/connection.hpp"

namespace ap::store::tables {

using sql::Connection;

class ActivityTables final : public ActivityStore {
 public:
  explicit ActivityTables(Connection& db) : db_(db) {}

  Result<size_t> AddActivityInSlices(std::span<const ActivityRecord> rows, size_t slice,
                                     const std::function<bool()>& go_on) override;
  Result<std::vector<ActivityRecord>> ListActivity(const ActivityQuery& query) override;
  Result<std::vector<TokenUseRecord>> ListTokenUses(std::string_view grant_id, int64_t limit) override;
  Result<std::vector<ActivityTotal>> SumActivity(const ActivityQuery& query, int64_t bucket_ms,
                                                 int64_t named_models) override;
  Result<Pruned> PruneActivity(UnixMillis before, int64_t limit) override;

 private:
  // The number activity_ids maps `id` to, if any: kept in numbers_, or read (and kept).
  Result<std::optional<int64_t>> NumberOf(const std::string& id);
  // The number activity_ids maps `id` to, which must be there.
  Result<int64_t> Numbered(const std::string& id);
  // Adds `id` to activity_ids unless it is there.
  Status AddNumber(const std::string& id);
  // Makes sure every id of `rows` not kept in numbers_ has a number.
  Status NumberNewIds(std::span<const ActivityRecord> rows);
  // The rows in one transaction, as AddActivityInSlices; `renumber` set when it found the connection
  // made again since their ids were numbered.
  Result<size_t> WriteActivity(std::span<const ActivityRecord> rows, size_t slice, const std::function<bool()>& go_on,
                               bool& renumber);
  // Inside the caller's transaction: the rows (whose ids are numbered), and their tokens' uses.
  Status InsertRows(std::span<const ActivityRecord> rows);
  Status TouchTokens(std::span<const ActivityRecord> rows);

  // Numbers already read, so that a busy grant's rows cost no lookup; forgotten all at once when
  // this many are kept.
  static constexpr size_t kMaxNumbersKept = 100000;

  Connection& db_;
  std::unordered_map<std::string, int64_t> numbers_;
  uint64_t numbered_on_ = 0;  // the connection's Reconnects() when numbers_ was read
  // InsertRows' values, kept from one slice to the next: a slice of 250 rows binds some 190 KB of
  // them, which the allocator otherwise maps anew (page faults on the store thread) every slice.
  sql::Values rows_values_;
};

class AuditTables final : public AuditStore {
 public:
  explicit AuditTables(Connection& db) : db_(db) {}

  Status AppendAudit(const AuditLinker& link) override;
  Result<std::vector<AuditRecord>> ListAudit(const AuditQuery& query) override;
  Result<std::optional<AuditHead>> GetAuditHead() override;
  Result<Trail> ReadTrail() override;

 private:
  Status AppendAuditInTransaction(const AuditLinker& link);

  Connection& db_;
};

}  // namespace ap::store::tables
