#pragma once
// The KeyStore on SQL (SQLite or PostgreSQL): the provider_keys table and the vault's master key id
// setting. Every change to the keys is also a "keys" change in the change feed.
// Thread-safety: one thread at a time (the store worker).

#include "store/key_store.hpp"
#include "store/sql/connection.hpp"

namespace ap::store::tables {

// Records that the owners' keys changed, in the caller's transaction: every broker reloads its vault
// (at once through the change feed, or by the version).
Status BumpKeysVersion(sql::Connection& db);

using sql::Connection;

// Inside a transaction: records `master_id` as the vault's master key when none is recorded yet;
// kUnavailable when another one is (it was rotated), so nothing is sealed under a key the other
// brokers cannot open. On PostgreSQL the id stays locked to the end of the transaction.
Status RequireMasterKey(Connection& db, std::string_view master_id);

// Inside a master key rotation's transaction: sets each listed row's wrapped data key, wrapped under
// `old_master_id` until now (`rewrap_sql`: wrapped key, new master, id, old master), then checks with
// `count_others_sql` (new master) that no row is left under another; kBadRequest "the <what> changed
// concurrently" otherwise.
Status RewrapRows(Connection& db, const std::string& rewrap_sql, const std::string& count_others_sql, const char* what,
                  const std::vector<RewrappedKey>& keys, std::string_view old_master_id,
                  std::string_view new_master_id);

class KeyTables final : public KeyStore {
 public:
  explicit KeyTables(Connection& db) : db_(db) {}

  Result<std::optional<std::string>> PutKey(const ProviderKeyRecord& key) override;
  Result<std::vector<ProviderKeyRecord>> ListKeys(std::optional<std::string_view> owner_id) override;
  Result<ProviderKeyRecord> GetKey(std::string_view id) override;
  Status DeleteKey(std::string_view id) override;
  Status MarkKeysUsed(const std::vector<std::string>& ids, UnixSeconds at) override;
  Result<int64_t> Version() override;
  Result<std::optional<std::string>> MasterKeyId() override;
  Result<std::string> WrappedAuditKey(std::string_view wrapped_if_none, std::string_view master_id) override;
  Status Rewrap(const std::vector<RewrappedKey>& keys, const std::vector<RewrappedKey>& signing_keys,
                std::string_view audit_key, std::string_view old_master_id, std::string_view new_master_id) override;

 private:
  Status DeleteRow(std::string_view id);
  Result<int64_t> OwnersKeys(std::string_view owner_id);

  Connection& db_;
};

}  // namespace ap::store::tables
