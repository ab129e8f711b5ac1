#include "store/postgres/connection.hpp"

#include <algorithm>
#include <charconv>
#include <cstring>
#include <limits>
#include <stdexcept>

#include "core/utf8.hpp"
#include "store/postgres/libpq.hpp"

namespace ap::store::postgres {
namespace {

constexpr Oid kInt8 = 20;
constexpr Oid kText = 25;
constexpr Oid kBytea = 17;

Oid TypeOf(const sql::Param& p) {
  switch (p.type) {
    case sql::Param::Type::kInt:
      return kInt8;
    case sql::Param::Type::kBlob:
      return kBytea;
    case sql::Param::Type::kText:
      return kText;
  }
  return kText;
}

struct ResultClear {
  void operator()(PGresult* r) const { PQclear(r); }
};
using PgResult = std::unique_ptr<PGresult, ResultClear>;

// libpq's message without its trailing newline; it names what failed, not the values bound.
std::string MessageOf(PGconn* conn, const PGresult* result) {
  std::string text = result ? PQresultErrorMessage(result) : PQerrorMessage(conn);
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
  if (text.empty()) text = "unknown error";
  return text;
}

// The rows of one statement, all fetched (a store statement reads at most a page).
class ResultRows final : public sql::Rows {
 public:
  ResultRows(PgResult result, int status) : result_(std::move(result)), status_(status) {}

  int Next() override {
    if (status_ != sql::kRow) return status_;
    if (++row_ < PQntuples(result_.get())) return sql::kRow;
    status_ = sql::kDone;
    return status_;
  }
  bool IsNull(int col) const override { return PQgetisnull(result_.get(), row_, col) != 0; }
  std::string Text(int col) const override {
    return std::string(PQgetvalue(result_.get(), row_, col),
                       static_cast<size_t>(PQgetlength(result_.get(), row_, col)));
  }
  // bytea arrives in text form as "\x" and hex digits.
  std::string Blob(int col) const override {
    std::string hex = Text(col);
    std::string bytes;
    if (hex.size() < 2 || hex[0] != '\\' || hex[1] != 'x') return bytes;
    bytes.reserve((hex.size() - 2) / 2);
    for (size_t i = 2; i + 1 < hex.size(); i += 2) {
      int hi = HexDigit(hex[i]), lo = HexDigit(hex[i + 1]);
      if (hi < 0 || lo < 0) return {};
      bytes.push_back(static_cast<char>(hi * 16 + lo));
    }
    return bytes;
  }
  // Integers, and sums (numeric in PostgreSQL) of them, arrive as decimal text.
  int64_t Int(int col) const override {
    const char* p = PQgetvalue(result_.get(), row_, col);
    const char* end = p + std::strlen(p);
    int64_t v = 0;
    auto [at, ec] = std::from_chars(p, end, v);
    // A figure that does not fit (a sum past 2^63) fails closed: as large as can be, never as 0.
    if (ec != std::errc() || at != end) return std::numeric_limits<int64_t>::max();
    return v;
  }

 private:
  PgResult result_;
  int status_;
  int row_ = -1;
};

// What a failed statement's SQLSTATE means to a caller: class 23 is a constraint.
int FailureOf(const PGresult* result) {
  const char* state = result ? PQresultErrorField(result, PG_DIAG_SQLSTATE) : nullptr;
  if (state && std::strncmp(state, "23", 2) == 0) return sql::kConstraint;
  return sql::kError;
}

// Why a statement failed, as its SQLSTATE says: insufficient resources (53100 is a full disk) or a
// read-only transaction (25006, as under default_transaction_read_only or on a standby) mean the
// database refuses writes; a data exception (class 22: a byte sequence that is not UTF-8...) means
// these values can never be stored, so a writer must not keep retrying them; anything else (the
// connection lost, a timeout) may pass.
Errc CodeOf(const PGresult* result) {
  const char* state = result ? PQresultErrorField(result, PG_DIAG_SQLSTATE) : nullptr;
  if (!state) return Errc::kUnavailable;
  if (std::strncmp(state, "53", 2) == 0 || std::strcmp(state, "25006") == 0) return Errc::kStorageUnavailable;
  if (std::strncmp(state, "22", 2) == 0) return Errc::kInternal;
  return Errc::kUnavailable;
}

// COPY's text format: a row a line, values split by tabs, NULL as \N; a backslash, tab, newline or
// carriage return inside a value is escaped, so no value can end its field or its row early.
void AppendCopyValue(std::string& out, const sql::Param& p) {
  if (p.null) {
    out += "\\N";
    return;
  }
  if (p.type == sql::Param::Type::kInt) {
    char digits[24];
    auto [end, ec] = std::to_chars(digits, digits + sizeof digits, p.number);
    out.append(digits, end);
    return;
  }
  if (p.type == sql::Param::Type::kBlob) throw std::logic_error("AppendRows takes text and integers");
  for (char c : p.text) {
    switch (c) {
      case '\\':
        out += "\\\\";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      default:
        out += c;
    }
  }
}

// COPY data goes to libpq in pieces of this size (its length is an int).
constexpr size_t kCopyPiece = 1 << 20;

std::string CopyText(std::span<const sql::Param> values, size_t width) {
  std::string out;
  out.reserve(values.size() * 12);
  for (size_t i = 0; i < values.size(); ++i) {
    AppendCopyValue(out, values[i]);
    out += (i + 1) % width == 0 ? '\n' : '\t';
  }
  return out;
}

}  // namespace

std::string NumberPlaceholders(const std::string& sql) {
  std::string out;
  out.reserve(sql.size() + 16);
  int next = 0;
  for (size_t i = 0; i < sql.size(); ++i) {
    if (sql[i] != '?') {
      out += sql[i];
      continue;
    }
    out += '$';
    if (i + 1 < sql.size() && sql[i + 1] >= '0' && sql[i + 1] <= '9') continue;  // ?N keeps its number
    out += std::to_string(++next);
  }
  return out;
}

Result<std::unique_ptr<Connection>> Connection::Open(const std::string& url) {
  if (auto loaded = LoadLibPq(); !loaded) return loaded.error();
  Conn conn(Connect(url));
  if (!conn) return InternalError(Errc::kUnavailable, "cannot reach PostgreSQL: out of memory");
  if (PQstatus(conn.get()) != CONNECTION_OK)
    return InternalError(Errc::kUnavailable, "cannot reach PostgreSQL: " + MessageOf(conn.get(), nullptr));
  auto c = std::unique_ptr<Connection>(new Connection(std::move(conn)));
  if (!c->SetUpSession())
    return InternalError(Errc::kUnavailable, "cannot set up the PostgreSQL session: " + c->last_error_);
  return c;
}

// Every session, the first and each after a reconnect: UTC; bytea in hex (Blob reads it); read
// committed, whatever the server's default, since the store locks rows and then reads what other
// brokers committed while it waited (a bound counted after a lock: under repeatable read, two
// brokers would both count from before either wrote); and no wait without end, so a broker that
// stalls holding a lock (paused, cut off) cannot stall the others' store threads for longer than these.
bool Connection::SetUpSession() {
  // Notices (e.g. "relation already exists, skipping") are not errors; keep them out of stderr.
  PQsetNoticeProcessor(conn_.get(), [](void*, const char*) {}, nullptr);
  PgResult set(
      PQexec(conn_.get(),
             "SET TIME ZONE 'UTC'; SET bytea_output = 'hex'; SET default_transaction_isolation = 'read committed'; "
             "SET lock_timeout = " AP_SESSION_LOCK_WAIT "; "
             "SET statement_timeout = '60s'; SET idle_in_transaction_session_timeout = '60s'; "
             "SET tcp_keepalives_idle = 10; SET tcp_keepalives_interval = 5; SET tcp_keepalives_count = 3"));
  if (PQresultStatus(set.get()) == PGRES_COMMAND_OK) return true;
  last_error_ = MessageOf(conn_.get(), set.get());
  return false;
}

bool Connection::Usable() {
  if (PQstatus(conn_.get()) == CONNECTION_OK) return true;
  if (in_transaction_) return false;  // what the transaction wrote is gone: it must fail, not go on without
  return Reconnect();
}

bool Connection::Reconnect() {
  ++reconnects_;
  PQreset(conn_.get());
  prepared_.clear();
  return PQstatus(conn_.get()) == CONNECTION_OK && SetUpSession();
}

void Connection::Finished(int64_t changes, std::string error) {
  changes_ = changes;
  failure_ = Errc::kUnavailable;
  last_error_ = std::move(error);
}

std::unique_ptr<sql::Rows> Connection::Run(const std::string& sql, std::span<const sql::Param> params) {
  std::vector<Oid> types;
  std::vector<const char*> values;
  std::vector<int> lengths, formats;
  std::vector<std::string> numbers;
  numbers.reserve(params.size());
  std::string key = sql + '\x1f';
  for (const auto& p : params) {
    types.push_back(TypeOf(p));
    key += static_cast<char>('0' + static_cast<int>(p.type));
    const char* value = nullptr;
    int length = 0;
    if (!p.null && p.type == sql::Param::Type::kInt) {
      numbers.push_back(std::to_string(p.number));
      value = numbers.back().c_str();
    } else if (!p.null) {
      value = p.text.data();
      length = static_cast<int>(p.text.size());
    }
    values.push_back(value);
    lengths.push_back(length);
    formats.push_back(p.type == sql::Param::Type::kBlob ? 1 : 0);
  }
  auto fail = [&](PGresult* raw) {
    PgResult result(raw);
    Finished(0, MessageOf(conn_.get(), result.get()));
    failure_ = CodeOf(result.get());
    return std::make_unique<ResultRows>(std::move(result), FailureOf(result.get()));
  };
  if (!HasNoNul(params)) return std::make_unique<ResultRows>(PgResult(), sql::kError);
  if (!Usable()) return fail(nullptr);
  auto it = prepared_.find(key);
  if (it == prepared_.end()) {
    std::string name = "s" + std::to_string(prepared_.size() + 1);
    PgResult made(PQprepare(conn_.get(), name.c_str(), NumberPlaceholders(sql).c_str(),
                            static_cast<int>(types.size()), types.data()));
    if (PQresultStatus(made.get()) != PGRES_COMMAND_OK) return fail(made.release());
    it = prepared_.emplace(std::move(key), std::move(name)).first;
  }
  PgResult result(PQexecPrepared(conn_.get(), it->second.c_str(), static_cast<int>(values.size()), values.data(),
                                 lengths.data(), formats.data(), 0));
  ExecStatusType status = PQresultStatus(result.get());
  if (status != PGRES_TUPLES_OK && status != PGRES_COMMAND_OK) return fail(result.release());
  int64_t changes = 0;
  const char* tuples = PQcmdTuples(result.get());
  std::from_chars(tuples, tuples + std::strlen(tuples), changes);
  Finished(changes, {});
  return std::make_unique<ResultRows>(std::move(result), sql::kRow);
}

// Text goes in text format, which ends at a NUL: "alice\0x" would be read as "alice". Refused
// rather than cut (SQLite keeps the whole value, so the engines would disagree on what matched).
bool Connection::HasNoNul(std::span<const sql::Param> params) {
  for (const auto& p : params)
    if (!p.null && p.type == sql::Param::Type::kText && p.text.find('\0') != std::string::npos) {
      Finished(0, "a text value holds a NUL byte");
      failure_ = Errc::kInternal;  // it never can be stored: not worth a retry
      return false;
    }
  return true;
}

int Connection::AppendRows(std::string_view table, std::string_view columns, const sql::Values& rows) {
  sql::CheckWholeRows(columns, rows);
  const auto& values = rows.params();
  if (values.empty()) return sql::kDone;
  if (!HasNoNul(values)) return sql::kError;
  if (!Usable()) {
    Finished(0, MessageOf(conn_.get(), nullptr));
    return sql::kError;
  }
  std::string copy = "COPY " + std::string(table) + " (" + std::string(columns) + ") FROM STDIN";
  PgResult started(PQexec(conn_.get(), copy.c_str()));
  if (PQresultStatus(started.get()) != PGRES_COPY_IN) {
    Finished(0, MessageOf(conn_.get(), started.get()));
    failure_ = CodeOf(started.get());
    return sql::kError;
  }
  std::string data = CopyText(values, sql::ColumnCount(columns));
  bool sent = true;
  for (size_t at = 0; sent && at < data.size(); at += kCopyPiece)
    sent = PQputCopyData(conn_.get(), data.data() + at, static_cast<int>(std::min(kCopyPiece, data.size() - at))) == 1;
  bool ended = PQputCopyEnd(conn_.get(), sent ? nullptr : "the rows could not be sent") == 1;
  // The COPY's result, then nothing: a failure is the first result that is not a success. A COPY
  // still open here (its end could not be sent) would answer "copy in" for ever: the connection is
  // given up instead.
  PgResult failed;
  int64_t copied = 0;
  while (PgResult result{PQgetResult(conn_.get())}) {
    ExecStatusType status = PQresultStatus(result.get());
    if (status == PGRES_COPY_IN || status == PGRES_COPY_OUT || status == PGRES_COPY_BOTH) {
      Reconnect();  // the transaction is gone with the old connection; the caller rolls back
      Finished(0, "the COPY could not be ended; the connection was started again");
      return sql::kError;
    }
    if (status == PGRES_COMMAND_OK) {
      const char* tuples = PQcmdTuples(result.get());
      std::from_chars(tuples, tuples + std::strlen(tuples), copied);
    } else if (!failed) {
      failed = std::move(result);
    }
  }
  if (failed || !sent || !ended) {
    Finished(0, MessageOf(conn_.get(), failed.get()));
    failure_ = CodeOf(failed.get());
    return sql::kError;
  }
  Finished(copied, {});
  return sql::kDone;
}

Status Connection::Exec(const char* sql) {
  std::string_view text(sql);
  bool begins = text.starts_with("BEGIN");
  bool ends = text == "COMMIT" || text == "ROLLBACK";
  if (!Usable()) {
    if (ends) in_transaction_ = false;
    return InternalError(Errc::kUnavailable, "database error: " + MessageOf(conn_.get(), nullptr));
  }
  PgResult result(PQexec(conn_.get(), sql));
  if (ends) in_transaction_ = false;
  ExecStatusType status = PQresultStatus(result.get());
  if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK)
    return InternalError(CodeOf(result.get()), "database error: " + MessageOf(conn_.get(), result.get()));
  if (begins) in_transaction_ = true;
  // A COMMIT of a transaction a failed statement aborted answers "ROLLBACK" without an error.
  if (text == "COMMIT" && std::string_view(PQcmdStatus(result.get())) != "COMMIT")
    return InternalError(Errc::kUnavailable, "database error: the transaction was rolled back");
  return {};
}

Error Connection::DbError(const char* what) {
  std::string message = last_error_.empty() ? MessageOf(conn_.get(), nullptr) : last_error_;
  return InternalError(failure_, std::string("database error (") + what + "): " + message);
}

}  // namespace ap::store::postgres
