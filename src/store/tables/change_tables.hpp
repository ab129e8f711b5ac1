#pragma once
// The ChangeStore on SQL (SQLite or PostgreSQL): the changes table.
// Thread-safety: one thread at a time (the store worker).

#include <string_view>

#include "store/change_store.hpp"
#include "store/sql/connection.hpp"

namespace ap::store::tables {

using sql::Connection;

// Appends a change; call it inside the transaction that makes the change. On PostgreSQL it holds
// the changes table until commit, so changes commit in the order of their seq and a follower
// never reads past one that commits later.
Status AppendChange(Connection& db, std::string_view kind, std::string_view subject);

class ChangeTables final : public ChangeStore {
 public:
  explicit ChangeTables(Connection& db) : db_(db) {}

  Result<int64_t> LastChange() override;
  Result<KeptSpan> KeptChanges(const ChangeRecord& seen) override;
  Result<std::vector<ChangeRecord>> ChangesAfter(int64_t after_seq, int64_t limit) override;
  Status PruneChanges(int64_t keep_seconds) override;

 private:
  Connection& db_;
};

}  // namespace ap::store::tables
