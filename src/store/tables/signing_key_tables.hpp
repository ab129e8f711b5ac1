#pragma once
// The SigningKeyStore on SQL (SQLite or PostgreSQL): the signing_keys table.
// Thread-safety: one thread at a time (the store worker).

#include <string_view>
#include <vector>

#include "store/key_store.hpp"
#include "store/signing_key_store.hpp"
#include "store/sql/connection.hpp"

namespace ap::store::tables {

using sql::Connection;

// Inside the master key rotation's transaction (KeyTables::Rewrap): replaces the listed signing
// keys' wrapped data keys, wrapped under `old_master_id` until now; kBadRequest "changed
// concurrently" when a stored signing key is missing from `keys` or was wrapped otherwise.
Status RewrapSigningKeys(Connection& db, const std::vector<RewrappedKey>& keys, std::string_view old_master_id,
                         std::string_view new_master_id);

class SigningKeyTables final : public SigningKeyStore {
 public:
  explicit SigningKeyTables(Connection& db) : db_(db) {}

  Result<std::vector<SigningKeyRecord>> ListSigningKeys() override;
  Result<bool> InitSigningKeys(const std::vector<SigningKeyRecord>& keys) override;
  Status AddSigningKey(const SigningKeyRecord& key, OlderKeys older) override;

 private:
  Status Lock();
  Status Insert(const SigningKeyRecord& key);

  Connection& db_;
};

}  // namespace ap::store::tables
