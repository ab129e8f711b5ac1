#include "store/tables/key_tables.hpp"

#include "core/base64url.hpp"
#include "store/tables/change_tables.hpp"
#include "store/tables/signing_key_tables.hpp"

namespace ap::store::tables {

using sql::kConstraint;
using sql::kDone;
using sql::kRow;
using sql::Query;
namespace {

constexpr const char* kKeyColumns =
    "id, owner_id, provider, label, hint, sealed, wrapped_data_key, master_id, created_at, last_used_at";
const std::string kSelectKeys = std::string("SELECT ") + kKeyColumns + " FROM provider_keys";
const std::string kSelectKey = kSelectKeys + " WHERE id = ?";
const std::string kSelectAllKeys = kSelectKeys + " ORDER BY owner_id, provider, label";
const std::string kSelectOwnerKeys = kSelectKeys + " WHERE owner_id = ? ORDER BY provider, label";
const std::string kInsertKey = std::string("INSERT INTO provider_keys (") + kKeyColumns +
                               ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)";
const std::string kFindLabel = "SELECT id FROM provider_keys WHERE owner_id = ? AND provider = ? AND label = ?";
const std::string kDeleteKey = "DELETE FROM provider_keys WHERE id = ?";
const std::string kCountOwnerKeys = "SELECT COUNT(*) FROM provider_keys WHERE owner_id = ?";
const std::string kMarkUsed =
    "UPDATE provider_keys SET last_used_at = ? WHERE id = ? AND (last_used_at IS NULL OR last_used_at < ?)";
const std::string kGetMaster = "SELECT value FROM settings WHERE key = 'vault.master_id'";
// PostgreSQL: the master key id's row stays locked to the end of the transaction that checked it, so
// that a key sealed under the id it read and a rotation of that id come one after the other. Without
// it, a rotation could count the keys before one being added under the old id was committed, and
// leave it sealed under a master key the brokers no longer hold. (SQLite's writers take the database
// one at a time: BEGIN IMMEDIATE.)
const std::string kLockMaster = kGetMaster + " FOR UPDATE";
const std::string kSetMaster =
    "INSERT INTO settings (key, value) VALUES ('vault.master_id', ?) "
    "ON CONFLICT (key) DO UPDATE SET value = excluded.value";
const std::string kRewrapKey =
    "UPDATE provider_keys SET wrapped_data_key = ?, master_id = ? WHERE id = ? AND master_id = ?";
const std::string kGetVersion = "SELECT CAST(value AS INTEGER) FROM settings WHERE key = 'vault.version'";
const std::string kBumpVersion =
    "INSERT INTO settings (key, value) VALUES ('vault.version', '1') "
    "ON CONFLICT (key) DO UPDATE SET value = CAST(CAST(settings.value AS BIGINT) + 1 AS TEXT)";
const std::string kAddAuditKey = "INSERT INTO settings (key, value) VALUES ('vault.audit_key', ?) ON CONFLICT DO NOTHING";
const std::string kGetAuditKey = "SELECT value FROM settings WHERE key = 'vault.audit_key'";
const std::string kSetAuditKey = "UPDATE settings SET value = ? WHERE key = 'vault.audit_key'";
const std::string kCountOtherMasters = "SELECT COUNT(*) FROM provider_keys WHERE master_id <> ?";

ProviderKeyRecord ReadKey(const Query& q) {
  return ProviderKeyRecord{q.Text(0), q.Text(1), q.Text(2), q.Text(3),
                           q.Text(4), q.Blob(5), q.Blob(6), q.Text(7), q.Int(8), q.OptInt(9)};
}

// `lock`: in a transaction that writes what depends on the id (see kLockMaster).
Result<std::optional<std::string>> StoredMaster(Connection& db, bool lock) {
  Query q(db.Prepare(lock && db.dialect() == sql::Dialect::kPostgres ? kLockMaster : kGetMaster));
  int rc = q.Step();
  if (rc == kDone) return std::optional<std::string>();
  if (rc != kRow) return db.DbError("read the master key id");
  return std::optional<std::string>(q.Text(0));
}

Status SetMaster(Connection& db, std::string_view master_id) {
  Query q(db.Prepare(kSetMaster));
  q.Bind(master_id);
  if (q.Step() != kDone) return db.DbError("record the master key id");
  return {};
}

}  // namespace

Status RequireMasterKey(Connection& db, std::string_view master_id) {
  auto current = StoredMaster(db, true);
  if (!current) return current.error();
  if (!*current) return SetMaster(db, master_id);
  if (**current != master_id)
    return MakeError(Errc::kUnavailable,
                     "the vault's master key was rotated: restart this broker with the new master key");
  return {};
}

Status BumpKeysVersion(Connection& db) {
  // The changes table before the version's row, as every transaction that makes a change takes
  // them (removing an owner bumps the version after its grants' changes): no two wait on each other.
  if (auto told = AppendChange(db, "keys", ""); !told) return told;
  Query q(db.Prepare(kBumpVersion));
  if (q.Step() != kDone) return db.DbError("record a key change");
  return {};
}

Result<int64_t> KeyTables::Version() {
  Query q(db_.Prepare(kGetVersion));
  int rc = q.Step();
  if (rc == kDone) return int64_t{0};
  if (rc != kRow) return db_.DbError("read the keys' version");
  return q.Int(0);
}

Result<std::optional<std::string>> KeyTables::PutKey(const ProviderKeyRecord& key) {
  return db_.InTransaction([&]() -> Result<std::optional<std::string>> {
    if (auto ok = RequireMasterKey(db_, key.master_id); !ok) return ok.error();
    std::optional<std::string> replaced;
    {
      Query find(db_.Prepare(kFindLabel));
      find.Bind(key.owner_id).Bind(key.provider).Bind(key.label);
      int rc = find.Step();
      if (rc == kRow) replaced = find.Text(0);
      else if (rc != kDone) return db_.DbError("find key");
    }
    if (replaced) {
      if (auto gone = DeleteRow(*replaced); !gone) return gone.error();
    } else if (auto held = OwnersKeys(key.owner_id); !held) {
      return held.error();
    } else if (*held >= kMaxKeysPerOwner) {
      return FieldInvalid("label",
                          "You have " + std::to_string(kMaxKeysPerOwner) +
                              " keys, the most an owner may keep; remove one first, or replace one by its label");
    }
    Query q(db_.Prepare(kInsertKey));
    q.Bind(key.id).Bind(key.owner_id).Bind(key.provider).Bind(key.label).Bind(key.hint);
    q.BindBlob(key.sealed).BindBlob(key.wrapped_data_key).Bind(key.master_id).Bind(key.created_at);
    q.Bind(key.last_used_at);
    if (q.Step() != kDone) return db_.DbError("insert key");
    if (auto bumped = BumpKeysVersion(db_); !bumped) return bumped.error();
    return replaced;
  });
}

Result<int64_t> KeyTables::OwnersKeys(std::string_view owner_id) {
  Query q(db_.Prepare(kCountOwnerKeys));
  q.Bind(owner_id);
  if (q.Step() != kRow) return db_.DbError("count keys");
  return q.Int(0);
}

Result<std::vector<ProviderKeyRecord>> KeyTables::ListKeys(std::optional<std::string_view> owner_id) {
  Query q(db_.Prepare(owner_id ? kSelectOwnerKeys : kSelectAllKeys));
  if (owner_id) q.Bind(*owner_id);
  std::vector<ProviderKeyRecord> out;
  int rc;
  while ((rc = q.Step()) == kRow) out.push_back(ReadKey(q));
  if (rc != kDone) return db_.DbError("list keys");
  return out;
}

Result<ProviderKeyRecord> KeyTables::GetKey(std::string_view id) {
  Query q(db_.Prepare(kSelectKey));
  q.Bind(id);
  int rc = q.Step();
  if (rc == kDone) return MakeError(Errc::kNotFound, "Key not found");
  if (rc != kRow) return db_.DbError("read key");
  return ReadKey(q);
}

Status KeyTables::DeleteKey(std::string_view id) {
  return db_.InTransaction([&]() -> Status { return DeleteRow(id); });
}

Status KeyTables::DeleteRow(std::string_view id) {
  {
    Query q(db_.Prepare(kDeleteKey));
    q.Bind(id);
    if (q.Step() != kDone) return db_.DbError("delete key");
    if (db_.Changes() == 0) return MakeError(Errc::kNotFound, "Key not found");
  }
  return BumpKeysVersion(db_);
}

Status KeyTables::MarkKeysUsed(const std::vector<std::string>& ids, UnixSeconds at) {
  return db_.InTransaction([&]() -> Status {
    for (const auto& id : ids) {
      Query q(db_.Prepare(kMarkUsed));
      q.Bind(at).Bind(id).Bind(at);
      if (q.Step() != kDone) return db_.DbError("mark key used");
    }
    return {};
  });
}

Result<std::optional<std::string>> KeyTables::MasterKeyId() { return StoredMaster(db_, false); }

Result<std::string> KeyTables::WrappedAuditKey(std::string_view wrapped_if_none, std::string_view master_id) {
  return db_.InTransaction([&]() -> Result<std::string> {
    if (auto ok = RequireMasterKey(db_, master_id); !ok) return ok.error();
    {
      Query add(db_.Prepare(kAddAuditKey));
      add.Bind(Base64UrlEncode(wrapped_if_none));
      if (add.Step() != kDone) return db_.DbError("store the audit key");
    }
    Query q(db_.Prepare(kGetAuditKey));
    if (q.Step() != kRow) return db_.DbError("read the audit key");
    auto bytes = Base64UrlDecode(q.Text(0));
    if (!bytes) return MakeError(Errc::kInternal, "the stored audit key is damaged");
    return std::move(*bytes);
  });
}

Status RewrapRows(Connection& db, const std::string& rewrap_sql, const std::string& count_others_sql, const char* what,
                  const std::vector<RewrappedKey>& keys, std::string_view old_master_id,
                  std::string_view new_master_id) {
  auto changed = [what] {
    return MakeError(Errc::kUnavailable, std::string("the ") + what + " changed concurrently; try again");
  };
  for (const auto& key : keys) {
    Query q(db.Prepare(rewrap_sql));
    q.BindBlob(key.wrapped_data_key).Bind(new_master_id).Bind(key.id).Bind(old_master_id);
    if (q.Step() != kDone) return db.DbError("rewrap a key");
    if (db.Changes() != 1) return changed();
  }
  Query count(db.Prepare(count_others_sql));
  count.Bind(new_master_id);
  if (count.Step() != kRow) return db.DbError("count keys");
  if (count.Int(0) != 0) return changed();
  return {};
}

Status KeyTables::Rewrap(const std::vector<RewrappedKey>& keys, const std::vector<RewrappedKey>& signing_keys,
                         std::string_view audit_key, std::string_view old_master_id, std::string_view new_master_id) {
  return db_.InTransaction([&]() -> Status {
    auto current = StoredMaster(db_, true);
    if (!current) return current.error();
    if (*current && **current != old_master_id)
      return MakeError(Errc::kUnavailable, "the keys changed concurrently; try again");
    if (auto ok = RewrapRows(db_, kRewrapKey, kCountOtherMasters, "keys", keys, old_master_id, new_master_id); !ok)
      return ok;
    if (auto ok = RewrapSigningKeys(db_, signing_keys, old_master_id, new_master_id); !ok) return ok;
    if (!audit_key.empty()) {
      Query set(db_.Prepare(kSetAuditKey));
      set.Bind(Base64UrlEncode(audit_key));
      if (set.Step() != kDone) return db_.DbError("rewrap the audit key");
    }
    if (auto bumped = BumpKeysVersion(db_); !bumped) return bumped;
    return SetMaster(db_, new_master_id);
  });
}

}  // namespace ap::store::tables
