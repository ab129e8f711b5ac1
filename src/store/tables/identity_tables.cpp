#include "store/tables/identity_tables.hpp"

#include "store/tables/change_tables.hpp"
#include "store/tables/key_tables.hpp"

namespace ap::store::tables {

using sql::kConstraint;
using sql::kDone;
using sql::kRow;
using sql::Query;
namespace {

const std::string kSelectOwners = "SELECT id, username, password_hash, created_at FROM owners";
const std::string kSelectOwnerByName = kSelectOwners + " WHERE username = ?";
const std::string kSelectOwnerById = kSelectOwners + " WHERE id = ?";
// A removed owner's row stays (their grants and record still name them) under a name no one can
// take or sign in with (usernames hold no ':'), without a password.
const std::string kRemovedPrefix = "removed:";
const std::string kSelectAllOwners = kSelectOwners + " WHERE username NOT LIKE 'removed:%' ORDER BY username";
const std::string kInsertOwner = "INSERT INTO owners (id, username, password_hash, created_at) VALUES (?, ?, ?, ?)";
const std::string kSetPassword = "UPDATE owners SET password_hash = ? WHERE id = ?";
const std::string kRetireOwner = "UPDATE owners SET username = ?, password_hash = '' WHERE id = ?";
// The grants it revokes are those it returns: one approved meanwhile by another broker is revoked
// and told of too (a separate read of them first would miss it under READ COMMITTED). A request
// still waiting that the owner's sign-in started is theirs too (Approve keeps it theirs, whoever
// decides it): left pending, the operator could approve it for the removed owner.
const std::string kRevokeGrantsOf =
    "UPDATE grants SET status = 'revoked', revoked_at = ?, version = version + 1 WHERE owner_id = ? "
    "AND status IN ('approved', 'pending') RETURNING id";
const std::string kDeleteKeysOf = "DELETE FROM provider_keys WHERE owner_id = ? RETURNING id, provider, label, hint";
const std::string kEndOwnerSessions = "DELETE FROM sessions WHERE owner_id = ?";
// A password change or removal waits for a session being created, then ends it; one before it is
// seen (PostgreSQL reads the row again once the lock is had; SQLite writes one at a time).
const std::string kOwnerHashForSession = "SELECT password_hash FROM owners WHERE id = ?";
const std::string kOwnerHashForSessionLocked = kOwnerHashForSession + " FOR SHARE";
const std::string kInsertSession =
    "INSERT INTO sessions (id_hash, owner_id, csrf_token, created_at, last_seen_at) VALUES (?, ?, ?, ?, ?)";
const std::string kSelectSession =
    "SELECT id_hash, owner_id, csrf_token, created_at, last_seen_at FROM sessions WHERE id_hash = ?";
const std::string kTouchSession = "UPDATE sessions SET last_seen_at = ? WHERE id_hash = ?";
const std::string kDeleteSession = "DELETE FROM sessions WHERE id_hash = ?";
const std::string kDeleteEndedSessions = "DELETE FROM sessions WHERE last_seen_at < ? OR created_at < ?";

}  // namespace

Result<OwnerRecord> IdentityTables::OneOwner(const std::string& sql, std::string_view key) {
  Query q(db_.Prepare(sql));
  q.Bind(key);
  int rc = q.Step();
  if (rc == kDone) return MakeError(Errc::kNotFound, "No such owner");
  if (rc != kRow) return db_.DbError("read owner");
  return OwnerRecord{q.Text(0), q.Text(1), q.Text(2), q.Int(3)};
}

Status IdentityTables::CreateOwner(const OwnerRecord& o) {
  Query q(db_.Prepare(kInsertOwner));
  q.Bind(o.id).Bind(o.username).Bind(o.password_hash).Bind(o.created_at);
  int rc = q.Step();
  if (rc == kConstraint) return MakeError(Errc::kBadRequest, "Owner '" + o.username + "' already exists");
  if (rc != kDone) return db_.DbError("create owner");
  return {};
}

Result<OwnerRecord> IdentityTables::GetOwnerByName(std::string_view username) {
  return OneOwner(kSelectOwnerByName, username);
}

Result<OwnerRecord> IdentityTables::GetOwner(std::string_view id) { return OneOwner(kSelectOwnerById, id); }

Result<std::vector<OwnerRecord>> IdentityTables::ListOwners() {
  Query q(db_.Prepare(kSelectAllOwners));
  std::vector<OwnerRecord> owners;
  int rc;
  while ((rc = q.Step()) == kRow) owners.push_back(OwnerRecord{q.Text(0), q.Text(1), q.Text(2), q.Int(3)});
  if (rc != kDone) return db_.DbError("list owners");
  return owners;
}

Status IdentityTables::SetOwnerPassword(std::string_view username, std::string_view password_hash) {
  auto owner = GetOwnerByName(username);
  if (!owner) return owner.error();
  return db_.InTransaction([&]() -> Status {
    Query set(db_.Prepare(kSetPassword));
    set.Bind(password_hash).Bind(owner->id);
    Query end(db_.Prepare(kEndOwnerSessions));
    end.Bind(owner->id);
    if (set.Step() != kDone || end.Step() != kDone) return db_.DbError("set password");
    return {};
  });
}

Result<IdentityStore::RemovedOwner> IdentityTables::DeleteOwner(std::string_view username) {
  auto owner = GetOwnerByName(username);
  if (!owner) return owner.error();
  return db_.InTransaction([&]() -> Result<RemovedOwner> {
    // Twice: on PostgreSQL the first statement may wait for a delegation that holds a parent's row
    // and then commits a child, which that statement's snapshot does not hold; the second one's
    // does. A delegation after the first waits for this transaction, then finds its parent revoked.
    RemovedOwner removed;
    std::vector<std::string>& revoked = removed.revoked_grant_ids;
    for (int pass = 0; pass < 2; ++pass) {
      Query revoke(db_.Prepare(kRevokeGrantsOf));
      revoke.Bind(SystemNow()).Bind(owner->id);
      int rc;
      while ((rc = revoke.Step()) == kRow) revoked.push_back(revoke.Text(0));
      if (rc != kDone) return db_.DbError("remove owner");
    }
    for (const auto& id : revoked)
      if (auto told = AppendChange(db_, "grant", id); !told) return told.error();
    {
      Query keys(db_.Prepare(kDeleteKeysOf));
      keys.Bind(owner->id);
      int rc;
      while ((rc = keys.Step()) == kRow)
        removed.deleted_keys.push_back(
            ProviderKeyRecord{keys.Text(0), owner->id, keys.Text(1), keys.Text(2), keys.Text(3), "", "", "", 0, {}});
      if (rc != kDone) return db_.DbError("remove owner");
    }
    if (!removed.deleted_keys.empty())
      if (auto bumped = BumpKeysVersion(db_); !bumped) return bumped.error();
    Query end(db_.Prepare(kEndOwnerSessions));
    end.Bind(owner->id);
    Query retire(db_.Prepare(kRetireOwner));
    retire.Bind(kRemovedPrefix + owner->id).Bind(owner->id);
    if (end.Step() != kDone || retire.Step() != kDone) return db_.DbError("remove owner");
    return removed;
  });
}

Status IdentityTables::CreateSession(const SessionRecord& s, std::string_view checked_hash) {
  return db_.InTransaction([&]() -> Status {
    bool postgres = db_.dialect() == sql::Dialect::kPostgres;
    Query owner(db_.Prepare(postgres ? kOwnerHashForSessionLocked : kOwnerHashForSession));
    owner.Bind(s.owner_id);
    int rc = owner.Step();
    if (rc != kRow && rc != kDone) return db_.DbError("create session");
    if (rc == kDone || owner.Text(0).empty() || owner.Text(0) != checked_hash)
      return MakeError(Errc::kUnauthorized, "Your password was changed while you were signing in. Sign in again.");
    Query q(db_.Prepare(kInsertSession));
    q.Bind(s.id_hash).Bind(s.owner_id).Bind(s.csrf_token).Bind(s.created_at).Bind(s.last_seen_at);
    if (q.Step() != kDone) return db_.DbError("create session");
    return {};
  });
}

Result<SessionRecord> IdentityTables::GetSession(std::string_view id_hash) {
  Query q(db_.Prepare(kSelectSession));
  q.Bind(id_hash);
  int rc = q.Step();
  if (rc == kDone) return MakeError(Errc::kNotFound, "No such session");
  if (rc != kRow) return db_.DbError("read session");
  return SessionRecord{q.Text(0), q.Text(1), q.Text(2), q.Int(3), q.Int(4)};
}

Status IdentityTables::TouchSession(std::string_view id_hash, UnixSeconds now) {
  Query q(db_.Prepare(kTouchSession));
  q.Bind(now).Bind(id_hash);
  if (q.Step() != kDone) return db_.DbError("touch session");
  return {};
}

Status IdentityTables::DeleteSession(std::string_view id_hash) {
  Query q(db_.Prepare(kDeleteSession));
  q.Bind(id_hash);
  if (q.Step() != kDone) return db_.DbError("end session");
  return {};
}

Result<int64_t> IdentityTables::DeleteEndedSessions(UnixSeconds idle_before, UnixSeconds started_before) {
  Query q(db_.Prepare(kDeleteEndedSessions));
  q.Bind(idle_before).Bind(started_before);
  if (q.Step() != kDone) return db_.DbError("delete ended sessions");
  return db_.Changes();
}

}  // namespace ap::store::tables
