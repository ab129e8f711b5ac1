#include "store/tables/change_tables.hpp"

#include "store/postgres/change_listener.hpp"
#include "store/postgres/connection.hpp"

namespace ap::store::tables {

using sql::kDone;
using sql::kRow;
using sql::Query;

namespace {

// PostgreSQL only. The changes table is held from here to commit, by every transaction that makes a
// change; one held by a broker stalled mid-transaction is waited for 2 s, not the session's 5 s, as
// the store thread that waits runs that broker's leases and heartbeats too. And such a transaction
// is ended by PostgreSQL once it has waited 5 s on its broker (stopped, frozen, cut off), not the
// session's 60 s: every other broker's changes (revocations) wait on it meanwhile. A broker that
// is not stalled sends its next statement within microseconds. One round trip.
const char* const kLockChanges =
    "SET LOCAL lock_timeout = '2s'; SET LOCAL idle_in_transaction_session_timeout = '5s'; "
    "LOCK TABLE changes IN EXCLUSIVE MODE; SET LOCAL lock_timeout = " AP_SESSION_LOCK_WAIT;
const char* const kPruneLockWait = "SET LOCAL lock_timeout = '2s'";
// PostgreSQL only: wakes the other brokers' followers when the change's transaction commits. The
// payload is the schema, so deployments sharing a database in schemas of their own ring only theirs.
const std::string kNotifyChange =
    std::string("SELECT pg_notify('") + postgres::kChangeChannel + "', COALESCE(current_schema(), ''))";
// Stamped with the database's clock, which every writer (any broker, the CLI on any host) reads alike.
std::string InsertChange(const char* now) {
  return std::string("INSERT INTO changes (at, kind, subject) VALUES (") + now + ", ?, ?)";
}
const std::string kInsertChangeSqlite = InsertChange(sql::kSqliteUnixNow);
const std::string kInsertChangePostgres = InsertChange(sql::kPostgresUnixNow);
const std::string kLastChange = "SELECT COALESCE(MAX(seq), 0) FROM changes";
const std::string kKeptChanges =
    "SELECT COALESCE(MIN(seq), 0), COALESCE(MAX(seq), 0), "
    "(SELECT COUNT(*) FROM changes WHERE seq = ? AND at = ? AND kind = ? AND subject = ?) FROM changes";
const std::string kChangesAfter = "SELECT seq, at, kind, subject FROM changes WHERE seq > ? ORDER BY seq LIMIT ?";
// Only a run of the oldest changes goes, up to the first one made in the seconds kept, and never the
// newest: a follower whose next change is gone finds the first one kept past it, and knows it
// missed some. (Deleting by time alone could take a change stamped early from between two kept
// ones, and no follower would know.)
// Kept `?` seconds by the database's clock, as the changes are stamped.
std::string PruneChanges(const char* now) {
  return std::string("DELETE FROM changes WHERE seq < COALESCE((SELECT MIN(seq) FROM changes WHERE at >= ") + now +
         " - ?), (SELECT MAX(seq) FROM changes))";
}
const std::string kPruneChangesSqlite = PruneChanges(sql::kSqliteUnixNow);
const std::string kPruneChangesPostgres = PruneChanges(sql::kPostgresUnixNow);

}  // namespace

Status AppendChange(Connection& db, std::string_view kind, std::string_view subject) {
  bool postgres = db.dialect() == sql::Dialect::kPostgres;
  if (postgres)
    if (auto locked = db.Exec(kLockChanges); !locked) return locked;
  Query q(db.Prepare(postgres ? kInsertChangePostgres : kInsertChangeSqlite));
  q.Bind(kind).Bind(subject);
  if (q.Step() != kDone) return db.DbError("record a change");
  if (postgres) {
    Query notify(db.Prepare(kNotifyChange));
    if (notify.Step() != kRow) return db.DbError("announce a change");
  }
  return {};
}

Result<int64_t> ChangeTables::LastChange() {
  Query q(db_.Prepare(kLastChange));
  if (q.Step() != kRow) return db_.DbError("read the last change");
  return q.Int(0);
}

Result<ChangeStore::KeptSpan> ChangeTables::KeptChanges(const ChangeRecord& seen) {
  Query q(db_.Prepare(kKeptChanges));
  q.Bind(seen.seq).Bind(seen.at).Bind(seen.kind).Bind(seen.subject);
  if (q.Step() != kRow) return db_.DbError("read the kept changes");
  return KeptSpan{q.Int(0), q.Int(1), q.Int(2) > 0};
}

Result<std::vector<ChangeRecord>> ChangeTables::ChangesAfter(int64_t after_seq, int64_t limit) {
  Query q(db_.Prepare(kChangesAfter));
  q.Bind(after_seq).Bind(limit);
  std::vector<ChangeRecord> out;
  int rc;
  while ((rc = q.Step()) == kRow) out.push_back(ChangeRecord{q.Int(0), q.Int(1), q.Text(2), q.Text(3)});
  if (rc != kDone) return db_.DbError("read changes");
  return out;
}

Status ChangeTables::PruneChanges(int64_t keep_seconds) {
  bool postgres = db_.dialect() == sql::Dialect::kPostgres;
  return db_.InTransaction([&]() -> Status {
    // A change table held by a stalled broker's transaction is not waited for long: pruning can wait.
    if (postgres)
      if (auto brief = db_.Exec(kPruneLockWait); !brief) return brief;
    Query q(db_.Prepare(postgres ? kPruneChangesPostgres : kPruneChangesSqlite));
    q.Bind(keep_seconds);
    if (q.Step() != kDone) return db_.DbError("prune changes");
    return {};
  });
}

}  // namespace ap::store::tables
