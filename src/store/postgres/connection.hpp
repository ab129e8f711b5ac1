#pragma once
// The PostgreSQL connection (libpq): statements are prepared once per connection, their `?`
// placeholders rewritten to `$N`; a connection that broke is re-established on the next
// statement outside a transaction.
// Thread-safety: one thread at a time (a store worker).

#include <libpq-fe.h>

#include <memory>
#include <string>
#include <unordered_map>

#include "store/sql/connection.hpp"

namespace ap::store::postgres {

struct ConnClose {
  void operator()(PGconn* c) const { PQfinish(c); }
};
using Conn = std::unique_ptr<PGconn, ConnClose>;

// How long a statement waits for a lock, in every session (SetUpSession): a broker that stalls
// holding one cannot stall the others' store threads longer. Some transactions wait less.
#define AP_SESSION_LOCK_WAIT "'5s'"

// `?` becomes `$1`, `$2`... in order; `?N` becomes `$N`. (Our SQL has no `?` inside literals.)
std::string NumberPlaceholders(const std::string& sql);

class Connection final : public sql::Connection {
 public:
  // Connects to `url` (any libpq URI). The error names the problem, never the password.
  static Result<std::unique_ptr<Connection>> Open(const std::string& url);

  sql::Dialect dialect() const override { return sql::Dialect::kPostgres; }
  std::unique_ptr<sql::Rows> Run(const std::string& sql, std::span<const sql::Param> params) override;
  Status Exec(const char* sql) override;
  // COPY ... FROM STDIN in text format: one round trip, and about 4 us of the server's CPU a row
  // where a multi-row INSERT's parameters cost 7 (measured with 16-column activity rows).
  int AppendRows(std::string_view table, std::string_view columns, const sql::Values& rows) override;
  int64_t Changes() override { return changes_; }
  Error DbError(const char* what) override;
  Status Begin() override { return Exec("BEGIN"); }
  Status BeginSnapshot() override { return Exec("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"); }
  uint64_t Reconnects() const override { return reconnects_; }

  // Called by a statement's rows when it finished: what it changed, or why it failed.
  void Finished(int64_t changes, std::string error);

 private:
  explicit Connection(Conn conn) : conn_(std::move(conn)) {}
  // Reconnects a broken connection (outside a transaction); its prepared statements are gone.
  bool Usable();
  bool Reconnect();
  bool SetUpSession();
  // Refuses text holding a NUL byte, which text format cannot carry (see Run).
  bool HasNoNul(std::span<const sql::Param> params);

  Conn conn_;
  std::unordered_map<std::string, std::string> prepared_;  // SQL and parameter types -> statement name
  bool in_transaction_ = false;
  uint64_t reconnects_ = 0;
  int64_t changes_ = 0;
  std::string last_error_;
  Errc failure_ = Errc::kUnavailable;  // why the last statement failed (CodeOf)
};

}  // namespace ap::store::postgres
