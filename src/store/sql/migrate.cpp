#include "store/sql/migrate.hpp"

#include "core/time.hpp"
#include "store/postgres/connection.hpp"  // AP_SESSION_LOCK_WAIT

namespace ap::store::sql {
namespace {

const char* const kCreateVersions =
    "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY, description TEXT NOT NULL, "
    "applied_at BIGINT NOT NULL)";
const char* const kLockMigrations = "SELECT pg_advisory_xact_lock(7272001)";  // PostgreSQL: one migrator at a time
// PostgreSQL: a migration is not held to the session's bounds on a call's statements (a lock
// waited for 5 s, a statement run for 60): a broker starting beside another that migrates waits
// its turn (for the lock below) rather than fail, and a migration that rewrites a large table
// runs to its end, or it would fail at every start. Within the transaction only.
const char* const kUnboundMigration = "SET LOCAL lock_timeout = '15min'; SET LOCAL statement_timeout = 0";
// Once its turn came: its statements wait for a table's lock no longer than a call's do, since
// every other session's statements on that table queue behind one that waits.
const char* const kBoundLockWaits = "SET LOCAL lock_timeout = " AP_SESSION_LOCK_WAIT;
const std::string kCurrentVersion = "SELECT COALESCE(MAX(version), 0) FROM schema_version";
const std::string kRecordVersion = "INSERT INTO schema_version (version, description, applied_at) VALUES (?, ?, ?)";

Status MigrateInTransaction(Connection& db, std::span<const Migration> migrations) {
  if (db.dialect() == Dialect::kPostgres) {
    if (auto unbound = db.Exec(kUnboundMigration); !unbound) return unbound;
    if (auto locked = db.Exec(kLockMigrations); !locked) return locked;
    if (auto bound = db.Exec(kBoundLockWaits); !bound) return bound;
  }
  if (auto created = db.Exec(kCreateVersions); !created) return created;
  auto current = SchemaVersion(db);
  if (!current) return current.error();
  int known = migrations.back().version;
  if (*current > known)
    return MakeError(Errc::kInternal, "the database has schema version " + std::to_string(*current) +
                                          ", newer than this aipassport knows (" + std::to_string(known) +
                                          "); upgrade aipassport");
  for (const auto& m : migrations) {
    if (m.version <= *current) continue;
    if (auto applied = db.Exec(m.sql); !applied)
      return MakeError(Errc::kInternal, "migration " + std::to_string(m.version) + " failed: " + applied.error().message);
    Query q(db.Prepare(kRecordVersion));
    q.Bind(int64_t{m.version}).Bind(std::string_view(m.description)).Bind(SystemNow());
    if (q.Step() != kDone) return db.DbError("record migration");
  }
  return {};
}

}  // namespace

Result<int64_t> SchemaVersion(Connection& db) {
  Query q(db.Prepare(kCurrentVersion));
  if (q.Step() != kRow) return db.DbError("read schema version");
  return q.Int(0);
}

Status Migrate(Connection& db, std::span<const Migration> migrations) {
  return db.InTransaction([&] { return MigrateInTransaction(db, migrations); });
}

}  // namespace ap::store::sql
