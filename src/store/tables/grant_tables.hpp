#pragma once
// The GrantStore on SQL (SQLite or PostgreSQL): the grant_requests and grants tables.
// Thread-safety: one thread at a time (the store worker).

#include "store/grant_store.hpp"
#include "store/sql/connection.hpp"

namespace ap::store::tables {

using sql::Connection;

class GrantTables final : public GrantStore {
 public:
  explicit GrantTables(Connection& db) : db_(db) {}

  Status CreateGrantRequest(const GrantRequestRecord& request, const GrantRecord& grant) override;
  Result<GrantRecord> GetGrant(std::string_view id) override;
  Result<std::vector<GrantRecord>> ListGrantPage(const GrantQuery& query) override;
  Result<int64_t> CountWaitingUnverified(UnixSeconds made_after) override;
  Result<int64_t> CountWaitingUnverifiedFrom(std::string_view address, UnixSeconds made_after) override;
  Result<std::vector<GrantRecord>> ListApprovedGrants() override;
  Result<GrantRecord> UpdateGrant(const GrantRecord& grant) override;
  Status AdoptOwnerlessGrants(std::string_view owner_id) override;
  Result<int64_t> PruneLapsedRequests(UnixSeconds before, int64_t limit) override;
  Status CreateChildGrant(const GrantRequestRecord& request, const GrantRecord& child, ChildBounds bounds,
                          UnixSeconds now) override;
  Result<std::vector<std::string>> ListChildIds(std::string_view parent_id, int64_t limit) override;
  Result<std::vector<std::string>> ListLiveGrantsOfClient(std::string_view client_id, int64_t limit) override;
  Result<TreeChange> UpdateGrantTree(const GrantRecord& grant, SubtreeChange carry) override;
  // PostgreSQL: locks the grants' rows until the transaction ends, in id order (every writer that
  // locks several grants does so in this order, so none waits for another in a cycle). SQLite's
  // write transaction already excludes every other writer.
  Status LockInIdOrder(std::vector<std::string> ids);

 private:
  Status InsertRequest(const GrantRequestRecord& request);
  Status InsertGrant(const GrantRecord& grant);
  Result<GrantRecord> UpdateGrantInTransaction(const GrantRecord& grant);
  // The ids `sql` selects, given `of` and `limit`.
  Result<std::vector<std::string>> Ids(const std::string& sql, std::string_view of, int64_t limit, const char* what);
  // Runs `sql` (an UPDATE of the grant's descendants RETURNING id) and tells the change feed of each.
  Status UpdateDescendants(const std::string& sql, std::string_view id, int64_t value,
                           std::vector<GrantRecord>& changed);

  Connection& db_;
};

}  // namespace ap::store::tables
