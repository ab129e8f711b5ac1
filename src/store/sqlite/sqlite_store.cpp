#include "store/sqlite/sqlite_store.hpp"

#include <sqlite3.h>

#include <algorithm>
#include <unordered_map>

#include "store/sqlite/connection.hpp"
#include "store/sqlite/key_tables.hpp"
#include "store/sqlite/migrations.hpp"
#include "store/sqlite/record_tables.hpp"

namespace ap::store {
namespace {

using sqlite::Db;
using sqlite::Query;

// The columns a grant is written with, and read with (plus what its leases hold).
#define AP_GRANT_COLUMNS                                                                                  \
  "id, request_id, app_name, app_url, reason, scope_json, max_requests, status, created_at, expires_at, " \
  "approved_at, denied_at, revoked_at, usage_count, spent_micros, notes, version, request_secret_hash, "  \
  "owner_id, budget_micros, lost_micros, lost_requests, key_label, verified"
constexpr const char* kGrantColumns = AP_GRANT_COLUMNS
    ", (SELECT COALESCE(SUM(micros), 0) FROM leases WHERE leases.grant_id = grants.id)"
    ", (SELECT COALESCE(SUM(requests), 0) FROM leases WHERE leases.grant_id = grants.id)";
constexpr const char* kGrantInsert = "INSERT INTO grants (" AP_GRANT_COLUMNS
                                     ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)";
#undef AP_GRANT_COLUMNS

// A page of grants, newest first. Each variant is its own statement so that SQLite walks an index
// from the cursor on: a page costs its own rows, not the rows before it. An owner's page merges
// two index walks (their grants, and the requests no owner has decided), each at most a page long.
// Parameters: ?1 owner id, ?2 waiting since, ?3 and ?4 the cursor, ?5 the limit.
// With `before` the rows just newer than it come oldest first; ListGrantPage turns them around.
std::string GrantPageSql(const GrantQuery& query) {
  std::string keyset = query.before  ? " AND (created_at, id) > (?3, ?4)"
                       : query.after ? " AND (created_at, id) < (?3, ?4)"
                                     : "";
  std::string waiting =
      query.waiting_unverified_after ? " AND status = 'pending' AND verified = 0 AND created_at > ?2" : "";
  std::string order = query.before ? " ORDER BY created_at, id LIMIT ?5" : " ORDER BY created_at DESC, id DESC LIMIT ?5";
  if (!query.owner_id) return std::string("SELECT ") + kGrantColumns + " FROM grants WHERE 1" + waiting + keyset + order;
  std::string mine = "SELECT id FROM (SELECT id FROM grants WHERE owner_id = ?1" + waiting + keyset + order + ")";
  std::string undecided = "SELECT id FROM (SELECT id FROM grants WHERE owner_id IS NULL AND status = 'pending'" +
                          waiting + keyset + order + ")";
  return std::string("SELECT ") + kGrantColumns + " FROM grants WHERE id IN (" + mine + " UNION ALL " + undecided +
         ")" + order;
}

constexpr const char* kClientColumns =
    "id, name, home_url, logo_url, redirect_uris, confidential, secret_hash, dpop_required, created_at, self_registered";

std::string JoinLines(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& item : items) out += (out.empty() ? "" : "\n") + item;
  return out;
}

std::vector<std::string> SplitLines(const std::string& text) {
  std::vector<std::string> items;
  size_t start = 0;
  while (start <= text.size() && !text.empty()) {
    size_t nl = text.find('\n', start);
    items.push_back(text.substr(start, nl == std::string::npos ? std::string::npos : nl - start));
    if (nl == std::string::npos) break;
    start = nl + 1;
  }
  return items;
}

ClientRecord ReadClient(const Query& q) {
  return ClientRecord{q.Text(0),     q.Text(1), q.Text(2),     q.Text(3), SplitLines(q.Text(4)),
                      q.Int(5) != 0, q.Text(6), q.Int(7) != 0, q.Int(8), q.Int(9) != 0};
}

GrantRecord ReadGrant(const Query& q) {
  GrantRecord g;
  g.id = q.Text(0);
  g.request_id = q.Text(1);
  g.app_name = q.Text(2);
  g.app_url = q.Text(3);
  g.reason = q.Text(4);
  g.scope_json = q.Text(5);
  g.max_requests = q.OptInt(6);
  g.status = ParseGrantStatus(q.Text(7)).value_or(GrantStatus::kRevoked);  // unknown status: fail closed
  g.created_at = q.Int(8);
  g.expires_at = q.OptInt(9);
  g.approved_at = q.OptInt(10);
  g.denied_at = q.OptInt(11);
  g.revoked_at = q.OptInt(12);
  g.usage_count = q.Int(13);
  g.spent_micros = q.Int(14);
  g.notes = q.OptText(15);
  g.version = q.Int(16);
  g.request_secret_hash = q.Text(17);
  g.owner_id = q.OptText(18);
  g.budget_micros = q.OptInt(19);
  g.lost_micros = q.Int(20);
  g.lost_requests = q.Int(21);
  g.key_label = q.OptText(22);
  g.verified = q.Int(23) != 0;
  g.leased_micros = q.Int(24);
  g.leased_requests = q.Int(25);
  return g;
}

class SqliteStore final : public Store {
 public:
  explicit SqliteStore(Db db) : db_(std::move(db)), keys_(db_), activity_(db_), audit_(db_) {}

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

  Status CreateGrantRequest(const GrantRequestRecord& r, const GrantRecord& g) override {
    if (auto s = Exec("BEGIN IMMEDIATE"); !s) return s;
    Status done = InsertRequest(r);
    if (done) done = InsertGrant(g);
    if (!done) {
      Exec("ROLLBACK");
      return done;
    }
    return Exec("COMMIT");
  }

  Result<GrantRecord> GetGrant(std::string_view id) override {
    static const std::string sql = std::string("SELECT ") + kGrantColumns + " FROM grants WHERE id = ?";
    Query q(Prepare(sql));
    q.Bind(id);
    int rc = q.Step();
    if (rc == SQLITE_DONE) return MakeError(Errc::kNotFound, "Grant not found");
    if (rc != SQLITE_ROW) return DbError("read grant");
    return ReadGrant(q);
  }

  Result<std::vector<GrantRecord>> ListGrantPage(const GrantQuery& query) override {
    Query q(Prepare(GrantPageSql(query)));
    q.Bind(query.owner_id).Bind(query.waiting_unverified_after);
    std::optional<GrantCursor> cursor = query.before ? query.before : query.after;
    if (cursor)
      q.Bind(cursor->created_at).Bind(cursor->id);
    else
      q.Bind(std::optional<int64_t>()).Bind(std::optional<int64_t>());
    q.Bind(query.limit);
    std::vector<GrantRecord> out;
    int rc;
    while ((rc = q.Step()) == SQLITE_ROW) out.push_back(ReadGrant(q));
    if (rc != SQLITE_DONE) return DbError("list grants");
    if (query.before) std::reverse(out.begin(), out.end());
    return out;
  }

  Result<int64_t> CountWaitingUnverified(UnixSeconds made_after) override {
    Query q(Prepare("SELECT COUNT(*) FROM grants WHERE status = 'pending' AND verified = 0 AND created_at > ?"));
    q.Bind(made_after);
    if (q.Step() != SQLITE_ROW) return DbError("count waiting requests");
    return q.Int(0);
  }

  Result<std::vector<GrantRecord>> ListApprovedGrants() override {
    static const std::string sql = std::string("SELECT ") + kGrantColumns + " FROM grants WHERE status = 'approved'";
    return ReadGrants(sql);
  }

  Result<GrantRecord> UpdateGrant(const GrantRecord& g) override {
    Query q(
        Prepare("UPDATE grants SET scope_json = ?, max_requests = ?, budget_micros = ?, status = ?, expires_at = ?, "
                "approved_at = ?, denied_at = ?, revoked_at = ?, notes = ?, owner_id = ?, key_label = ?, "
                "version = version + 1 "
                "WHERE id = ? AND version = ?"));
    q.Bind(g.scope_json).Bind(g.max_requests).Bind(g.budget_micros).Bind(GrantStatusName(g.status));
    q.Bind(g.expires_at).Bind(g.approved_at).Bind(g.denied_at).Bind(g.revoked_at).Bind(g.notes).Bind(g.owner_id);
    q.Bind(g.key_label).Bind(g.id).Bind(g.version);
    if (q.Step() != SQLITE_DONE) return DbError("update grant");
    if (db_.Changes() == 0) {
      auto current = GetGrant(g.id);
      if (!current) return current.error();
      return MakeError(Errc::kBadRequest, "Grant was changed concurrently; retry");
    }
    return GetGrant(g.id);
  }

  Result<Lease> TakeLease(std::string_view grant_id, std::string_view node_id, Lease need, Lease want) override {
    return InTransaction([&] { return TakeLeaseInTransaction(grant_id, node_id, need, want); });
  }

  Status ReturnLease(std::string_view grant_id, std::string_view node_id, Lease unused) override {
    return InTransaction([&] { return ShrinkLease(grant_id, node_id, unused); });
  }

  Result<std::vector<SpendChange>> Settle(std::string_view node_id, const std::vector<UsageRecord>& rows) override {
    if (rows.empty()) return std::vector<SpendChange>{};
    return InTransaction([&] { return SettleInTransaction(node_id, rows); });
  }

  Result<int64_t> Heartbeat(std::string_view node_id, UnixSeconds now, UnixSeconds stale_before) override {
    return InTransaction([&] { return HeartbeatInTransaction(node_id, now, stale_before); });
  }

  Status RetireNode(std::string_view node_id, UnixSeconds now) override {
    return InTransaction([&]() -> Status {
      if (auto lost = LoseLeasesOf(node_id, now); !lost) return lost.error();
      Query node(Prepare("DELETE FROM nodes WHERE id = ?"));
      node.Bind(node_id);
      if (node.Step() != SQLITE_DONE) return DbError("retire node");
      return {};
    });
  }

  Status AddEvent(const EventRecord& e) override {
    Query q(Prepare("INSERT INTO events (grant_id, at, kind, detail) VALUES (?, ?, ?, ?)"));
    q.Bind(e.grant_id).Bind(e.at).Bind(e.kind).Bind(e.detail);
    if (q.Step() != SQLITE_DONE) return DbError("record event");
    return {};
  }

  Result<std::vector<EventRecord>> ListEvents(std::string_view grant_id, int64_t after_id, int64_t limit) override {
    Query q(Prepare("SELECT grant_id, at, kind, detail, id FROM events WHERE grant_id = ? AND id > ? ORDER BY id LIMIT ?"));
    q.Bind(grant_id).Bind(after_id).Bind(limit);
    std::vector<EventRecord> out;
    int rc;
    while ((rc = q.Step()) == SQLITE_ROW)
      out.push_back(EventRecord{q.Text(0), q.Int(1), q.Text(2), q.Text(3), q.Int(4)});
    if (rc != SQLITE_DONE) return DbError("list events");
    return out;
  }

  Result<std::vector<EventRecord>> ListRecentEvents(std::string_view grant_id, std::optional<int64_t> before_id,
                                                    int64_t limit) override {
    Query q(Prepare("SELECT grant_id, at, kind, detail, id FROM events WHERE grant_id = ?1 AND (?2 IS NULL OR id < ?2) "
                    "ORDER BY id DESC LIMIT ?3"));
    q.Bind(grant_id).Bind(before_id).Bind(limit);
    std::vector<EventRecord> out;
    int rc;
    while ((rc = q.Step()) == SQLITE_ROW)
      out.push_back(EventRecord{q.Text(0), q.Int(1), q.Text(2), q.Text(3), q.Int(4)});
    if (rc != SQLITE_DONE) return DbError("list events");
    return out;
  }

  Result<OwnerRecord> OneOwner(const std::string& sql, std::string_view key) {
    Query q(Prepare(sql));
    q.Bind(key);
    int rc = q.Step();
    if (rc == SQLITE_DONE) return MakeError(Errc::kNotFound, "No such owner");
    if (rc != SQLITE_ROW) return DbError("read owner");
    return OwnerRecord{q.Text(0), q.Text(1), q.Text(2), q.Int(3)};
  }

  Status AddUsageRow(const UsageRecord& u) {
    Query q(
        Prepare("INSERT INTO usage (grant_id, day, model, requests, input_tokens, cached_input_tokens, output_tokens, "
                "audio_milliseconds, cost_micros) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (grant_id, day, model) DO UPDATE SET "
                "requests = requests + excluded.requests, input_tokens = input_tokens + excluded.input_tokens, "
                "cached_input_tokens = cached_input_tokens + excluded.cached_input_tokens, "
                "output_tokens = output_tokens + excluded.output_tokens, "
                "audio_milliseconds = audio_milliseconds + excluded.audio_milliseconds, "
                "cost_micros = cost_micros + excluded.cost_micros"));
    q.Bind(u.grant_id).Bind(u.day).Bind(u.model).Bind(u.requests).Bind(u.input_tokens).Bind(u.cached_input_tokens);
    q.Bind(u.output_tokens).Bind(u.audio_milliseconds).Bind(u.cost_micros);
    if (q.Step() != SQLITE_DONE) return DbError("record usage");
    return {};
  }

  Result<std::vector<UsageRecord>> ListUsage(std::string_view grant_id, const std::optional<UsageRecord>& after,
                                             int64_t limit) override {
    Query q(
        Prepare("SELECT day, model, requests, input_tokens, cached_input_tokens, output_tokens, audio_milliseconds, "
                "cost_micros FROM usage WHERE grant_id = ?1 AND (?2 IS NULL OR (day, model) > (?2, ?3)) "
                "ORDER BY day, model LIMIT ?4"));
    q.Bind(grant_id);
    if (after)
      q.Bind(after->day).Bind(after->model);
    else
      q.Bind(std::optional<std::string>()).Bind(std::optional<std::string>());
    q.Bind(limit);
    std::vector<UsageRecord> rows;
    int rc;
    while ((rc = q.Step()) == SQLITE_ROW)
      rows.push_back(UsageRecord{std::string(grant_id), q.Text(0), q.Text(1), q.Int(2), q.Int(3), q.Int(4), q.Int(5),
                                 q.Int(6), q.Int(7)});
    if (rc != SQLITE_DONE) return DbError("list usage");
    return rows;
  }

  Result<std::vector<UsageRecord>> ListUsageFrom(std::string_view grant_id, std::string_view from_day,
                                                 int64_t limit) override {
    Query q(
        Prepare("SELECT day, model, requests, input_tokens, cached_input_tokens, output_tokens, audio_milliseconds, "
                "cost_micros FROM usage WHERE grant_id = ? AND day >= ? ORDER BY day, model LIMIT ?"));
    q.Bind(grant_id).Bind(from_day).Bind(limit);
    std::vector<UsageRecord> rows;
    int rc;
    while ((rc = q.Step()) == SQLITE_ROW)
      rows.push_back(UsageRecord{std::string(grant_id), q.Text(0), q.Text(1), q.Int(2), q.Int(3), q.Int(4), q.Int(5),
                                 q.Int(6), q.Int(7)});
    if (rc != SQLITE_DONE) return DbError("list usage");
    return rows;
  }

  Result<UsageRecord> TotalUsage(std::string_view grant_id) override {
    Query q(
        Prepare("SELECT COALESCE(SUM(requests), 0), COALESCE(SUM(input_tokens), 0), "
                "COALESCE(SUM(cached_input_tokens), 0), COALESCE(SUM(output_tokens), 0), "
                "COALESCE(SUM(audio_milliseconds), 0), COALESCE(SUM(cost_micros), 0) FROM usage WHERE grant_id = ?"));
    q.Bind(grant_id);
    if (q.Step() != SQLITE_ROW) return DbError("total usage");
    return UsageRecord{std::string(grant_id), "", "", q.Int(0), q.Int(1), q.Int(2), q.Int(3), q.Int(4), q.Int(5)};
  }

  Status CreateOwner(const OwnerRecord& o) override {
    Query q(Prepare("INSERT INTO owners (id, username, password_hash, created_at) VALUES (?, ?, ?, ?)"));
    q.Bind(o.id).Bind(o.username).Bind(o.password_hash).Bind(o.created_at);
    int rc = q.Step();
    if (rc == SQLITE_CONSTRAINT) return MakeError(Errc::kBadRequest, "Owner '" + o.username + "' already exists");
    if (rc != SQLITE_DONE) return DbError("create owner");
    return {};
  }

  Result<OwnerRecord> GetOwnerByName(std::string_view username) override {
    return OneOwner("SELECT id, username, password_hash, created_at FROM owners WHERE username = ?", username);
  }

  Result<OwnerRecord> GetOwner(std::string_view id) override {
    return OneOwner("SELECT id, username, password_hash, created_at FROM owners WHERE id = ?", id);
  }

  Result<std::vector<OwnerRecord>> ListOwners() override {
    Query q(Prepare("SELECT id, username, password_hash, created_at FROM owners ORDER BY username"));
    std::vector<OwnerRecord> owners;
    int rc;
    while ((rc = q.Step()) == SQLITE_ROW) owners.push_back(OwnerRecord{q.Text(0), q.Text(1), q.Text(2), q.Int(3)});
    if (rc != SQLITE_DONE) return DbError("list owners");
    return owners;
  }

  Status AdoptOwnerlessGrants(std::string_view owner_id) override {
    Query q(Prepare("UPDATE grants SET owner_id = ? WHERE owner_id IS NULL AND status <> 'pending'"));
    q.Bind(owner_id);
    if (q.Step() != SQLITE_DONE) return DbError("adopt grants");
    return {};
  }

  Status SetOwnerPassword(std::string_view username, std::string_view password_hash) override {
    auto owner = GetOwnerByName(username);
    if (!owner) return owner.error();
    if (auto s = Exec("BEGIN IMMEDIATE"); !s) return s;
    Query set(Prepare("UPDATE owners SET password_hash = ? WHERE id = ?"));
    set.Bind(password_hash).Bind(owner->id);
    Query end(Prepare("DELETE FROM sessions WHERE owner_id = ?"));
    end.Bind(owner->id);
    if (set.Step() != SQLITE_DONE || end.Step() != SQLITE_DONE) {
      Exec("ROLLBACK");
      return DbError("set password");
    }
    return Exec("COMMIT");
  }

  Status DeleteOwner(std::string_view username) override {
    auto owner = GetOwnerByName(username);
    if (!owner) return owner.error();
    if (auto s = Exec("BEGIN IMMEDIATE"); !s) return s;
    Query end(Prepare("DELETE FROM sessions WHERE owner_id = ?"));
    end.Bind(owner->id);
    Query del(Prepare("DELETE FROM owners WHERE id = ?"));
    del.Bind(owner->id);
    if (end.Step() != SQLITE_DONE || del.Step() != SQLITE_DONE) {
      Exec("ROLLBACK");
      return DbError("remove owner");
    }
    return Exec("COMMIT");
  }

  Status CreateSession(const SessionRecord& s) override {
    Query q(Prepare(
        "INSERT INTO sessions (id_hash, owner_id, csrf_token, created_at, last_seen_at) VALUES (?, ?, ?, ?, ?)"));
    q.Bind(s.id_hash).Bind(s.owner_id).Bind(s.csrf_token).Bind(s.created_at).Bind(s.last_seen_at);
    if (q.Step() != SQLITE_DONE) return DbError("create session");
    return {};
  }

  Result<SessionRecord> GetSession(std::string_view id_hash) override {
    Query q(Prepare("SELECT id_hash, owner_id, csrf_token, created_at, last_seen_at FROM sessions WHERE id_hash = ?"));
    q.Bind(id_hash);
    int rc = q.Step();
    if (rc == SQLITE_DONE) return MakeError(Errc::kNotFound, "No such session");
    if (rc != SQLITE_ROW) return DbError("read session");
    return SessionRecord{q.Text(0), q.Text(1), q.Text(2), q.Int(3), q.Int(4)};
  }

  Status TouchSession(std::string_view id_hash, UnixSeconds now) override {
    Query q(Prepare("UPDATE sessions SET last_seen_at = ? WHERE id_hash = ?"));
    q.Bind(now).Bind(id_hash);
    if (q.Step() != SQLITE_DONE) return DbError("touch session");
    return {};
  }

  Status DeleteSession(std::string_view id_hash) override {
    Query q(Prepare("DELETE FROM sessions WHERE id_hash = ?"));
    q.Bind(id_hash);
    if (q.Step() != SQLITE_DONE) return DbError("end session");
    return {};
  }

  Status CreateClient(const ClientRecord& c) override {
    Query q(Prepare(
        "INSERT INTO clients (id, name, home_url, logo_url, redirect_uris, confidential, secret_hash, dpop_required, "
        "created_at, self_registered) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"));
    q.Bind(c.id).Bind(c.name).Bind(c.home_url).Bind(c.logo_url).Bind(JoinLines(c.redirect_uris));
    q.Bind(int64_t{c.confidential}).Bind(c.secret_hash).Bind(int64_t{c.dpop_required}).Bind(c.created_at);
    q.Bind(int64_t{c.self_registered});
    int rc = q.Step();
    if (rc == SQLITE_CONSTRAINT) return MakeError(Errc::kBadRequest, "Client '" + c.id + "' already exists");
    if (rc != SQLITE_DONE) return DbError("create client");
    return {};
  }

  Result<ClientRecord> GetClient(std::string_view id) override {
    Query q(Prepare(std::string("SELECT ") + kClientColumns + " FROM clients WHERE id = ?"));
    q.Bind(id);
    int rc = q.Step();
    if (rc == SQLITE_DONE) return MakeError(Errc::kNotFound, "No such client");
    if (rc != SQLITE_ROW) return DbError("read client");
    return ReadClient(q);
  }

  Result<std::vector<ClientRecord>> ListClients() override {
    Query q(Prepare(std::string("SELECT ") + kClientColumns + " FROM clients ORDER BY created_at, id"));
    std::vector<ClientRecord> clients;
    int rc;
    while ((rc = q.Step()) == SQLITE_ROW) clients.push_back(ReadClient(q));
    if (rc != SQLITE_DONE) return DbError("list clients");
    return clients;
  }

  Result<int64_t> CountSelfRegisteredClients() override {
    Query q(Prepare("SELECT COUNT(*) FROM clients WHERE self_registered = 1"));
    if (q.Step() != SQLITE_ROW) return DbError("count clients");
    return q.Int(0);
  }

  Status DeleteClient(std::string_view id) override {
    Query q(Prepare("DELETE FROM clients WHERE id = ? RETURNING id"));
    q.Bind(id);
    int rc = q.Step();
    if (rc == SQLITE_DONE) return MakeError(Errc::kNotFound, "No such client");
    if (rc != SQLITE_ROW || q.Step() != SQLITE_DONE) return DbError("remove client");
    return {};
  }

  Status UpdateClient(const ClientRecord& c) override {
    Query q(Prepare("UPDATE clients SET name = ?, home_url = ?, logo_url = ?, redirect_uris = ? WHERE id = ? RETURNING id"));
    q.Bind(c.name).Bind(c.home_url).Bind(c.logo_url).Bind(JoinLines(c.redirect_uris)).Bind(c.id);
    int rc = q.Step();
    if (rc == SQLITE_DONE) return MakeError(Errc::kNotFound, "No such client");
    if (rc != SQLITE_ROW || q.Step() != SQLITE_DONE) return DbError("update client");
    return {};
  }

  Status CreateAuthorizationCode(const AuthorizationCodeRecord& c) override {
    Query q(Prepare(
        "INSERT INTO authorization_codes (code_hash, client_id, redirect_uri, code_challenge, grant_id, expires_at) "
        "VALUES (?, ?, ?, ?, ?, ?)"));
    q.Bind(c.code_hash).Bind(c.client_id).Bind(c.redirect_uri).Bind(c.code_challenge).Bind(c.grant_id);
    q.Bind(c.expires_at);
    if (q.Step() != SQLITE_DONE) return DbError("store authorization code");
    return {};
  }

  Result<Redeemed> RedeemAuthorizationCode(std::string_view code_hash, UnixSeconds now) override {
    Query take(
        Prepare("UPDATE authorization_codes SET used_at = ? WHERE code_hash = ? AND used_at IS NULL "
                "RETURNING code_hash, client_id, redirect_uri, code_challenge, grant_id, expires_at"));
    take.Bind(now).Bind(code_hash);
    int rc = take.Step();
    if (rc == SQLITE_ROW) {
      AuthorizationCodeRecord code{take.Text(0), take.Text(1), take.Text(2), take.Text(3), take.Text(4), take.Int(5)};
      if (take.Step() != SQLITE_DONE) return DbError("redeem code");
      return Redeemed{std::move(code), std::nullopt};
    }
    if (rc != SQLITE_DONE) return DbError("redeem code");
    Query used(Prepare("SELECT grant_id FROM authorization_codes WHERE code_hash = ?"));
    used.Bind(code_hash);
    rc = used.Step();
    if (rc == SQLITE_DONE) return MakeError(Errc::kNotFound, "No such code");
    if (rc != SQLITE_ROW) return DbError("redeem code");
    return Redeemed{std::nullopt, used.Text(0)};
  }

  Status CreateRefreshToken(const RefreshTokenRecord& t) override {
    Query q(Prepare(
        "INSERT INTO refresh_tokens (token_hash, family_id, grant_id, client_id, created_at, jkt) "
        "VALUES (?, ?, ?, ?, ?, ?)"));
    q.Bind(t.token_hash).Bind(t.family_id).Bind(t.grant_id).Bind(t.client_id).Bind(t.created_at).Bind(t.jkt);
    if (q.Step() != SQLITE_DONE) return DbError("store refresh token");
    return {};
  }

  Result<RefreshUse> UseRefreshToken(std::string_view token_hash, UnixSeconds now) override {
    Query take(
        Prepare("UPDATE refresh_tokens SET used_at = ? WHERE token_hash = ? AND used_at IS NULL AND revoked_at IS NULL "
                "RETURNING token_hash, family_id, grant_id, client_id, created_at, jkt"));
    take.Bind(now).Bind(token_hash);
    int rc = take.Step();
    if (rc == SQLITE_ROW) {
      RefreshTokenRecord t{take.Text(0), take.Text(1), take.Text(2), take.Text(3), take.Int(4), take.Text(5)};
      if (take.Step() != SQLITE_DONE) return DbError("use refresh token");
      return RefreshUse{std::move(t), std::nullopt};
    }
    if (rc != SQLITE_DONE) return DbError("use refresh token");
    auto existing = GetRefreshToken(token_hash);
    if (!existing) return existing.error();
    return RefreshUse{std::nullopt, std::move(*existing)};
  }

  Result<RefreshTokenRecord> GetRefreshToken(std::string_view token_hash) override {
    Query q(Prepare(
        "SELECT token_hash, family_id, grant_id, client_id, created_at, jkt FROM refresh_tokens WHERE token_hash = ?"));
    q.Bind(token_hash);
    int rc = q.Step();
    if (rc == SQLITE_DONE) return MakeError(Errc::kNotFound, "No such refresh token");
    if (rc != SQLITE_ROW) return DbError("read refresh token");
    return RefreshTokenRecord{q.Text(0), q.Text(1), q.Text(2), q.Text(3), q.Int(4), q.Text(5)};
  }

  Result<std::vector<RefreshFamilyRecord>> ListRefreshFamilies(std::string_view grant_id, int64_t limit) override {
    Query q(Prepare("SELECT family_id, MIN(client_id), MIN(created_at), MAX(used_at), MAX(revoked_at), COUNT(*) "
                    "FROM refresh_tokens WHERE grant_id = ? GROUP BY family_id ORDER BY MIN(created_at) DESC, "
                    "family_id LIMIT ?"));
    q.Bind(grant_id).Bind(limit);
    std::vector<RefreshFamilyRecord> out;
    int rc;
    while ((rc = q.Step()) == SQLITE_ROW)
      out.push_back(RefreshFamilyRecord{q.Text(0), q.Text(1), q.Int(2), q.OptInt(3), q.OptInt(4), q.Int(5)});
    if (rc != SQLITE_DONE) return DbError("list refresh families");
    return out;
  }

  Status RevokeRefreshFamily(std::string_view family_id, UnixSeconds now) override {
    Query q(Prepare("UPDATE refresh_tokens SET revoked_at = ? WHERE family_id = ? AND revoked_at IS NULL"));
    q.Bind(now).Bind(family_id);
    if (q.Step() != SQLITE_DONE) return DbError("revoke refresh tokens");
    return {};
  }

  Result<std::optional<std::string>> GetSetting(std::string_view key) override {
    Query q(Prepare("SELECT value FROM settings WHERE key = ?"));
    q.Bind(key);
    int rc = q.Step();
    if (rc == SQLITE_DONE) return std::optional<std::string>();
    if (rc != SQLITE_ROW) return DbError("read setting");
    return std::optional<std::string>(q.Text(0));
  }

  Status PutSetting(std::string_view key, std::string_view value) override {
    Query q(Prepare(
        "INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value"));
    q.Bind(key).Bind(value);
    if (q.Step() != SQLITE_DONE) return DbError("write setting");
    return {};
  }

 private:
  template <class Body>
  auto InTransaction(Body body) -> decltype(body()) {
    return db_.InTransaction(std::move(body));
  }

  Result<Lease> TakeLeaseInTransaction(std::string_view grant_id, std::string_view node_id, Lease need, Lease want) {
    auto grant = GetGrant(grant_id);
    if (!grant) return grant.error();
    if (grant->status != GrantStatus::kApproved)
      return MakeError(Errc::kUnauthorized, "Grant status is '" + std::string(GrantStatusName(grant->status)) + "'");
    Lease granted;
    if (grant->max_requests) {
      int64_t left = *grant->max_requests - grant->usage_count - grant->lost_requests - grant->leased_requests;
      if (left < need.requests)
        return MakeError(Errc::kLimitReached, "Usage cap exceeded (" +
                                                  std::to_string(*grant->max_requests - std::max<int64_t>(left, 0)) +
                                                  " of " + std::to_string(*grant->max_requests) + " requests used)");
      granted.requests = std::min(std::max(want.requests, need.requests), left);
    }
    if (grant->budget_micros) {
      int64_t left = *grant->budget_micros - grant->spent_micros - grant->lost_micros - grant->leased_micros;
      if (left < need.micros) return MakeError(Errc::kBudgetExceeded, "Budget exceeded");
      granted.micros = std::min(std::max(want.micros, need.micros), left);
    }
    if (granted.micros == 0 && granted.requests == 0) return granted;
    Query q(Prepare(
        "INSERT INTO leases (grant_id, node_id, micros, requests) VALUES (?, ?, ?, ?) ON CONFLICT (grant_id, node_id) "
        "DO UPDATE SET micros = micros + excluded.micros, requests = requests + excluded.requests"));
    q.Bind(grant_id).Bind(node_id).Bind(granted.micros).Bind(granted.requests);
    if (q.Step() != SQLITE_DONE) return DbError("take lease");
    return granted;
  }

  // Takes `part` out of the node's lease (never below zero) and drops the lease when it is empty.
  Status ShrinkLease(std::string_view grant_id, std::string_view node_id, Lease part) {
    Query shrink(
        Prepare("UPDATE leases SET micros = MAX(micros - ?, 0), requests = MAX(requests - ?, 0) "
                "WHERE grant_id = ? AND node_id = ?"));
    shrink.Bind(part.micros).Bind(part.requests).Bind(grant_id).Bind(node_id);
    if (shrink.Step() != SQLITE_DONE) return DbError("shrink lease");
    Query drop(Prepare("DELETE FROM leases WHERE grant_id = ? AND node_id = ? AND micros = 0 AND requests = 0"));
    drop.Bind(grant_id).Bind(node_id);
    if (drop.Step() != SQLITE_DONE) return DbError("drop lease");
    return {};
  }

  Result<std::vector<SpendChange>> SettleInTransaction(std::string_view node_id, const std::vector<UsageRecord>& rows) {
    std::unordered_map<std::string, Lease> by_grant;
    for (const auto& row : rows) {
      if (auto added = AddUsageRow(row); !added) return added.error();
      Lease& sum = by_grant[row.grant_id];
      sum.micros += row.cost_micros;
      sum.requests += row.requests;
    }
    std::vector<SpendChange> changes;
    for (const auto& [grant_id, settled] : by_grant) {
      if (auto shrunk = ShrinkLease(grant_id, node_id, settled); !shrunk) return shrunk.error();
      Query q(
          Prepare("UPDATE grants SET spent_micros = spent_micros + ?, usage_count = usage_count + ? WHERE id = ? "
                  "RETURNING spent_micros, budget_micros"));
      q.Bind(settled.micros).Bind(settled.requests).Bind(grant_id);
      int rc = q.Step();
      if (rc == SQLITE_DONE) continue;  // the grant is gone
      if (rc != SQLITE_ROW) return DbError("settle");
      changes.push_back(SpendChange{grant_id, q.Int(0) - settled.micros, q.Int(0), q.OptInt(1)});
      if (q.Step() != SQLITE_DONE) return DbError("settle");
    }
    return changes;
  }

  // Counts what `node_id` still leases as lost, with an event per grant, and drops its leases.
  Result<int64_t> LoseLeasesOf(std::string_view node_id, UnixSeconds now) {
    std::vector<std::pair<std::string, Lease>> held;
    Query q(Prepare("SELECT grant_id, micros, requests FROM leases WHERE node_id = ?"));
    q.Bind(node_id);
    int rc;
    while ((rc = q.Step()) == SQLITE_ROW) held.push_back({q.Text(0), Lease{q.Int(1), q.Int(2)}});
    if (rc != SQLITE_DONE) return DbError("find lost leases");
    for (const auto& [grant_id, lease] : held) {
      Query lose(
          Prepare("UPDATE grants SET lost_micros = lost_micros + ?, lost_requests = lost_requests + ? WHERE id = ?"));
      lose.Bind(lease.micros).Bind(lease.requests).Bind(grant_id);
      if (lose.Step() != SQLITE_DONE) return DbError("count lost lease");
      std::string detail = "{\"node\":\"" + std::string(node_id) + "\",\"micros\":" + std::to_string(lease.micros) +
                           ",\"requests\":" + std::to_string(lease.requests) + "}";
      if (auto added = AddEvent(EventRecord{grant_id, now, "lease_lost", std::move(detail)}); !added)
        return added.error();
    }
    Query drop(Prepare("DELETE FROM leases WHERE node_id = ?"));
    drop.Bind(node_id);
    if (drop.Step() != SQLITE_DONE) return DbError("drop lost leases");
    return static_cast<int64_t>(held.size());
  }

  Result<int64_t> HeartbeatInTransaction(std::string_view node_id, UnixSeconds now, UnixSeconds stale_before) {
    Query seen(Prepare("INSERT INTO nodes (id, seen_at) VALUES (?, ?) ON CONFLICT (id) DO UPDATE SET seen_at = ?"));
    seen.Bind(node_id).Bind(now).Bind(now);
    if (seen.Step() != SQLITE_DONE) return DbError("heartbeat");
    std::vector<std::string> gone;
    Query q(
        Prepare("SELECT DISTINCT l.node_id FROM leases l WHERE l.node_id <> ? "
                "AND NOT EXISTS (SELECT 1 FROM nodes n WHERE n.id = l.node_id AND n.seen_at >= ?)"));
    q.Bind(node_id).Bind(stale_before);
    int rc;
    while ((rc = q.Step()) == SQLITE_ROW) gone.push_back(q.Text(0));
    if (rc != SQLITE_DONE) return DbError("find vanished nodes");
    int64_t lost = 0;
    for (const auto& node : gone) {
      auto n = LoseLeasesOf(node, now);
      if (!n) return n.error();
      lost += *n;
    }
    Query forget(Prepare("DELETE FROM nodes WHERE seen_at < ?"));
    forget.Bind(stale_before);
    if (forget.Step() != SQLITE_DONE) return DbError("forget nodes");
    return lost;
  }

  Status InsertRequest(const GrantRequestRecord& r) {
    Query q(
        Prepare("INSERT INTO grant_requests (id, app_name, app_url, scope_json, reason, created_at) VALUES (?, ?, ?, "
                "?, ?, ?)"));
    q.Bind(r.id).Bind(r.app_name).Bind(r.app_url).Bind(r.scope_json).Bind(r.reason).Bind(r.created_at);
    if (q.Step() != SQLITE_DONE) return DbError("insert grant request");
    return {};
  }

  Status InsertGrant(const GrantRecord& g) {
    Query q(Prepare(kGrantInsert));
    q.Bind(g.id).Bind(g.request_id).Bind(g.app_name).Bind(g.app_url).Bind(g.reason).Bind(g.scope_json);
    q.Bind(g.max_requests).Bind(GrantStatusName(g.status)).Bind(g.created_at).Bind(g.expires_at).Bind(g.approved_at);
    q.Bind(g.denied_at).Bind(g.revoked_at).Bind(g.usage_count).Bind(g.spent_micros).Bind(g.notes);
    q.Bind(g.version).Bind(g.request_secret_hash).Bind(g.owner_id).Bind(g.budget_micros).Bind(g.lost_micros);
    q.Bind(g.lost_requests).Bind(g.key_label).Bind(int64_t{g.verified});
    if (q.Step() != SQLITE_DONE) return DbError("insert grant");
    return {};
  }

  Result<std::vector<GrantRecord>> ReadGrants(const std::string& sql) {
    Query q(Prepare(sql));
    std::vector<GrantRecord> out;
    int rc;
    while ((rc = q.Step()) == SQLITE_ROW) out.push_back(ReadGrant(q));
    if (rc != SQLITE_DONE) return DbError("list grants");
    return out;
  }

  sqlite3_stmt* Prepare(const std::string& sql) { return db_.Prepare(sql); }
  Status Exec(const char* sql) { return db_.Exec(sql); }
  Error DbError(const char* what) { return db_.DbError(what); }

  sqlite::Connection db_;
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
