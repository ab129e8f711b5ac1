#include "store/copy.hpp"

#include <algorithm>
#include <iterator>

#include "store/postgres/connection.hpp"
#include "store/postgres/migrations.hpp"
#include "store/sqlite/connection.hpp"
#include "store/sqlite/migrations.hpp"

namespace ap::store {
namespace {

using sql::kDone;
using sql::kRow;
using sql::Query;

// A table as it is copied: the columns written, what is read for each (usually the same column)
// and their types: t text, i integer, b bytes. In an order that satisfies the foreign keys.
struct TableCopy {
  const char* name;
  const char* columns;
  const char* select;
  const char* types;
};

constexpr TableCopy kTables[] = {
    {"settings", "key, value", "key, value", "tt"},
    {"owners", "id, username, password_hash, created_at", "id, username, password_hash, created_at", "ttti"},
    {"sessions", "id_hash, owner_id, csrf_token, created_at, last_seen_at",
     "id_hash, owner_id, csrf_token, created_at, last_seen_at", "tttii"},
    {"grant_requests", "id, app_name, app_url, scope_json, reason, created_at, requested_from",
     "id, app_name, app_url, scope_json, reason, created_at, requested_from", "tttttit"},
    // What running brokers still leased is counted as lost, as a broker would count it.
    {"grants",
     "id, request_id, app_name, app_url, reason, scope_json, max_requests, status, created_at, expires_at, "
     "approved_at, denied_at, revoked_at, usage_count, spent_micros, notes, version, request_secret_hash, owner_id, "
     "budget_micros, lost_micros, lost_requests, key_label, verified, ancestors, parent_grant_id, client_id",
     "id, request_id, app_name, app_url, reason, scope_json, max_requests, status, created_at, expires_at, "
     "approved_at, denied_at, revoked_at, usage_count, spent_micros, notes, version, request_secret_hash, owner_id, "
     "budget_micros, lost_micros + (SELECT COALESCE(SUM(micros), 0) FROM leases WHERE leases.grant_id = grants.id), "
     "lost_requests + (SELECT COALESCE(SUM(requests), 0) FROM leases WHERE leases.grant_id = grants.id), "
     "key_label, verified, ancestors, parent_grant_id, client_id",
     "ttttttitiiiiiiitittiiitittt"},
    {"usage",
     "grant_id, day, model, requests, input_tokens, cached_input_tokens, output_tokens, audio_milliseconds, "
     "cost_micros",
     "grant_id, day, model, requests, input_tokens, cached_input_tokens, output_tokens, audio_milliseconds, "
     "cost_micros",
     "tttiiiiii"},
    {"clients",
     "id, name, home_url, logo_url, redirect_uris, confidential, secret_hash, dpop_required, created_at, "
     "self_registered, registered_by, device_grant",
     "id, name, home_url, logo_url, redirect_uris, confidential, secret_hash, dpop_required, created_at, "
     "self_registered, registered_by, device_grant",
     "tttttitiiiti"},
    {"authorization_codes",
     "code_hash, client_id, redirect_uri, code_challenge, grant_id, expires_at, used_at, resources",
     "code_hash, client_id, redirect_uri, code_challenge, grant_id, expires_at, used_at, resources", "tttttiit"},
    {"refresh_tokens", "token_hash, family_id, grant_id, client_id, created_at, used_at, revoked_at, jkt, resources",
     "token_hash, family_id, grant_id, client_id, created_at, used_at, revoked_at, jkt, resources", "ttttiiitt"},
    {"events", "id, grant_id, at, kind, detail", "id, grant_id, at, kind, detail", "ititt"},
    {"provider_keys",
     "id, owner_id, provider, label, hint, sealed, wrapped_data_key, master_id, created_at, last_used_at",
     "id, owner_id, provider, label, hint, sealed, wrapped_data_key, master_id, created_at, last_used_at",
     "tttttbbtii"},
    {"activity_ids", "n, id", "n, id", "it"},
    {"activity",
     "id, at, grant_n, app_name, owner_n, provider, model, capability, status, input_tokens, output_tokens, "
     "cached_input_tokens, cost_micros, latency_ms, ttft_ms, streamed, refusal",
     "id, at, grant_n, app_name, owner_n, provider, model, capability, status, input_tokens, output_tokens, "
     "cached_input_tokens, cost_micros, latency_ms, ttft_ms, streamed, refusal",
     "iiititttiiiiiiiit"},
    {"audit", "seq, at, owner_id, actor, kind, grant_id, detail, prev_hash, hash",
     "seq, at, owner_id, actor, kind, grant_id, detail, prev_hash, hash", "iittttttt"},
    {"signing_keys", "kid, public_jwk, sealed, wrapped_data_key, master_id, created_at",
     "kid, public_jwk, sealed, wrapped_data_key, master_id, created_at", "ttbbti"},
    {"token_uses", "token_id, grant_id, client_id, issued_at, expires_at, first_used_at, last_used_at, calls",
     "token_id, grant_id, client_id, issued_at, expires_at, first_used_at, last_used_at, calls", "tttiiiii"},
};

// The identity columns PostgreSQL hands out numbers from: after explicit ones, each must go on
// after them.
struct IdentityColumn {
  const char* table;
  const char* column;
};
constexpr IdentityColumn kIdentityColumns[] = {{"events", "id"}, {"activity_ids", "n"}, {"activity", "id"}};

Result<std::unique_ptr<sql::Connection>> Open(const DatabaseTarget& target) {
  if (target.backend == Backend::kSqlite) {
    auto db = sqlite::OpenConnection(target.location);
    if (!db) return db.error();
    return std::unique_ptr<sql::Connection>(std::move(*db));
  }
  auto db = postgres::Connection::Open(target.location);
  if (!db)
    return MakeError(db.error().code, RedactDatabaseUrl(target.location) + ": " +
                                          ScrubDatabasePassword(db.error().message, target.location));
  return std::unique_ptr<sql::Connection>(std::move(*db));
}

Status Migrated(sql::Connection& db) {
  return sql::Migrate(db, db.dialect() == sql::Dialect::kPostgres ? postgres::Migrations() : sqlite::Migrations());
}

Result<std::unique_ptr<sql::Connection>> OpenMigrated(const DatabaseTarget& target) {
  auto db = Open(target);
  if (!db) return db.error();
  if (auto migrated = Migrated(**db); !migrated) return migrated.error();
  return db;
}

Result<int64_t> CountRows(sql::Connection& db, const char* table) {
  Query q(db.Prepare(std::string("SELECT COUNT(*) FROM ") + table));
  if (q.Step() != kRow) return db.DbError("count rows");
  return q.Int(0);
}

void BindColumn(Query& to, const Query& from, int col, char type) {
  bool null = from.OptText(col) == std::nullopt;
  if (type == 'i') {
    to.Bind(null ? std::optional<int64_t>() : std::optional<int64_t>(from.Int(col)));
  } else if (type == 'b') {
    to.BindBlob(from.Blob(col));
  } else {
    to.Bind(null ? std::optional<std::string>() : std::optional<std::string>(from.Text(col)));
  }
}

Status CopyTable(sql::Connection& from, sql::Connection& to, const TableCopy& table) {
  std::string_view columns(table.columns), types(table.types);
  if (static_cast<size_t>(std::count(columns.begin(), columns.end(), ',')) + 1 != types.size())
    return MakeError(Errc::kInternal, std::string("copy of ") + table.name + ": a type for each column");
  std::string placeholders;
  for (size_t i = 0; i < types.size(); ++i) placeholders += i ? ", ?" : "?";
  std::string insert = std::string("INSERT INTO ") + table.name + " (" + table.columns + ") VALUES (" +
                       placeholders + ")";
  Query read(from.Prepare(std::string("SELECT ") + table.select + " FROM " + table.name));
  int rc;
  while ((rc = read.Step()) == kRow) {
    Query write(to.Prepare(insert));
    for (int col = 0; table.types[col]; ++col) BindColumn(write, read, col, table.types[col]);
    if (write.Step() != kDone) return to.DbError(table.name);
  }
  if (rc != kDone) return from.DbError(table.name);
  return {};
}

// A broker heartbeats every sixth of its node timeout (at most an hour: every 10 minutes) and
// removes its node row when it stops: a row seen within the longest interval is a broker that may
// still be running, whose spend after the snapshot the copy would lose. Timed by the database's
// clock, as heartbeats are.
constexpr int64_t kLiveBrokerSeconds = 600;

Status RequireNoBrokerRunning(sql::Connection& db) {
  Query nodes(
      db.Prepare(std::string("SELECT COUNT(*) FROM ") +
                 (db.dialect() == sql::Dialect::kPostgres
                      ? "information_schema.tables WHERE table_schema = current_schema() AND table_name = 'nodes'"
                      : "sqlite_master WHERE type = 'table' AND name = 'nodes'")));
  if (nodes.Step() != kRow) return db.DbError("read nodes");
  if (nodes.Int(0) == 0) return {};  // a database older than leases: no broker of this kind runs on it
  Query q(db.Prepare(std::string("SELECT id, ") + sql::UnixNow(db.dialect()) +
                     " - seen_at FROM nodes ORDER BY seen_at DESC LIMIT 1"));
  int rc = q.Step();
  if (rc == kDone) return {};
  if (rc != kRow) return db.DbError("read nodes");
  int64_t ago = std::max<int64_t>(q.Int(1), 0);
  if (ago >= kLiveBrokerSeconds) return {};
  return MakeError(Errc::kBadRequest,
                   "a broker (node " + q.Text(0) + ") used the source database " + std::to_string(ago) +
                       " seconds ago: stop every broker on it first, or the spend they record during the copy is "
                       "lost (a broker stopped cleanly says so to the database; one that was killed counts as "
                       "stopped " +
                       std::to_string(kLiveBrokerSeconds / 60) +
                       " minutes after its last heartbeat, or at once if it is started and stopped again)");
}

Status RequireEmpty(sql::Connection& db) {
  for (const auto& table : kTables) {
    auto rows = CountRows(db, table.name);
    if (!rows) return rows.error();
    if (*rows > 0)
      return MakeError(Errc::kBadRequest, std::string("the target database is not empty (its ") + table.name +
                                              " table holds " + std::to_string(*rows) +
                                              " rows): copy into a new, empty database");
  }
  return {};
}

}  // namespace

Result<std::vector<CopiedTable>> CopyDatabase(const DatabaseTarget& from, const DatabaseTarget& to,
                                              const std::function<void(const std::string& table)>& progress) {
  auto source = Open(from);
  if (!source) return source.error();
  // Before the source is migrated: a broker still running on it must not find its schema changed.
  if (auto stopped = RequireNoBrokerRunning(**source); !stopped) return stopped.error();
  if (auto migrated = Migrated(**source); !migrated) return migrated.error();
  if (auto snapshot = (*source)->BeginSnapshot(); !snapshot) return snapshot.error();
  auto target = OpenMigrated(to);
  if (!target) return target.error();
  std::vector<CopiedTable> report;
  auto copied = (*target)->InTransaction([&]() -> Status {
    // Checked inside the copy's transaction, so a broker started on the target meanwhile is seen.
    if (auto empty = RequireEmpty(**target); !empty) return empty;
    for (const auto& table : kTables) {
      progress(table.name);
      if (auto done = CopyTable(**source, **target, table); !done) return done;
    }
    if ((*target)->dialect() == sql::Dialect::kPostgres)
      for (const auto& [table, column] : kIdentityColumns) {
        std::string restart = std::string("SELECT setval(pg_get_serial_sequence('") + table + "', '" + column +
                              "'), COALESCE((SELECT MAX(" + column + ") FROM " + table + "), 0) + 1, false)";
        if (auto set = (*target)->Exec(restart.c_str()); !set) return set;
      }
    // Counted before the commit (the source in the snapshot the copy read): a check that fails
    // leaves nothing copied, as the command then says.
    for (const auto& table : kTables) {
      auto in_source = CountRows(**source, table.name);
      if (!in_source) return in_source.error();
      auto in_target = CountRows(**target, table.name);
      if (!in_target) return in_target.error();
      if (*in_source != *in_target)
        return MakeError(Errc::kInternal, std::string("the copy of ") + table.name + " holds " +
                                              std::to_string(*in_target) + " rows, the source " +
                                              std::to_string(*in_source));
      report.push_back({table.name, *in_target});
    }
    return {};
  });
  (*source)->Exec("COMMIT");
  if (!copied) return copied.error();
  return report;
}

}  // namespace ap::store
