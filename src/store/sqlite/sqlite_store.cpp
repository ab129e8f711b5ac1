#include "store/sqlite/sqlite_store.hpp"

#include <fcntl.h>
#include <sqlite3.h>
#include <unistd.h>

#include "store/sqlite/connection.hpp"
#include "store/sqlite/migrations.hpp"
#include "store/tables/sql_store.hpp"

namespace ap::store {

using sqlite::Db;

namespace {

// SQLite keeps statistics of its memory under one process-wide mutex, taken on each of its
// allocations (a dozen lock pairs for each call's rows on the store thread); nothing here reads
// them. Set once, before SQLite first starts, which is the first open.
void ConfigureSqliteOnce() {
  static const bool configured = [] { return sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0) == SQLITE_OK; }();
  (void)configured;
}

// Makes `file` empty, readable by this user only, unless it exists: SQLite would make it (and its
// -wal and -shm files, which take the database's mode) as the umask allows, often readable by all,
// and it holds password hashes, sessions and the record. A file that exists keeps its mode.
void CreatePrivately(const std::filesystem::path& file) {
  int fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd >= 0) ::close(fd);  // else it exists, or SQLite's own open says what is wrong
}

}  // namespace

Result<std::unique_ptr<sqlite::Connection>> sqlite::OpenConnection(const std::filesystem::path& file) {
  ConfigureSqliteOnce();
  if (file != ":memory:" && !file.empty()) CreatePrivately(file);
  sqlite3* raw = nullptr;
  int rc =
      sqlite3_open_v2(file.c_str(), &raw, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
  Db db(raw);
  if (rc != SQLITE_OK)
    return MakeError(Errc::kUnavailable,
                     "cannot open " + file.string() + ": " + (raw ? sqlite3_errmsg(raw) : "out of memory"));
  sqlite3_busy_timeout(db.get(), 5000);
  // WAL lets readers in other processes (the CLI) work while the broker writes; NORMAL
  // synchronous is durable against process crashes, which is what WAL mode promises. Temporary
  // files in memory: the statement journal SQLite keeps to undo one multi-row statement inside a
  // transaction was otherwise a file, and most of the store thread's writes (4,190 of 6,700 in 2 s
  // under load); a crash loses nothing by it, the WAL holds what was committed. The log file keeps
  // the size of the largest transaction since the database was opened (a migration's, an hourly
  // prune's) unless limited: past 16 MB it is cut back when the log starts over, which the usual
  // log (1,000 pages, 4 MB, before a checkpoint) never reaches.
  for (const char* pragma : {"PRAGMA journal_mode = WAL", "PRAGMA synchronous = NORMAL", "PRAGMA foreign_keys = ON",
                             "PRAGMA temp_store = MEMORY", "PRAGMA journal_size_limit = 16777216"}) {
    char* message = nullptr;
    if (sqlite3_exec(raw, pragma, nullptr, nullptr, &message) != SQLITE_OK) {
      std::string text = message ? message : "";
      sqlite3_free(message);
      return MakeError(Errc::kUnavailable, "cannot configure " + file.string() + ": " + text);
    }
  }
  return std::make_unique<sqlite::Connection>(std::move(db));
}

Result<std::unique_ptr<Store>> OpenSqliteStore(const std::filesystem::path& file) {
  auto db = sqlite::OpenConnection(file);
  if (!db) return db.error();
  return OpenSqlStore(std::move(*db), sqlite::Migrations());
}

}  // namespace ap::store
