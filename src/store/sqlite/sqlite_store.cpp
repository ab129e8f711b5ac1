#include "store/sqlite/sqlite_store.hpp"

#include <sqlite3.h>

#include "store/sqlite/connection.hpp"
#include "store/sqlite/grant_tables.hpp"
#include "store/sqlite/identity_tables.hpp"
#include "store/sqlite/key_tables.hpp"
#include "store/sqlite/metering_tables.hpp"
#include "store/sqlite/migrations.hpp"
#include "store/sqlite/oauth_tables.hpp"
#include "store/sqlite/record_tables.hpp"

namespace ap::store {
namespace {

using sqlite::Db;
using sqlite::Query;

const std::string kGetSetting = "SELECT value FROM settings WHERE key = ?";
const std::string kPutSetting =
    "INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value";

class SqliteStore final : public Store {
 public:
  explicit SqliteStore(Db db)
      : db_(std::move(db)),
        grants_(db_),
        metering_(db_, grants_),
        identity_(db_),
        oauth_(db_),
        keys_(db_),
        activity_(db_),
        audit_(db_) {}

  GrantStore& Grants() override { return grants_; }
  MeteringStore& Metering() override { return metering_; }
  IdentityStore& Identity() override { return identity_; }
  OAuthStore& OAuth() override { return oauth_; }
  KeyStore& Keys() override { return keys_; }
  ActivityStore& Activity() override { return activity_; }
  AuditStore& Audit() override { return audit_; }

  Status Migrate() {
    if (auto s = Exec("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY, "
                      "description TEXT NOT NULL, applied_at INTEGER NOT NULL)");
        !s)
      return s;
    int64_t current = 0;
    {
      Query q(Prepare("SELECT COALESCE(MAX(version), 0) FROM schema_version"));
      if (q.Step() != SQLITE_ROW) return DbError("read schema version");
      current = q.Int(0);
    }
    auto migrations = sqlite::Migrations();
    if (current > migrations.back().version)
      return MakeError(Errc::kInternal, "the database has schema version " + std::to_string(current) +
                                            ", newer than this aipassport knows (" +
                                            std::to_string(migrations.back().version) + "); upgrade aipassport");
    for (const auto& m : migrations) {
      if (m.version <= current) continue;
      if (auto s = Exec("BEGIN IMMEDIATE"); !s) return s;
      Status applied = Exec(m.sql);
      if (applied) {
        Query q(Prepare("INSERT INTO schema_version (version, description, applied_at) VALUES (?, ?, ?)"));
        q.Bind(int64_t{m.version}).Bind(std::string_view(m.description)).Bind(SystemNow());
        if (q.Step() != SQLITE_DONE) applied = DbError("record migration");
      }
      if (!applied) {
        Exec("ROLLBACK");
        return MakeError(Errc::kInternal,
                         "migration " + std::to_string(m.version) + " failed: " + applied.error().message);
      }
      if (auto s = Exec("COMMIT"); !s) return s;
    }
    return {};
  }

  Result<std::optional<std::string>> GetSetting(std::string_view key) override {
    Query q(Prepare(kGetSetting));
    q.Bind(key);
    int rc = q.Step();
    if (rc == SQLITE_DONE) return std::optional<std::string>();
    if (rc != SQLITE_ROW) return DbError("read setting");
    return std::optional<std::string>(q.Text(0));
  }

  Status PutSetting(std::string_view key, std::string_view value) override {
    Query q(Prepare(kPutSetting));
    q.Bind(key).Bind(value);
    if (q.Step() != SQLITE_DONE) return DbError("write setting");
    return {};
  }

 private:
  sqlite3_stmt* Prepare(const std::string& sql) { return db_.Prepare(sql); }
  Status Exec(const char* sql) { return db_.Exec(sql); }
  Error DbError(const char* what) { return db_.DbError(what); }

  sqlite::Connection db_;
  sqlite::GrantTables grants_;
  sqlite::MeteringTables metering_;
  sqlite::IdentityTables identity_;
  sqlite::OAuthTables oauth_;
  sqlite::KeyTables keys_;
  sqlite::ActivityTables activity_;
  sqlite::AuditTables audit_;
};

}  // namespace

Result<std::unique_ptr<Store>> OpenSqliteStore(const std::filesystem::path& file) {
  sqlite3* raw = nullptr;
  int rc =
      sqlite3_open_v2(file.c_str(), &raw, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
  Db db(raw);
  if (rc != SQLITE_OK)
    return MakeError(Errc::kUnavailable,
                     "cannot open " + file.string() + ": " + (raw ? sqlite3_errmsg(raw) : "out of memory"));
  sqlite3_busy_timeout(db.get(), 5000);
  auto store = std::make_unique<SqliteStore>(std::move(db));
  // WAL lets readers in other processes (the CLI) work while the broker writes; NORMAL
  // synchronous is durable against process crashes, which is what WAL mode promises.
  for (const char* pragma : {"PRAGMA journal_mode = WAL", "PRAGMA synchronous = NORMAL", "PRAGMA foreign_keys = ON"}) {
    char* message = nullptr;
    if (sqlite3_exec(raw, pragma, nullptr, nullptr, &message) != SQLITE_OK) {
      std::string text = message ? message : "";
      sqlite3_free(message);
      return MakeError(Errc::kUnavailable, "cannot configure " + file.string() + ": " + text);
    }
  }
  if (auto migrated = store->Migrate(); !migrated) return migrated.error();
  return std::unique_ptr<Store>(std::move(store));
}

}  // namespace ap::store
