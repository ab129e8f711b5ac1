#include "store/sqlite/connection.hpp"

#include <stdexcept>

namespace ap::store::sqlite {

sqlite3_stmt* Connection::Prepare(const std::string& sql) {
  auto it = statements_.find(sql);
  if (it != statements_.end()) return it->second.get();
  sqlite3_stmt* raw = nullptr;
  if (sqlite3_prepare_v3(db_.get(), sql.c_str(), -1, SQLITE_PREPARE_PERSISTENT, &raw, nullptr) != SQLITE_OK)
    throw std::logic_error(std::string("bad SQL: ") + sqlite3_errmsg(db_.get()));
  return statements_.emplace(sql, Stmt(raw)).first->second.get();
}

Status Connection::Exec(const char* sql) {
  char* message = nullptr;
  if (sqlite3_exec(db_.get(), sql, nullptr, nullptr, &message) != SQLITE_OK) {
    std::string text = message ? message : "unknown error";
    sqlite3_free(message);
    return MakeError(Errc::kUnavailable, std::string("database error: ") + text);
  }
  return {};
}

Error Connection::DbError(const char* what) {
  return MakeError(Errc::kUnavailable, std::string("database error (") + what + "): " + sqlite3_errmsg(db_.get()));
}

}  // namespace ap::store::sqlite
