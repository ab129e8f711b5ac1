#pragma once
// One database connection, whichever engine is behind it, as the table groups see it: run a
// statement with positional parameters and read its rows. The SQL is each group's, in named
// constants; it is written with `?` / `?N` placeholders (SQLite's), which the PostgreSQL
// connection rewrites to `$N`, so a statement both engines understand is written once and only
// what differs is written per dialect.
// Thread-safety: one thread at a time (a store worker).

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.hpp"

namespace ap::store::sql {

enum class Dialect { kSqlite, kPostgres };

// The database's clock in whole Unix seconds, as an SQL expression: what heartbeats and the change
// feed are stamped and judged by, so that every broker and the CLI read one clock.
inline constexpr const char* kSqliteUnixNow = "CAST(strftime('%s', 'now') AS INTEGER)";
inline constexpr const char* kPostgresUnixNow = "CAST(FLOOR(EXTRACT(EPOCH FROM clock_timestamp())) AS BIGINT)";
inline const char* UnixNow(Dialect dialect) {
  return dialect == Dialect::kPostgres ? kPostgresUnixNow : kSqliteUnixNow;
}

class Connection;

// A statement about to be run on a connection (see Query).
struct Prepared {
  Connection* connection;
  std::string sql;
};

// What a step of a statement gave.
inline constexpr int kRow = 100;         // a row is ready to read
inline constexpr int kDone = 101;        // the statement finished
inline constexpr int kConstraint = 19;   // a unique or foreign key constraint refused it
inline constexpr int kError = 1;         // anything else (see Connection::DbError)

// A bound value. Its type is the C++ type it was bound as, null or not (PostgreSQL needs it).
struct Param {
  enum class Type { kInt, kText, kBlob } type = Type::kText;
  bool null = false;
  int64_t number = 0;
  std::string text;  // text or bytes
};

// Values bound in order: a statement's parameters (Query), or rows to append (AppendRows).
class Values {
 public:
  Values& Bind(std::string_view v) { return Add({Param::Type::kText, false, 0, std::string(v)}); }
  Values& Bind(const std::string& v) { return Bind(std::string_view(v)); }
  Values& Bind(const char* v) { return Bind(std::string_view(v)); }
  Values& Bind(int64_t v) { return Add({Param::Type::kInt, false, v, {}}); }
  Values& Bind(const std::optional<int64_t>& v) { return v ? Bind(*v) : Add({Param::Type::kInt, true, 0, {}}); }
  Values& Bind(const std::optional<std::string>& v) {
    return v ? Bind(std::string_view(*v)) : Add({Param::Type::kText, true, 0, {}});
  }
  Values& BindBlob(std::string_view bytes) { return Add({Param::Type::kBlob, false, 0, std::string(bytes)}); }
  // Makes room for `count` values in all, so that binding them moves none.
  Values& Reserve(size_t count) {
    params_.reserve(count);
    return *this;
  }
  // Drops the values and keeps the room they took, for the next rows.
  void Clear() { params_.clear(); }

  const std::vector<Param>& params() const { return params_; }

 private:
  Values& Add(Param p) {
    params_.push_back(std::move(p));
    return *this;
  }
  std::vector<Param> params_;
};

// The rows of one run statement.
class Rows {
 public:
  virtual ~Rows() = default;
  // kRow, kDone, kConstraint or kError.
  virtual int Next() = 0;
  virtual bool IsNull(int col) const = 0;
  virtual std::string Text(int col) const = 0;
  virtual std::string Blob(int col) const = 0;
  virtual int64_t Int(int col) const = 0;
};

class Connection {
 public:
  virtual ~Connection() = default;
  virtual Dialect dialect() const = 0;
  Prepared Prepare(std::string sql) { return Prepared{this, std::move(sql)}; }
  // Runs `sql` with `params`; the first Next() of the result says how it went.
  virtual std::unique_ptr<Rows> Run(const std::string& sql, std::span<const Param> params) = 0;
  // Runs statements without parameters (migrations, transaction control).
  virtual Status Exec(const char* sql) = 0;
  // Appends rows to `table`: `columns` names them, comma-separated; `rows` holds a value for each,
  // row after row, text and integers (no blobs). Returns kDone, or kError (then DbError says why);
  // inside a transaction, all rows or none. SQLite runs multi-row INSERTs, PostgreSQL a COPY.
  virtual int AppendRows(std::string_view table, std::string_view columns, const Values& rows) = 0;
  // Rows changed by the last INSERT, UPDATE or DELETE.
  virtual int64_t Changes() = 0;
  // kUnavailable naming what failed, with the engine's message (never a bound value).
  virtual Error DbError(const char* what) = 0;
  // Starts a transaction that writes: SQLite takes the write lock at once; PostgreSQL locks rows
  // as statements touch them (a group locks what it reads to decide with LockForUpdate SQL).
  virtual Status Begin() = 0;
  // Starts a read-only transaction that sees one snapshot throughout.
  virtual Status BeginSnapshot() = 0;
  // How many times the connection was made again since it opened (PostgreSQL): the server may be
  // another since (a failover), holding less than what was read before.
  virtual uint64_t Reconnects() const { return 0; }

  // Runs `body` inside Begin() ... COMMIT; rolls back when it fails.
  template <class Fn>
  auto InTransaction(Fn body) -> decltype(body()) {
    if (auto begun = Begin(); !begun) return begun.error();
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
};

// How many columns a comma-separated list names.
size_t ColumnCount(std::string_view columns);
// Throws std::logic_error when `rows` does not hold a value for each column of each row (a bug).
void CheckWholeRows(std::string_view columns, const Values& rows);

// Binds positional parameters, then steps through the rows:
//   Query q(db.Prepare(kSelectGrant)); q.Bind(id); if (q.Step() == kRow) ... q.Text(0)
class Query {
 public:
  explicit Query(Prepared p) : connection_(*p.connection), sql_(std::move(p.sql)) {}
  Query(const Query&) = delete;
  Query& operator=(const Query&) = delete;

  template <class T>
  Query& Bind(const T& v) {
    params_.Bind(v);
    return *this;
  }
  Query& BindBlob(std::string_view bytes) {
    params_.BindBlob(bytes);
    return *this;
  }

  // kRow, kDone, kConstraint or kError. The first call runs the statement.
  int Step() {
    if (!rows_) rows_ = connection_.Run(sql_, params_.params());
    return rows_->Next();
  }

  std::string Text(int col) const { return rows_->Text(col); }
  std::string Blob(int col) const { return rows_->Blob(col); }
  int64_t Int(int col) const { return rows_->Int(col); }
  std::optional<int64_t> OptInt(int col) const {
    if (rows_->IsNull(col)) return std::nullopt;
    return Int(col);
  }
  std::optional<std::string> OptText(int col) const {
    if (rows_->IsNull(col)) return std::nullopt;
    return Text(col);
  }

 private:
  Connection& connection_;
  std::string sql_;
  Values params_;
  std::unique_ptr<Rows> rows_;
};

}  // namespace ap::store::sql
