#pragma once
// The IdentityStore on SQL (SQLite or PostgreSQL): the owners and sessions tables.
// Thread-safety: one thread at a time (the store worker).

#include "store/identity_store.hpp"
#include "store/sql/connection.hpp"

namespace ap::store::tables {

using sql::Connection;

class IdentityTables final : public IdentityStore {
 public:
  explicit IdentityTables(Connection& db) : db_(db) {}

  Status CreateOwner(const OwnerRecord& owner) override;
  Result<OwnerRecord> GetOwnerByName(std::string_view username) override;
  Result<OwnerRecord> GetOwner(std::string_view id) override;
  Result<std::vector<OwnerRecord>> ListOwners() override;
  Status SetOwnerPassword(std::string_view username, std::string_view password_hash) override;
  Result<RemovedOwner> DeleteOwner(std::string_view username) override;
  Status CreateSession(const SessionRecord& session, std::string_view checked_hash) override;
  Result<SessionRecord> GetSession(std::string_view id_hash) override;
  Status TouchSession(std::string_view id_hash, UnixSeconds now) override;
  Status DeleteSession(std::string_view id_hash) override;
  Result<int64_t> DeleteEndedSessions(UnixSeconds idle_before, UnixSeconds started_before) override;

 private:
  Result<OwnerRecord> OneOwner(const std::string& sql, std::string_view key);

  Connection& db_;
};

}  // namespace ap::store::tables
