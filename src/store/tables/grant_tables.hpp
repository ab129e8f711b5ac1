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
  Result<std::vector<GrantRecord>> ListApprovedGrants() override;
  Result<GrantRecord> UpdateGrant(const GrantRecord& grant) override;
  Status AdoptOwnerlessGrants(std::string_view owner_id) override;
  Status CreateChildGrant(const GrantRequestRecord& request, const GrantRecord& child, ChildBounds bounds,
                          UnixSeconds now) override;
  Result<std::vector<std::string>> ListChildIds(std::string_view parent_id, int64_t limit) override;
  Result<std::vector<GrantRecord>> RevokeDescendants(std::string_view id, UnixSeconds now) override;
  Result<std::vector<GrantRecord>> EndDescendantsBy(std::string_view id, UnixSeconds ends_at) override;

 private:
  Status InsertRequest(const GrantRequestRecord& request);
  Status InsertGrant(const GrantRecord& grant);
  // Runs `sql` (an UPDATE of the grant's descendants RETURNING id) and tells the change feed of each.
  Result<std::vector<GrantRecord>> UpdateDescendants(const std::string& sql, std::string_view id, int64_t value);

  Connection& db_;
};

}  // namespace ap::store::tables
