#include "store/tables/change_tables.hpp"

#include "store/postgres/change_listener.hpp"

namespace ap::store::tables {

using sql::kDone;
using sql::kRow;
using sql::Query;

namespace {

const char* const kLockChanges = "LOCK TABLE changes IN EXCLUSIVE MODE";  // PostgreSQL only
// PostgreSQL only: wakes the other brokers' followers when the change's transaction commits. The
// payload is the schema, so deployments sharing a database in schemas of their own ring only theirs.
const std::string kNotifyChange =
    std::string("SELECT pg_notify('") + postgres::kChangeChannel + "', COALESCE(current_schema(), ''))";
const std::string kInsertChange = "INSERT INTO changes (at, kind, subject) VALUES (?, ?, ?)";
const std::string kLastChange = "SELECT COALESCE(MAX(seq), 0) FROM changes";
const std::string kFirstChange = "SELECT COALESCE(MIN(seq), 0) FROM changes";
const std::string kChangesAfter = "SELECT seq, at, kind, subject FROM changes WHERE seq > ? ORDER BY seq LIMIT ?";
// The newest change is always kept: a follower that sees a first change past its own knows it
// missed some.
const std::string kPruneChanges =
    "DELETE FROM changes WHERE at < ? AND seq < (SELECT COALESCE(MAX(seq), 0) FROM changes)";

}  // namespace

Status AppendChange(Connection& db, std::string_view kind, std::string_view subject) {
  if (db.dialect() == sql::Dialect::kPostgres)
    if (auto locked = db.Exec(kLockChanges); !locked) return locked;
  Query q(db.Prepare(kInsertChange));
  q.Bind(SystemNow()).Bind(kind).Bind(subject);
  if (q.Step() != kDone) return db.DbError("record a change");
  if (db.dialect() == sql::Dialect::kPostgres) {
    Query notify(db.Prepare(kNotifyChange));
    if (notify.Step() != kRow) return db.DbError("announce a change");
  }
  return {};
}

Result<int64_t> ChangeTables::OneNumber(const std::string& sql, const char* what) {
  Query q(db_.Prepare(sql));
  if (q.Step() != kRow) return db_.DbError(what);
  return q.Int(0);
}

Result<int64_t> ChangeTables::LastChange() { return OneNumber(kLastChange, "read the last change"); }

Result<int64_t> ChangeTables::FirstChange() { return OneNumber(kFirstChange, "read the first change"); }

Result<std::vector<ChangeRecord>> ChangeTables::ChangesAfter(int64_t after_seq, int64_t limit) {
  Query q(db_.Prepare(kChangesAfter));
  q.Bind(after_seq).Bind(limit);
  std::vector<ChangeRecord> out;
  int rc;
  while ((rc = q.Step()) == kRow) out.push_back(ChangeRecord{q.Int(0), q.Int(1), q.Text(2), q.Text(3)});
  if (rc != kDone) return db_.DbError("read changes");
  return out;
}

Status ChangeTables::PruneChanges(UnixSeconds before) {
  Query q(db_.Prepare(kPruneChanges));
  q.Bind(before);
  if (q.Step() != kDone) return db_.DbError("prune changes");
  return {};
}

}  // namespace ap::store::tables
