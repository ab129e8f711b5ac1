#include "store/tables/signing_key_tables.hpp"

#include "store/tables/change_tables.hpp"
#include "store/tables/key_tables.hpp"

namespace ap::store::tables {

using sql::kConstraint;
using sql::kDone;
using sql::kRow;
using sql::Query;

namespace {

// PostgreSQL: one writer of the ring at a time, so two brokers starting on an empty ring do not
// both see it empty. (SQLite's Begin already takes the database's write lock.)
const char* const kLockRing = "SELECT pg_advisory_xact_lock(7272003)";
const std::string kSelectKeys =
    "SELECT kid, public_jwk, sealed, wrapped_data_key, master_id, created_at FROM signing_keys "
    "ORDER BY created_at, kid";
const std::string kCountKeys = "SELECT COUNT(*) FROM signing_keys";
const std::string kNewest = "SELECT COALESCE(MAX(created_at), -1) FROM signing_keys";
const std::string kInsertKey =
    "INSERT INTO signing_keys (kid, public_jwk, sealed, wrapped_data_key, master_id, created_at) "
    "VALUES (?, ?, ?, ?, ?, ?)";
const std::string kRewrapKey =
    "UPDATE signing_keys SET wrapped_data_key = ?, master_id = ? WHERE kid = ? AND master_id = ?";
const std::string kCountOtherMasters = "SELECT COUNT(*) FROM signing_keys WHERE master_id <> ?";
const std::string kDeleteOtherKeys = "DELETE FROM signing_keys WHERE kid <> ?";

}  // namespace

Status RewrapSigningKeys(Connection& db, const std::vector<RewrappedKey>& keys, std::string_view old_master_id,
                         std::string_view new_master_id) {
  return RewrapRows(db, kRewrapKey, kCountOtherMasters, "signing keys", keys, old_master_id, new_master_id);
}

Status SigningKeyTables::Lock() {
  if (db_.dialect() != sql::Dialect::kPostgres) return {};
  return db_.Exec(kLockRing);
}

Status SigningKeyTables::Insert(const SigningKeyRecord& key) {
  if (auto ok = RequireMasterKey(db_, key.master_id); !ok) return ok;
  Query q(db_.Prepare(kInsertKey));
  q.Bind(key.kid).Bind(key.public_jwk).BindBlob(key.sealed).BindBlob(key.wrapped_data_key).Bind(key.master_id);
  q.Bind(key.created_at);
  int rc = q.Step();
  if (rc == kConstraint) return MakeError(Errc::kBadRequest, "a signing key with this kid exists already");
  if (rc != kDone) return db_.DbError("store signing key");
  return {};
}

Result<std::vector<SigningKeyRecord>> SigningKeyTables::ListSigningKeys() {
  Query q(db_.Prepare(kSelectKeys));
  std::vector<SigningKeyRecord> out;
  int rc;
  while ((rc = q.Step()) == kRow)
    out.push_back(SigningKeyRecord{q.Text(0), q.Text(1), q.Blob(2), q.Blob(3), q.Text(4), q.Int(5)});
  if (rc != kDone) return db_.DbError("list signing keys");
  return out;
}

Result<bool> SigningKeyTables::InitSigningKeys(const std::vector<SigningKeyRecord>& keys) {
  return db_.InTransaction([&]() -> Result<bool> {
    if (auto locked = Lock(); !locked) return locked.error();
    Query count(db_.Prepare(kCountKeys));
    if (count.Step() != kRow) return db_.DbError("count signing keys");
    if (count.Int(0) != 0) return false;
    for (const auto& key : keys)
      if (auto ok = Insert(key); !ok) return ok.error();
    return true;
  });
}

Status SigningKeyTables::AddSigningKey(const SigningKeyRecord& key, OlderKeys older) {
  return db_.InTransaction([&]() -> Status {
    if (auto locked = Lock(); !locked) return locked;
    // Keys are ordered by when they were made, and a new key must be the newest, or it could sign
    // before its publish delay has passed.
    Query newest(db_.Prepare(kNewest));
    if (newest.Step() != kRow) return db_.DbError("read the newest signing key");
    if (newest.Int(0) >= key.created_at)
      return MakeError(Errc::kUnavailable, "a signing key was added this very second; wait one and try again");
    if (auto ok = Insert(key); !ok) return ok;
    if (older == OlderKeys::kDrop) {
      Query drop(db_.Prepare(kDeleteOtherKeys));
      drop.Bind(key.kid);
      if (drop.Step() != kDone) return db_.DbError("drop the older signing keys");
    }
    return AppendChange(db_, "signing_keys", key.kid);
  });
}

}  // namespace ap::store::tables
