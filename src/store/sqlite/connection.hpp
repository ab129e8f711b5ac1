#pragma once
// The SQLite connection: one database file, its statements compiled once and cached.
// Thread-safety: one thread at a time (the store worker).

#include <sqlite3.h>

#include <filesystem>
#include <memory>
#include <string>
#include <unordered_map>

#include "store/sql/connection.hpp"

namespace ap::store::sqlite {

struct DbClose {
  void operator()(sqlite3* db) const { sqlite3_close_v2(db); }
};
struct StmtFinalize {
  void operator()(sqlite3_stmt* s) const { sqlite3_finalize(s); }
};
using Db = std::unique_ptr<sqlite3, DbClose>;
using Stmt = std::unique_ptr<sqlite3_stmt, StmtFinalize>;

class Connection final : public sql::Connection {
 public:
  explicit Connection(Db db) : db_(std::move(db)) {}

  sql::Dialect dialect() const override { return sql::Dialect::kSqlite; }
  std::unique_ptr<sql::Rows> Run(const std::string& sql, std::span<const sql::Param> params) override;
  Status Exec(const char* sql) override;
  int AppendRows(std::string_view table, std::string_view columns, const sql::Values& rows) override;
  int64_t Changes() override { return sqlite3_changes64(db_.get()); }
  Error DbError(const char* what) override;
  Status Begin() override { return Exec("BEGIN IMMEDIATE"); }
  Status BeginSnapshot() override { return Exec("BEGIN"); }

 private:
  // The cached statement for `sql`, compiled on its first use.
  sqlite3_stmt* Statement(const std::string& sql);

  Db db_;
  std::unordered_map<std::string, Stmt> statements_;
};

// Opens (creating if needed) the database file, in WAL mode with foreign keys on; no migration.
Result<std::unique_ptr<Connection>> OpenConnection(const std::filesystem::path& file);

}  // namespace ap::store::sqlite
