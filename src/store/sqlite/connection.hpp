#pragma once
// One SQLite connection and its statement cache, shared by the table groups of the SQLite store
// (grants, keys, record...). Each group keeps its SQL in its own file and runs it through here.
// Thread-safety: one thread at a time (the store worker).

#include <sqlite3.h>

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "core/error.hpp"

namespace ap::store::sqlite {

struct DbClose {
  void operator()(sqlite3* db) const { sqlite3_close_v2(db); }
};
struct StmtFinalize {
  void operator()(sqlite3_stmt* s) const { sqlite3_finalize(s); }
};
using Db = std::unique_ptr<sqlite3, DbClose>;
using Stmt = std::unique_ptr<sqlite3_stmt, StmtFinalize>;

// Binds positional parameters and resets the statement when it goes out of scope, so a cached
// statement is always ready for its next use.
class Query {
 public:
  explicit Query(sqlite3_stmt* stmt) : stmt_(stmt) {}
  ~Query() {
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
  }
  Query(const Query&) = delete;
  Query& operator=(const Query&) = delete;

  Query& Bind(std::string_view v) {
    sqlite3_bind_text(stmt_, ++index_, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
    return *this;
  }
  Query& Bind(const std::string& v) { return Bind(std::string_view(v)); }
  Query& Bind(const char* v) { return Bind(std::string_view(v)); }
  Query& Bind(int64_t v) {
    sqlite3_bind_int64(stmt_, ++index_, v);
    return *this;
  }
  Query& Bind(const std::optional<int64_t>& v) {
    if (v) return Bind(*v);
    sqlite3_bind_null(stmt_, ++index_);
    return *this;
  }
  Query& Bind(const std::optional<std::string>& v) {
    if (v) return Bind(std::string_view(*v));
    sqlite3_bind_null(stmt_, ++index_);
    return *this;
  }
  Query& BindBlob(std::string_view bytes) {
    sqlite3_bind_blob(stmt_, ++index_, bytes.data(), static_cast<int>(bytes.size()), SQLITE_TRANSIENT);
    return *this;
  }
  // SQLITE_ROW, SQLITE_DONE or an error code.
  int Step() { return sqlite3_step(stmt_); }

  std::string Text(int col) const {
    auto* p = sqlite3_column_text(stmt_, col);
    return p ? std::string(reinterpret_cast<const char*>(p), static_cast<size_t>(sqlite3_column_bytes(stmt_, col)))
             : std::string();
  }
  std::string Blob(int col) const {
    auto* p = static_cast<const char*>(sqlite3_column_blob(stmt_, col));
    return p ? std::string(p, static_cast<size_t>(sqlite3_column_bytes(stmt_, col))) : std::string();
  }
  int64_t Int(int col) const { return sqlite3_column_int64(stmt_, col); }
  std::optional<int64_t> OptInt(int col) const {
    if (sqlite3_column_type(stmt_, col) == SQLITE_NULL) return std::nullopt;
    return Int(col);
  }
  std::optional<std::string> OptText(int col) const {
    if (sqlite3_column_type(stmt_, col) == SQLITE_NULL) return std::nullopt;
    return Text(col);
  }

 private:
  sqlite3_stmt* stmt_;
  int index_ = 0;
};

class Connection {
 public:
  explicit Connection(Db db) : db_(std::move(db)) {}

  // Statements are compiled once and reused; the cache is keyed by the SQL text.
  sqlite3_stmt* Prepare(const std::string& sql);
  Status Exec(const char* sql);
  // Rows changed by the last INSERT, UPDATE or DELETE.
  int Changes() { return sqlite3_changes(db_.get()); }
  // kUnavailable naming what failed, with SQLite's message.
  Error DbError(const char* what);
  // Runs `body` inside BEGIN IMMEDIATE ... COMMIT; rolls back when it fails.
  template <class Fn>
  auto InTransaction(Fn body) -> decltype(body()) {
    if (auto begun = Exec("BEGIN IMMEDIATE"); !begun) return begun.error();
    auto result = body();
    if (!result) {
      Exec("ROLLBACK");
      return result;
    }
    if (auto committed = Exec("COMMIT"); !committed) {
      Exec("ROLLBACK");
      return committed.error();
    }
    return result;
  }

 private:
  Db db_;
  std::unordered_map<std::string, Stmt> statements_;
};

}  // namespace ap::store::sqlite
